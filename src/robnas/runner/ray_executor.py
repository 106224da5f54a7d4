"""The ``ray`` executor: one Ray task per job (architecture and seed).

``address`` is passed to ``ray.init``: ``"auto"`` joins the running cluster (``ray start --head``
on the head node), ``"ray://host:10001"`` a remote one; ``None`` starts a local instance with
``workers`` CPUs. Each task asks for one CPU, and for one GPU when the configuration's device is
``cuda`` or (``device: auto``) when the cluster has GPUs. Ray's own task retries are off: the
driver retries and records failures itself. Only the driver writes to the store.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from robnas.errors import ConfigError, RobnasError
from robnas.runner.executors import Executor
from robnas.runner.jobs import Job, JobOutcome, execute, lost_outcome


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RobnasError(
            "the ray executor needs Ray: pip install 'robnas[ray]' (or use --executor local)"
        ) from None
    return ray


class RayExecutor(Executor):
    """Run jobs as Ray tasks on a local instance or a cluster."""

    name = "ray"

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        gpus_per_task: float | None = None,
        init_options: dict[str, Any] | None = None,
        **unused: Any,
    ) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"workers must be a positive number of tasks in flight, got {workers!r}")
        self.workers = workers
        self.address = address
        self.gpus_per_task = gpus_per_task
        self.init_options = dict(init_options or {})
        self._refs: dict[Any, Job] = {}
        self._started_ray = False
        self._remote: Any = None
        self._capacity = workers or 1

    @property
    def capacity(self) -> int:
        return self._capacity

    def start(self) -> None:
        if self._remote is not None:
            return
        ray = _ray()
        if not ray.is_initialized():
            opts: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            opts.update(self.init_options)
            if self.address:
                opts["address"] = self.address
            elif self.workers:
                opts.setdefault("num_cpus", self.workers)
            try:
                ray.init(**opts)
            except ConnectionError as exc:
                raise RobnasError(
                    f"cannot reach a Ray cluster at {self.address!r} ({exc}); start one with "
                    "`ray start --head` or leave out --address for a local instance"
                ) from None
            self._started_ray = True
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 1))
        self._capacity = self.workers or max(1, cpus)
        self._gpus = self.gpus_per_task
        self._remote = ray.remote(num_cpus=1, max_retries=0)(execute)
        self._has_gpus = resources.get("GPU", 0) > 0

    def _options(self, job: Job) -> dict[str, Any]:
        gpus = self._gpus
        if gpus is None:
            device = str(job.spec.get("device", "auto"))
            gpus = 1 if device.startswith("cuda") or (device == "auto" and self._has_gpus) else 0
        return {"num_gpus": gpus} if gpus else {}

    def submit(self, job: Job) -> None:
        self.start()
        opts = self._options(job)
        remote = self._remote.options(**opts) if opts else self._remote
        self._refs[remote.remote(job)] = job

    def in_flight(self) -> int:
        return len(self._refs)

    def poll(self, timeout: float) -> list[tuple[Job, JobOutcome]]:
        if not self._refs:
            return []
        ray = _ray()
        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready:
            more, _ = ray.wait(
                [r for r in self._refs if r not in ready], num_returns=len(self._refs) - 1, timeout=0
            )
            ready = list(ready) + list(more)
        out = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                out.append((job, ray.get(ref)))
            except Exception as exc:  # noqa: BLE001 - a task's worker died, or Ray failed
                kind = type(exc).__name__
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
                out.append((job, lost_outcome(job, f"Ray task failed ({kind}): {text}", suspect=False)))
        return out

    def close(self, cancel: bool = False) -> None:
        if "ray" not in sys.modules:
            return
        ray = sys.modules["ray"]
        if cancel:
            for ref in list(self._refs):
                with contextlib.suppress(Exception):  # best effort on the way out
                    ray.cancel(ref, force=True)
        self._refs.clear()
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._remote = None

    def describe(self) -> str:
        where = self.address or "local Ray instance"
        return f"ray executor ({where}), {self.capacity} task(s) in flight"
