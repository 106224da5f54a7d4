"""Jobs: one architecture and one seed under one protocol, run by a registered job kind.

A **job kind** is a function ``run(job: Job, device: str) -> dict[str, float]`` that returns metric
values named as in the benchmarks (``digits/clean``, ``digits/pgd@8``, ``digits/fog#3``,
``params``, ...), plus an optional ``check(config)`` that the driver calls once before a build
to refuse a configuration the kind cannot run (with a message for people). Kinds are looked up
by name in :data:`JOB_KINDS` (``"name" -> "module:function"``), so worker processes and Ray
workers can import them by path. Built in: ``train-attack`` (train with a preset, attack,
corrupt, measure), ``measure`` (measures at initialisation) and ``synthetic``
(fast, controllable jobs for tests and benchmarks).

:func:`execute` runs one job in a worker: it never raises, it returns a :class:`JobOutcome`
with the metrics or the failure classified as ``divergence``, ``out-of-memory``, ``bad-data`` or
``other`` and its message.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import robnas
from robnas.environment import environment
from robnas.errors import ConfigError, DataError, RobnasError
from robnas.registry import Registry

JOB_KINDS: Registry[Callable[..., dict[str, float]]] = Registry(
    "job kind",
    builtin={
        "train-attack": "robnas.runner.train_attack:run",
        "synthetic": "robnas.runner.synthetic:run",
        "measure": "robnas.runner.measure_job:run",
    },
)
"""Job kind name -> run function, declared as ``"module:function"`` so that worker processes and
Ray workers import it by path (``check`` lives beside it)."""


def register_job_kind(name: str, target: str | Callable[..., Any]) -> None:
    """Make a job kind available by name (``target`` is ``"module:function"`` or a module-level function)."""
    if callable(target):
        target = f"{target.__module__}:{target.__qualname__}"
    if not isinstance(target, str) or ":" not in target:
        raise ConfigError(f"a job kind target is 'module:function', got {target!r}")
    JOB_KINDS.declare(name, target)


def job_kinds() -> list[str]:
    """Names of the registered job kinds (imports none of them)."""
    return JOB_KINDS.names()


def kind_function(kind: str) -> Callable[[Job, str], dict[str, float]]:
    return JOB_KINDS.get(kind)


def check_kind(kind: str, config: Any) -> None:
    """Call the kind's ``check(config)`` if it has one (raises a :class:`RobnasError` to refuse)."""
    fn = JOB_KINDS.get(kind)
    check = getattr(sys.modules.get(fn.__module__), "check", None)
    if check is not None:
        check(config)


class JobFailure(RobnasError):
    """Raised by a job function to fail with a known reason (see :data:`robnas.store.FAILURE_REASONS`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Job:
    """One unit of work: architecture ``uid`` trained with ``seed`` under ``protocol``.

    ``spec`` holds the protocol fields of the configuration (plus ``root`` and ``device``) so the
    job is self-contained and picklable.
    """

    key: str
    uid: int
    arch: str
    seed: int
    dataset: str
    protocol: str
    config_hash: str
    kind: str
    spec: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


def job_key(dataset: str, protocol: str, uid: int, seed: int) -> str:
    """The key of a job in the store: ``dataset/protocol/uid/seed``."""
    return f"{dataset}/{protocol}/{uid}/{seed}"


@dataclass
class JobOutcome:
    """What came back from one execution of a job."""

    key: str
    ok: bool
    metrics: dict[str, float]
    started: float
    finished: float
    device: str
    host: str
    torch_version: str
    robnas_version: str
    reason: str | None = None
    message: str | None = None
    pid: int = 0
    suspect: bool = False
    """The worker died while several jobs were in flight: this one may be innocent."""
    environment: dict[str, Any] = field(default_factory=dict)
    """Library versions, CPU and threads of the worker (:func:`robnas.environment.environment`)."""


def torch_version() -> str:
    """The installed torch version, read without importing torch when it is not loaded yet."""
    mod = sys.modules.get("torch")
    if mod is not None:
        return str(mod.__version__)
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "none"


def classify(exc: BaseException) -> tuple[str, str]:
    """``(reason, message)`` of a job's exception: divergence, out-of-memory, bad-data or other."""
    if isinstance(exc, JobFailure):
        return exc.reason, str(exc)
    name = type(exc).__name__
    text = str(exc).strip() or name
    low = text.lower()
    if isinstance(exc, MemoryError) or "outofmemory" in name.lower() or "out of memory" in low:
        return "out-of-memory", f"{name}: {text}"
    if "diverg" in name.lower() or "diverg" in low or "non-finite loss" in low or "loss is nan" in low:
        return "divergence", text
    if isinstance(exc, DataError | FileNotFoundError | EOFError | UnicodeDecodeError):
        return "bad-data", text
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
    return "other", f"{name}: {text}{where}"


_THREADS_SET = False


def limit_threads() -> None:
    """One compute thread per worker (several workers share the machine's cores)."""
    global _THREADS_SET
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    torch = sys.modules.get("torch")
    if torch is not None and not _THREADS_SET:
        torch.set_num_threads(1)
        _THREADS_SET = True


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``."""
    if requested != "auto":
        return requested
    torch = sys.modules.get("torch")
    if torch is None:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def lost_outcome(job: Job, message: str, suspect: bool) -> JobOutcome:
    """The outcome of a job whose worker process died before reporting."""
    now = time.time()
    return JobOutcome(
        key=job.key,
        ok=False,
        metrics={},
        started=now,
        finished=now,
        device="unknown",
        host=socket.gethostname(),
        torch_version=torch_version(),
        robnas_version=robnas.__version__,
        reason="other",
        message=message,
        suspect=suspect,
    )


def execute(job: Job) -> JobOutcome:
    """Run one job and report its metrics or its failure (never raises, except on interpreter exit)."""
    limit_threads()
    device = "cpu"
    import_error: Exception | None = None
    try:
        fn = kind_function(job.kind)  # importing the kind's module is not part of the job's time
    except Exception as exc:  # noqa: BLE001 - reported as the job's failure below
        import_error = exc
    limit_threads()  # the kind's module may just have imported torch
    started = time.time()
    try:
        if import_error is not None:
            raise import_error
        device = resolve_device(str(job.spec.get("device", "auto")))
        metrics = fn(job, device)
        bad = [k for k, v in metrics.items() if not isinstance(k, str) or not isinstance(v, int | float)]
        if bad:
            raise TypeError(f"job kind {job.kind!r} returned non-numeric metrics {bad[:3]}")
        ok, reason, message = True, None, None
        values = {k: float(v) for k, v in metrics.items()}
        if not values:
            ok, reason, message = False, "other", f"job kind {job.kind!r} returned no metrics"
    except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded reason
        reason, message = classify(exc)
        ok, values = False, {}
    return JobOutcome(
        key=job.key,
        ok=ok,
        metrics=values,
        started=started,
        finished=time.time(),
        device=device,
        host=socket.gethostname(),
        torch_version=torch_version(),
        robnas_version=robnas.__version__,
        reason=reason,
        message=message,
        environment=environment(),
        pid=os.getpid(),
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _watch_driver(driver: int, parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent or not _alive(driver):
            os._exit(0)  # the driver is gone: nobody will read our results


def init_worker(driver: int | None = None) -> None:
    """Initializer of local worker processes: one thread, ignore Ctrl-C, exit when the driver dies."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit_threads()
    parent = os.getppid()
    threading.Thread(target=_watch_driver, args=(driver or parent, parent), daemon=True).start()
