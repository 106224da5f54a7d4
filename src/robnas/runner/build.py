"""The build driver: plan jobs, run them through an executor, write each result as it arrives.

The driver is the only writer of the store. Each finished job is written in one transaction
(all its rows and its ``done`` mark), so killing the build at any moment loses at most the jobs
in flight, and running it again (:func:`plan` skips what is done) finishes the rest. A job that
raises or whose worker dies is recorded as failed with its reason and retried up to
``retries`` times; a job whose worker died while others were in flight is re-run alone before
it is blamed.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robnas.errors import ConfigError, DataError
from robnas.runner.config import BuildConfig, load_config
from robnas.runner.executors import Executor, get_executor
from robnas.runner.jobs import Job, JobOutcome, check_kind, job_key
from robnas.spaces.nb201 import Arch
from robnas.store import JobRecord, ResultRow, ResultStore


@dataclass
class BuildReport:
    """What one call of :func:`build` did."""

    output: Path
    protocol: str
    config_hash: str
    executor: str
    total: int
    """Jobs the configuration asks for (architectures x seeds)."""
    skipped: int
    """Jobs already done (or failed too often) when the build started."""
    failed_before: int = 0
    """Of :attr:`skipped`, jobs that failed too often in earlier runs (``--retry-failed`` reruns them)."""
    done: int = 0
    failed: int = 0
    """Jobs given up in this run (their failures are in :attr:`failures`)."""
    retried: int = 0
    executions: int = 0
    interrupted: bool = False
    elapsed: float = 0.0
    failures: list[JobRecord] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        """Jobs still missing after this run (failed or not reached)."""
        return self.total - self.skipped - self.done

    @property
    def complete(self) -> bool:
        return not self.interrupted and self.failed == 0

    @property
    def throughput(self) -> float:
        """Jobs finished per second in this run."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def __repr__(self) -> str:
        return f"BuildReport({self.summary()})"

    def summary(self) -> str:
        parts = [f"{self.done} done", f"{self.failed} failed"]
        if self.skipped - self.failed_before:
            parts.append(f"{self.skipped - self.failed_before} already in the store")
        if self.failed_before:
            parts.append(
                f"{self.failed_before} failed in earlier runs and not retried (rerun with --retry-failed)"
            )
        if self.retried:
            parts.append(f"{self.retried} retried")
        state = "interrupted" if self.interrupted else "finished"
        return f"build {state} in {self.elapsed:.1f}s: " + ", ".join(parts) + f" -> {self.output}"


def all_jobs(config: BuildConfig) -> list[Job]:
    """Every job of a configuration (one per architecture uid and seed), in a stable order."""
    protocol, chash = config.protocol_hash, config.config_hash
    spec: dict[str, Any] = config.protocol_dict()
    spec["root"] = config.root
    spec["device"] = config.device
    jobs = []
    for seed in config.seeds:
        for uid in config.arch_uids():
            jobs.append(
                Job(
                    key=job_key(config.dataset, protocol, uid, seed),
                    uid=uid,
                    arch=Arch.from_index(uid).string,
                    seed=seed,
                    dataset=config.dataset,
                    protocol=protocol,
                    config_hash=chash,
                    kind=config.kind,
                    spec=spec,
                )
            )
    return jobs


def plan(config: BuildConfig, store: ResultStore, retry_failed: bool = False) -> list[Job]:
    """The jobs still to run: not done, and not failed ``1 + retries`` times already.

    With ``retry_failed`` the failure counts of this configuration's jobs are forgotten first.
    """
    jobs = all_jobs(config)
    done = store.done_jobs()
    failed = store.failed_jobs()
    mine = [j.key for j in jobs if j.key in failed]
    if retry_failed and mine:
        store.reset_failures(mine)
        failed = {}
    limit = 1 + config.retries
    return [j for j in jobs if j.key not in done and (j.key not in failed or failed[j.key].attempts < limit)]


def escape(text: str) -> str:
    """``text`` safe to print through rich (``[/b]`` in a path or message is shown, not parsed)."""
    from rich.markup import escape as _escape

    return _escape(text)


def rows_of(job: Job, outcome: JobOutcome) -> list[ResultRow]:
    """The store rows of a successful outcome, each with the job's provenance."""
    env = json.dumps(outcome.environment, sort_keys=True) if outcome.environment else None
    return [
        ResultRow(
            uid=job.uid,
            dataset=job.dataset,
            protocol=job.protocol,
            seed=job.seed,
            metric=metric,
            value=value,
            config_hash=job.config_hash,
            robnas_version=outcome.robnas_version,
            torch_version=outcome.torch_version,
            device=outcome.device,
            host=outcome.host,
            started=outcome.started,
            finished=outcome.finished,
            arch=job.arch,
            environment=env,
        )
        for metric, value in sorted(outcome.metrics.items())
    ]


class _Interrupt:
    """First Ctrl-C asks the driver to stop after writing what has arrived; the second one is hard."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


@contextmanager
def _interruptible(enabled: bool) -> Iterator[_Interrupt]:
    flag = _Interrupt()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag
        return
    old_int = signal.signal(signal.SIGINT, flag)
    old_term = signal.signal(signal.SIGTERM, flag)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


class _Progress:
    """A live rich progress bar: done / failed / remaining, throughput, ETA."""

    def __init__(self, enabled: bool, total: int, skipped: int, title: str, console: Any = None) -> None:
        self.enabled = enabled and total > 0
        self.total, self.start = total, time.perf_counter()
        self._bar: Any = None
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

        from robnas.progress import make_progress

        # one plain line per job finished off a terminal when there are few jobs (the quickstart)
        self._bar = make_progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[done]} done[/] [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[remaining]} remaining  {task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            every_pct=max(100 / total, 5.0),
        )
        self._bar.start()
        self._task = self._bar.add_task(title, total=total, done=0, failed=0, remaining=total, rate="")
        if skipped:
            self._bar.console.print(f"{skipped} job(s) already in the store are skipped")

    def update(self, done: int, failed: int, in_flight: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        rate = done / elapsed * 60 if elapsed > 0 and done else 0.0
        remaining = self.total - done - failed
        self._bar.update(
            self._task,
            completed=done + failed,
            done=done,
            failed=failed,
            remaining=remaining,
            rate=f"{rate:.1f} jobs/min, {in_flight} running" if done else f"{in_flight} running",
        )

    def log(self, message: str) -> None:
        if self.enabled:
            self._bar.console.print(message)

    def stop(self) -> None:
        if self.enabled:
            self._bar.stop()


def build(
    config: BuildConfig | str | os.PathLike[str] | dict[str, Any],
    executor: str | Executor = "local",
    workers: int | None = 1,
    progress: bool = True,
    address: str | None = None,
    retry_failed: bool = False,
    output: str | os.PathLike[str] | None = None,
    interruptible: bool = True,
    console: Any = None,
    poll_interval: float = 0.2,
) -> BuildReport:
    """Build (or resume) the benchmark described by ``config``; returns what was done.

    ``executor`` is ``"local"`` (``workers`` processes on this machine) or ``"ray"`` (``address``
    of a Ray cluster, ``"auto"`` to join the running one, or ``None`` for a local Ray instance;
    ``workers=None``: as many tasks in flight as the cluster has CPUs), or an :class:`Executor`
    instance. ``output`` overrides the configuration's database path.
    With ``interruptible`` (main thread only), Ctrl-C or SIGTERM stops the build after writing
    the results that have arrived; the report then has ``interrupted=True``.
    """
    cfg = load_config(config)
    if output is not None:
        cfg = cfg.with_overrides(output=str(output))
    cfg = confine_synthetic_log(cfg)
    check_kind(cfg.kind, cfg)
    store = ResultStore(cfg.output)
    try:
        lock = _BuildLock(Path(cfg.output))
    except BaseException:
        store.close()
        raise
    try:
        return _run(
            cfg,
            store,
            executor,
            workers,
            progress,
            address,
            retry_failed,
            interruptible,
            console,
            poll_interval,
        )
    finally:
        lock.release()
        store.close()


def confine_synthetic_log(cfg: BuildConfig) -> BuildConfig:
    """The ``synthetic.log`` file resolved inside the build's folder (the folder of ``output``).

    A relative path is taken relative to that folder; a path that resolves (symbolic links
    followed) anywhere else is refused, so a shared YAML file cannot append to e.g. ``~/.bashrc``.
    """
    log = (cfg.synthetic or {}).get("log")
    if cfg.kind != "synthetic" or not log:
        return cfg
    folder = Path(cfg.output).expanduser().resolve().parent
    target = Path(str(log)).expanduser()
    target = (target if target.is_absolute() else folder / target).resolve()
    if not target.is_relative_to(folder) or target == folder:
        raise ConfigError(
            f"synthetic.log {log!r} lies outside the build folder {folder}; "
            "give a file name inside the folder of `output`, e.g. log: executions.log"
        )
    return cfg.with_overrides(synthetic={**cfg.synthetic, "log": str(target)})


class _BuildLock:
    """An exclusive lock on ``<output>.lock`` for the whole build: a second build of the same
    database (another process or the same one) is refused at once instead of running every job
    twice. ``flock`` locks die with the process, so a killed build leaves no stale lock (the empty
    lock file stays and is reused). Where ``fcntl`` does not exist (Windows) no lock is taken.
    """

    def __init__(self, output: Path) -> None:
        self.path = output.with_name(output.name + ".lock")
        self._fh: Any = None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        try:
            self._fh = open(self.path, "a")  # noqa: SIM115 - held for the whole build
        except OSError as exc:
            raise DataError(f"cannot create the build lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            self._fh = None
            raise DataError(
                f"another build is writing {output} (lock {self.path} is held); wait for it to finish, "
                "or give another --out"
            ) from None

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the lock
            self._fh = None


def _run(
    cfg: BuildConfig,
    store: ResultStore,
    executor: str | Executor,
    workers: int | None,
    progress: bool,
    address: str | None,
    retry_failed: bool,
    interruptible: bool,
    console: Any,
    poll_interval: float,
) -> BuildReport:
    t0 = time.perf_counter()
    store.write_config(cfg.config_hash, cfg.protocol_hash, cfg.to_dict())
    total = len(all_jobs(cfg))
    todo = plan(cfg, store, retry_failed=retry_failed)
    ex = (
        executor
        if isinstance(executor, Executor)
        else get_executor(executor, workers=workers, address=address)
    )
    report = BuildReport(
        output=Path(cfg.output),
        protocol=cfg.protocol_hash,
        config_hash=cfg.config_hash,
        executor=ex.name,
        total=total,
        skipped=total - len(todo),
    )
    failed_now, todo_keys = store.failed_jobs(), {j.key for j in todo}
    report.failed_before = sum(1 for j in all_jobs(cfg) if j.key in failed_now and j.key not in todo_keys)
    if not todo:
        report.elapsed = time.perf_counter() - t0
        return report
    pending: deque[Job] = deque(todo)
    suspects: set[str] = set()
    isolating = False
    limit = 1 + cfg.retries
    bar = _Progress(progress, len(todo), report.skipped, escape(cfg.name or Path(cfg.output).stem), console)
    cancel = True
    with _interruptible(interruptible) as stop:
        try:
            ex.start()
            while (pending or ex.in_flight()) and not stop.requested:
                # keep the executor busy; a suspect of a crash runs alone
                while pending and not isolating and ex.in_flight() < ex.capacity:
                    if pending[0].key in suspects:
                        if ex.in_flight():
                            break
                        isolating = True
                    ex.submit(pending.popleft())
                    report.executions += 1
                for job, outcome in ex.poll(poll_interval):
                    isolating = False
                    if outcome.ok:
                        store.write_results(job.key, rows_of(job, outcome))
                        report.done += 1
                        suspects.discard(job.key)
                        continue
                    if outcome.suspect and job.key not in suspects:
                        suspects.add(job.key)
                        pending.appendleft(job)
                        continue
                    attempts = store.record_failure(
                        job.key,
                        outcome.reason or "other",
                        outcome.message or "",
                        uid=job.uid,
                        dataset=job.dataset,
                        protocol=job.protocol,
                        seed=job.seed,
                        arch=job.arch,
                        config_hash=job.config_hash,
                    )
                    suspects.discard(job.key)
                    if attempts < limit:
                        report.retried += 1
                        pending.append(job)
                        bar.log(
                            f"[yellow]retrying[/] architecture {job.uid} seed {job.seed}: "
                            f"{escape(outcome.message or '')}"
                        )
                    else:
                        report.failed += 1
                        bar.log(
                            f"[red]failed[/] architecture {job.uid} seed {job.seed} "
                            f"({escape(outcome.reason or '')}): {escape(outcome.message or '')}"
                        )
                bar.update(report.done, report.failed, ex.in_flight())
            report.interrupted = stop.requested and bool(pending or ex.in_flight())
            cancel = report.interrupted
        finally:
            bar.stop()
            ex.close(cancel=cancel)
    failed = store.failed_jobs()
    report.failures = [failed[j.key] for j in todo if j.key in failed and failed[j.key].attempts >= limit]
    report.elapsed = time.perf_counter() - t0
    return report
