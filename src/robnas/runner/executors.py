"""Executors: where jobs run. Looked up by name in :data:`EXECUTORS`.

An executor takes jobs (:meth:`Executor.submit`) and hands back ``(job, outcome)`` pairs as they
finish (:meth:`Executor.poll`). It never writes results: the driver does, as outcomes arrive.
The driver keeps at most :attr:`Executor.capacity` jobs in flight, so a killed build loses at
most that many jobs' work.

``local`` runs worker processes on this machine (``concurrent.futures.ProcessPoolExecutor`` with
the ``spawn`` start method; one compute thread per worker; a worker exits when the driver dies).
A worker that dies breaks the whole pool: every job in flight is handed back as lost
(``suspect`` when several were in flight, so the driver can re-run them one at a time to find the
culprit) and the pool is rebuilt. ``ray`` (:mod:`robnas.runner.ray_executor`) runs one Ray task
per job.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from abc import ABC, abstractmethod
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar

from robnas.errors import ConfigError
from robnas.registry import Registry
from robnas.runner.jobs import Job, JobOutcome, execute, init_worker, lost_outcome

EXECUTORS: Registry[type[Executor]] = Registry(
    "executor",
    builtin={
        "local": "robnas.runner.executors:LocalExecutor",
        "ray": "robnas.runner.ray_executor:RayExecutor",
    },
)
"""Executor name -> class (``"module:class"``, imported on first use: Ray only when asked for)."""


class Executor(ABC):
    """Runs jobs somewhere and reports their outcomes."""

    name: ClassVar[str]

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many jobs may be in flight at once."""

    def start(self) -> None:  # noqa: B027 - optional hook
        """Acquire workers (called once before the first submit)."""

    @abstractmethod
    def submit(self, job: Job) -> None:
        """Start one job."""

    @abstractmethod
    def poll(self, timeout: float) -> list[tuple[Job, JobOutcome]]:
        """Outcomes of the jobs that finished (waits up to ``timeout`` seconds for the first)."""

    @abstractmethod
    def in_flight(self) -> int:
        """Jobs submitted and not yet reported."""

    def close(self, cancel: bool = False) -> None:  # noqa: B027 - optional hook
        """Release workers; ``cancel`` stops running jobs instead of waiting for them."""

    def describe(self) -> str:
        return f"{self.name} executor, {self.capacity} worker(s)"


def get_executor(name: str, **options: Any) -> Executor:
    """An executor by name (``local`` or ``ray``) with its options (``workers``, ``address``, ...)."""
    return EXECUTORS.get(name)(**options)


def _context() -> multiprocessing.context.BaseContext:
    # spawn, not forkserver: a fork server outlives a driver killed with SIGKILL (and keeps its
    # workers alive), while spawned workers are the driver's children and notice its death
    return multiprocessing.get_context("spawn")


def _dead(proc: Any) -> bool:
    """Whether ``proc`` has ended (its sentinel is ready), whoever reaped it."""
    from multiprocessing.connection import wait as wait_ready

    try:
        return bool(wait_ready([proc.sentinel], timeout=0))
    except (OSError, ValueError):
        return True


class LocalExecutor(Executor):
    """Worker processes on this machine."""

    name = "local"

    def __init__(self, workers: int = 1, **unused: Any) -> None:
        if unused.get("address"):
            raise ConfigError("--address is for the ray executor; the local executor runs on this machine")
        if not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a positive number of processes, got {workers!r}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[JobOutcome], Job] = {}
        self._generation: dict[Future[JobOutcome], int] = {}
        """Pool generation (``restarts`` at submission) of each future in flight."""
        self._dead_codes: dict[int, list[int]] = {}
        """Exit codes of each broken generation, read before its pool was replaced."""
        self.restarts = 0
        self.completed = 0

    @property
    def capacity(self) -> int:
        return self.workers

    def start(self) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=_context(),
                initializer=init_worker,
                initargs=(os.getpid(),),
            )

    def submit(self, job: Job) -> None:
        self.start()
        assert self._pool is not None
        try:
            fut = self._pool.submit(execute, job)
        except BrokenProcessPool:  # a worker died since the last poll: its futures are failed
            self._restart()
            fut = self._pool.submit(execute, job)
        self._futures[fut] = job
        self._generation[fut] = self.restarts

    def in_flight(self) -> int:
        return len(self._futures)

    def _exit_codes(self) -> list[int]:
        """Exit codes of the dead pool's workers, the one that died first in front."""
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        deadline = time.monotonic() + 10.0
        for proc in procs:  # the pool terminates and joins them; wait for their exit codes
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        # the pool's manager thread reaps the same processes: a waitpid of ours that loses that
        # race reads no status (exitcode None) although the process is dead; read again until
        # the other thread has stored it
        while any(p.exitcode is None and _dead(p) for p in procs) and time.monotonic() < deadline:
            time.sleep(0.01)
        codes = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
        # after one worker dies the pool terminates the others (-SIGTERM): report the first death
        return [c for c in codes if c != -signal.SIGTERM] or codes

    def _restart(self) -> None:
        # read the dead pool's exit codes now: once replaced, they cannot be found any more (the
        # crash tests' "no exit code" under load came from reading the *new* pool's workers)
        self._dead_codes[self.restarts] = self._exit_codes() if self._pool is not None else []
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        self.restarts += 1
        self.start()

    def poll(self, timeout: float) -> list[tuple[Job, JobOutcome]]:
        if not self._futures:
            return []
        done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        out: list[tuple[Job, JobOutcome]] = []
        broken = False
        broken_gens: set[int] = set()
        for fut in done:
            job = self._futures.pop(fut)
            gen = self._generation.pop(fut)
            try:
                out.append((job, fut.result()))
                self.completed += 1
            except BrokenProcessPool:
                broken = True
                broken_gens.add(gen)
                out.append((job, lost_outcome(job, "", suspect=False)))
            except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be unpickled
                out.append((job, lost_outcome(job, f"{type(exc).__name__}: {exc}", suspect=False)))
        if broken:
            if self.restarts in broken_gens:  # the current pool broke: retire it, keeping its codes
                self._restart()
            # every job of a broken pool fails (jobs of a newer pool keep running); collect the
            # rest of those, then say what happened
            for fut in list(self._futures):
                if self._generation[fut] in broken_gens:
                    job = self._futures.pop(fut)
                    self._generation.pop(fut)
                    out.append((job, lost_outcome(job, "", suspect=False)))
            codes = [c for g in sorted(broken_gens) for c in self._dead_codes.get(g, [])]
            lost = [o for _, o in out if o.message == "" and not o.ok]
            how = f"exit code {codes[0]}" if codes else "no exit code"
            if codes and codes[0] == -9:
                how += ": killed, possibly by the out-of-memory killer"
            if not self.completed and codes and codes[0] == 1:
                how += (
                    "; if robnas.runner.build is called from a script, put the call under "
                    "`if __name__ == '__main__':` (worker processes import the main module)"
                )
            for o in lost:
                o.suspect = len(lost) > 1
                o.message = (
                    f"worker process died ({how})"
                    if not o.suspect
                    else f"worker process died ({how}) while {len(lost)} jobs were in flight"
                )
        return out

    def close(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
        pool.shutdown(wait=True, cancel_futures=cancel)
        self._futures.clear()
        self._generation.clear()
