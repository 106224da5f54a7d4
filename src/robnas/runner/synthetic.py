"""The ``synthetic`` job kind: fast, deterministic, controllable jobs for tests and benchmarks.

Settings (``synthetic:`` in the build config, all optional):

``sleep``
    seconds to sleep per job (simulates waiting work);
``work``
    iterations of a CPU-bound pure-Python loop per job (simulates compute);
``log``
    a file to which every execution appends ``"<job key>\\n"`` when it starts (counts executions);
``fail``, ``crash``, ``diverge``, ``oom``
    lists of uids whose jobs raise an error, kill their worker process (``os._exit``), or fail
    with a divergence / out-of-memory error;
``flaky``
    uids whose jobs fail on their first execution only (needs ``log``). The failure is written
    to the log (``"<job key> flaky-failed"``) just before it is raised, so an execution killed
    before it got there (its worker died with a crashing neighbour, under load) does not count as
    the first one: the outcome does not depend on timing.

Metrics are the configured clean/attack/corruption names on the configured dataset plus
``<dataset>/params`` and ``<dataset>/flops``; values are a deterministic function of uid, seed and metric.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

from robnas.runner.jobs import Job, JobFailure
from robnas.units import format_epsilon


def metric_names(spec: dict[str, Any] | Any) -> list[str]:
    """The metric names a train-attack style job reports for a configuration's protocol fields."""
    ds = spec["dataset"]
    names = [f"{ds}/clean"]
    from robnas.runner.config import attack_plans

    for plan in attack_plans(spec.get("attacks", {})):
        names += [f"{ds}/{plan.metric(plan.name, e)}" for e in plan.eps]
    for corr, sevs in spec.get("corruptions", {}).items():
        names += [f"{ds}/{corr}#{s}" for s in sevs]
    return names


_eps = format_epsilon


def _value(*parts: Any) -> float:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") / 2**32


def burn(iterations: int) -> int:
    """A fixed amount of CPU-bound work (pure Python, holds the GIL: one core per process)."""
    acc = 0
    for i in range(iterations):
        acc = (acc * 1103515245 + i) & 0x7FFFFFFF
    return acc


def run(job: Job, device: str) -> dict[str, float]:
    """Run one synthetic job."""
    cfg = dict(job.spec.get("synthetic") or {})
    log = cfg.get("log")
    flaky_failed = 0
    if log:
        try:
            with open(log, encoding="utf-8") as fh:
                flaky_failed = sum(1 for line in fh if line.strip() == f"{job.key} flaky-failed")
        except FileNotFoundError:
            flaky_failed = 0
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(job.key + "\n")
    if cfg.get("work"):
        burn(int(cfg["work"]))
    if cfg.get("sleep"):
        time.sleep(float(cfg["sleep"]))
    if job.uid in cfg.get("crash", ()):
        os._exit(3)
    if job.uid in cfg.get("fail", ()):
        raise RuntimeError(f"synthetic failure of architecture {job.uid}")
    if job.uid in cfg.get("diverge", ()):
        raise JobFailure("divergence", f"training loss became nan at epoch 1 (architecture {job.uid})")
    if job.uid in cfg.get("oom", ()):
        raise MemoryError(f"synthetic out of memory (architecture {job.uid})")
    if job.uid in cfg.get("flaky", ()) and flaky_failed == 0:
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"{job.key} flaky-failed\n")
        raise RuntimeError(f"synthetic transient failure of architecture {job.uid}")
    out = {m: _value(job.uid, job.seed, m) for m in metric_names(job.spec)}
    out[f"{job.dataset}/params"] = float(1000 + job.uid)
    out[f"{job.dataset}/flops"] = float(10_000 + 7 * job.uid)
    return out
