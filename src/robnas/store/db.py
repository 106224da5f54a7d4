"""The results database: SQLite in WAL mode, one transaction per job, provenance on every row.

Layout (schema version :data:`SCHEMA_VERSION`; :data:`MIGRATIONS` upgrades older files in place):

``results``
    one row per (architecture uid, dataset, protocol hash, seed, metric) with its value and its
    provenance: configuration hash, robnas version, torch version, device, host, start and end
    time, duration, and the job that produced it.
``jobs``
    one row per job (one architecture and seed under one protocol): ``done`` or ``failed``, the
    number of attempts, and for a failure its class (``divergence``, ``out-of-memory``,
    ``bad-data``, ``other``) and message.
``configs``
    the build configurations (by hash) whose results the file holds, as JSON.

Only one process writes (the build driver). :meth:`ResultStore.write_results` writes all rows of a
job and marks it done in a single transaction, so a process killed at any moment leaves either the
whole job or nothing. This module knows nothing about torch: versions and devices arrive as strings.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from robnas.errors import ConfigError, DataError

SCHEMA_VERSION = 2
APPLICATION_ID = 0x524E4253  # "RNBS": marks a file as a robnas results store

FAILURE_REASONS: tuple[str, ...] = ("divergence", "out-of-memory", "bad-data", "other")
"""Classes of failure recorded in the ``jobs`` table."""

JOB_STATES: tuple[str, ...] = ("done", "failed")

_SCHEMA_V1 = """
CREATE TABLE configs (
    config_hash TEXT PRIMARY KEY,
    protocol TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE jobs (
    job_key TEXT PRIMARY KEY,
    uid INTEGER NOT NULL,
    arch TEXT,
    dataset TEXT NOT NULL,
    protocol TEXT NOT NULL,
    seed INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    message TEXT,
    config_hash TEXT,
    updated REAL NOT NULL
);
CREATE TABLE results (
    uid INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    protocol TEXT NOT NULL,
    seed INTEGER NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    job_key TEXT NOT NULL REFERENCES jobs(job_key),
    arch TEXT,
    config_hash TEXT NOT NULL,
    robnas_version TEXT NOT NULL,
    torch_version TEXT NOT NULL,
    device TEXT NOT NULL,
    host TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    duration REAL NOT NULL,
    PRIMARY KEY (uid, dataset, protocol, seed, metric)
);
CREATE INDEX results_metric ON results (metric);
CREATE INDEX results_job ON results (job_key);
CREATE INDEX jobs_state ON jobs (state);
"""

# v2: the environment that produced each row (JSON: library versions, CPU, threads); NULL for
# rows written before it was recorded
_SCHEMA_V2 = "ALTER TABLE results ADD COLUMN environment TEXT"

MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2}
"""``MIGRATIONS[v]`` takes a file from schema version ``v - 1`` to ``v`` (0 = empty file)."""


_RESULT_COLUMNS = (
    "uid", "dataset", "protocol", "seed", "metric", "value", "job_key", "arch", "config_hash",
    "robnas_version", "torch_version", "device", "host", "started", "finished", "duration", "environment",
)  # fmt: skip


class StoreError(DataError):
    """The results database cannot be opened, is not a robnas store, or is damaged."""


@dataclass(frozen=True)
class ResultRow:
    """One stored number with its provenance.

    ``value`` may be NaN (stored as NULL), e.g. the accuracy of a diverged evaluation.
    Times are seconds since the epoch (``time.time()``).
    """

    uid: int
    dataset: str
    protocol: str
    seed: int
    metric: str
    value: float
    config_hash: str
    robnas_version: str
    torch_version: str
    device: str
    host: str
    started: float
    finished: float
    arch: str | None = None
    environment: str | None = None
    """JSON of :func:`robnas.environment.environment` in the worker, or None (older rows)."""

    @property
    def duration(self) -> float:
        return self.finished - self.started

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ResultRow:
        names = {f.name for f in fields(cls)}
        missing = [n for n in names if n not in data and n not in ("arch", "environment")]
        if missing:
            raise ConfigError(f"a result row needs the fields {sorted(missing)}; got {sorted(data)}")
        return cls(**{k: data[k] for k in names if k in data})


@dataclass(frozen=True)
class JobRecord:
    """One row of the ``jobs`` table."""

    job_key: str
    uid: int
    arch: str | None
    dataset: str
    protocol: str
    seed: int
    state: str
    attempts: int
    reason: str | None
    message: str | None
    config_hash: str | None
    updated: float


def _to_sql(value: float) -> float | None:
    v = float(value)
    return None if math.isnan(v) else v


class ResultStore:
    """A results database file (created on first use).

    >>> store = ResultStore("build.sqlite")          # doctest: +SKIP
    >>> store.write_results("cifar10:ab12:0:0", rows)  # doctest: +SKIP

    ``synchronous`` is SQLite's durability level: ``"FULL"`` (default) survives power loss as well
    as a killed process; ``"NORMAL"`` survives a killed process and is faster on slow disks.
    """

    def __init__(
        self, path: str | os.PathLike[str], readonly: bool = False, synchronous: str = "FULL"
    ) -> None:
        self.path = Path(path).expanduser()
        self.readonly = readonly
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
        if readonly and not self.path.is_file():
            raise StoreError(
                f"results database {self.path} not found; run `robnas build CONFIG` to create it"
            )
        if self.path.exists() and not self.path.is_dir() and not self.path.is_file():
            raise StoreError(
                f"{self.path} is not a regular file (a device or pipe); give a database file path"
            )
        if self.path.is_dir():
            raise StoreError(
                f"{self.path} is a folder; give a database file path such as {self.path}/build.sqlite"
            )
        if not readonly:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of {self.path}: {exc.strerror or exc}") from None
        self._conn = self._connect(synchronous.upper())
        self._prepare()

    # ------------------------------------------------------------------ connection
    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r}{', read-only' if self.readonly else ''})"

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        try:
            if self.readonly:
                conn = self._connect_readonly()
            else:
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            conn.execute("PRAGMA busy_timeout = 30000")
            if not self.readonly:
                self._refuse_foreign(conn)  # before anything changes the file (WAL, schema)
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: cannot switch the database to WAL mode (got {mode})")
                conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a readable SQLite database ({exc}); move it away") from None
        return conn

    def _connect_readonly(self) -> sqlite3.Connection:
        """A read-only connection. A WAL store in a folder we cannot write (no ``-shm`` file can be
        made) is opened ``immutable`` when it has no pending ``-wal`` content, which is the state a
        finished build leaves; otherwise the error says to copy it somewhere writable."""
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            raise StoreError(
                f"{self.path} has unfinished writes (-wal file) in a folder robnas cannot write; "
                "copy the database with its -wal file to a writable folder and read it there"
            )
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, timeout=30.0)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        """Refuse an SQLite file of another application before anything is written to it."""
        app = int(conn.execute("PRAGMA application_id").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and app != APPLICATION_ID and "schema_version" not in tables:
            conn.close()
            raise StoreError(
                f"{self.path} is an SQLite database of another application, not a robnas results store; "
                "it was left unchanged; give another --out path"
            )

    def close(self) -> None:
        """Close the connection (the file stays consistent whether or not this is called)."""
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE ... COMMIT``; rolled back on any exception."""
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._write_error(exc) from None
        try:
            yield self._conn
        except BaseException as exc:
            with suppress(sqlite3.DatabaseError):  # SQLite may have rolled back already (full disk)
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
                raise self._write_error(exc) from None
            raise
        try:
            self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            with suppress(sqlite3.DatabaseError):
                self._conn.execute("ROLLBACK")
            raise self._write_error(exc) from None

    def _write_error(self, exc: sqlite3.DatabaseError) -> StoreError:
        """One line for a failed write (full disk, read-only file or folder, I/O error, lock)."""
        return StoreError(
            f"cannot write to the results database {self.path}: {exc}; nothing of this job was kept"
        )

    # ------------------------------------------------------------------ schema
    def schema_version(self) -> int:
        """The file's schema version (0 for a new, empty file)."""
        try:
            row = self._conn.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.OperationalError:
            return 0
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a readable SQLite database ({exc}); move it away") from None
        return int(row[0]) if row else 0

    def _prepare(self) -> None:
        version = self.schema_version()
        if version == 0:
            tables = self._conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0]
            if tables:
                raise StoreError(
                    f"{self.path} is an SQLite database but not a robnas results store; "
                    "give another --out path"
                )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this robnas "
                f"(version {SCHEMA_VERSION}); upgrade robnas to read it"
            )
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            raise StoreError(f"{self.path} has the old schema version {version}; open it once for writing")
        self._migrate(version)

    def _migrate(self, version: int) -> None:
        with self.transaction() as conn:
            # re-read inside the write lock: another process may have migrated meanwhile
            current = self.schema_version()
            if current == 0:
                conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                conn.execute("INSERT INTO schema_version VALUES (0)")
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for target in range(max(current, version) + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("UPDATE schema_version SET version = ?", (target,))

    # ------------------------------------------------------------------ writes
    def write_config(self, config_hash: str, protocol: str, body: Mapping[str, Any]) -> None:
        """Remember a build configuration (idempotent)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO configs VALUES (?, ?, ?, ?)",
                (config_hash, protocol, json.dumps(body, sort_keys=True), time.time()),
            )

    def write_results(self, job_key: str, rows: Sequence[ResultRow | Mapping[str, Any]]) -> int:
        """Store all rows of one job and mark the job done, in one transaction.

        All rows must share uid, dataset, protocol and seed. Writing a job that is already done
        replaces its rows (so a retried write is harmless). Returns the number of rows written.
        """
        recs = [r if isinstance(r, ResultRow) else ResultRow.from_mapping(r) for r in rows]
        if not recs:
            raise ConfigError(f"job {job_key}: no result rows to write")
        first = recs[0]
        ident = (first.uid, first.dataset, first.protocol, first.seed)
        for r in recs:
            if (r.uid, r.dataset, r.protocol, r.seed) != ident:
                raise ConfigError(
                    f"job {job_key}: all rows of a job share uid, dataset, protocol and seed; "
                    f"got {ident} and {(r.uid, r.dataset, r.protocol, r.seed)}"
                )
        metrics = [r.metric for r in recs]
        if len(set(metrics)) != len(metrics):
            dup = sorted({m for m in metrics if metrics.count(m) > 1})
            raise ConfigError(f"job {job_key}: metric(s) {dup} appear more than once")
        now = time.time()
        with self.transaction() as conn:
            conn.execute("DELETE FROM results WHERE job_key = ?", (job_key,))
            conn.execute(
                """INSERT INTO jobs (job_key, uid, arch, dataset, protocol, seed, state, attempts,
                                     reason, message, config_hash, updated)
                   VALUES (?, ?, ?, ?, ?, ?, 'done', 1, NULL, NULL, ?, ?)
                   ON CONFLICT (job_key) DO UPDATE SET state = 'done', attempts = attempts + 1,
                       reason = NULL, message = NULL, config_hash = excluded.config_hash,
                       updated = excluded.updated""",
                (job_key, first.uid, first.arch, first.dataset, first.protocol, first.seed,
                 first.config_hash, now),
            )  # fmt: skip
            conn.executemany(
                f"INSERT OR REPLACE INTO results ({', '.join(_RESULT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_RESULT_COLUMNS))})",
                [
                    (r.uid, r.dataset, r.protocol, r.seed, r.metric, _to_sql(r.value), job_key, r.arch,
                     r.config_hash, r.robnas_version, r.torch_version, r.device, r.host, r.started,
                     r.finished, r.duration, r.environment)
                    for r in recs
                ],
            )  # fmt: skip
        return len(recs)

    def record_failure(
        self,
        job_key: str,
        reason: str,
        message: str,
        *,
        uid: int,
        dataset: str,
        protocol: str,
        seed: int,
        arch: str | None = None,
        config_hash: str | None = None,
    ) -> int:
        """Record one failed attempt of a job; returns the job's attempt count so far.

        A job that is already done stays done (its results are kept).
        """
        if reason not in FAILURE_REASONS:
            raise ConfigError(f"failure reason must be one of {FAILURE_REASONS}, got {reason!r}")
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO jobs (job_key, uid, arch, dataset, protocol, seed, state, attempts,
                                     reason, message, config_hash, updated)
                   VALUES (?, ?, ?, ?, ?, ?, 'failed', 1, ?, ?, ?, ?)
                   ON CONFLICT (job_key) DO UPDATE SET attempts = attempts + 1,
                       reason = excluded.reason, message = excluded.message, updated = excluded.updated
                   WHERE state != 'done'""",
                (job_key, uid, arch, dataset, protocol, seed, reason, message, config_hash, time.time()),
            )
            row = conn.execute("SELECT attempts FROM jobs WHERE job_key = ?", (job_key,)).fetchone()
        return int(row[0])

    def reset_failures(self, job_keys: Iterable[str] | None = None) -> int:
        """Forget failed attempts (all, or of the given jobs) so that they are tried again."""
        with self.transaction() as conn:
            if job_keys is None:
                cur = conn.execute("DELETE FROM jobs WHERE state = 'failed'")
            else:
                cur = conn.executemany(
                    "DELETE FROM jobs WHERE state = 'failed' AND job_key = ?", [(k,) for k in job_keys]
                )
        return cur.rowcount

    # ------------------------------------------------------------------ reads
    def done_jobs(self) -> set[str]:
        """Keys of the jobs whose results are stored."""
        return {r[0] for r in self._conn.execute("SELECT job_key FROM jobs WHERE state = 'done'")}

    def failed_jobs(self) -> dict[str, JobRecord]:
        """Jobs whose last attempt failed, by key."""
        return {j.job_key: j for j in self.jobs(state="failed")}

    def jobs(self, state: str | None = None) -> list[JobRecord]:
        """All job records (optionally only those in ``state``)."""
        if state is not None and state not in JOB_STATES:
            raise ConfigError(f"job state must be one of {JOB_STATES}, got {state!r}")
        sql = "SELECT * FROM jobs" + (" WHERE state = ?" if state else "") + " ORDER BY job_key"
        return [JobRecord(*row) for row in self._conn.execute(sql, (state,) if state else ())]

    def counts(self) -> dict[str, int]:
        """``{"done": n, "failed": m, "results": k}``."""
        out = {s: 0 for s in JOB_STATES}
        for state, n in self._conn.execute("SELECT state, count(*) FROM jobs GROUP BY state"):
            out[state] = int(n)
        out["results"] = int(self._conn.execute("SELECT count(*) FROM results").fetchone()[0])
        return out

    def metrics(self) -> list[str]:
        """Names of the metrics present, sorted."""
        return [r[0] for r in self._conn.execute("SELECT DISTINCT metric FROM results ORDER BY metric")]

    def configs(self) -> dict[str, dict[str, Any]]:
        """Stored build configurations by hash."""
        return {h: json.loads(b) for h, b in self._conn.execute("SELECT config_hash, body FROM configs")}

    def query(
        self,
        metric: str | Sequence[str] | None = None,
        *,
        dataset: str | None = None,
        uid: int | Sequence[int] | None = None,
        seed: int | None = None,
        protocol: str | None = None,
    ) -> pd.DataFrame:
        """Result rows (with provenance) as a DataFrame, filtered by any of the arguments."""
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("metric", metric), ("uid", uid)):
            if value is None:
                continue
            values = [value] if isinstance(value, str | int) else list(value)
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            args.extend(values)
        for column, value in (("dataset", dataset), ("seed", seed), ("protocol", protocol)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM results" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY uid, dataset, protocol, seed, metric"
        cur = self._conn.execute(sql, args)
        columns = [d[0] for d in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=columns)
        frame["value"] = frame["value"].astype(float)
        return frame

    def seed_means(self, metric: str, protocol: str | None = None) -> dict[int, float]:
        """``{uid: mean over seeds}`` of one metric (NULL values are skipped)."""
        sql = "SELECT uid, avg(value) FROM results WHERE metric = ? AND value IS NOT NULL"
        args: list[Any] = [metric]
        if protocol is not None:
            sql += " AND protocol = ?"
            args.append(protocol)
        return {int(u): float(v) for u, v in self._conn.execute(sql + " GROUP BY uid", args)}

    def protocols(self, metric: str | None = None) -> list[str]:
        """Protocol hashes present (for one metric, or overall)."""
        if metric is None:
            cur = self._conn.execute("SELECT DISTINCT protocol FROM results ORDER BY protocol")
        else:
            cur = self._conn.execute(
                "SELECT DISTINCT protocol FROM results WHERE metric = ? ORDER BY protocol", (metric,)
            )
        return [r[0] for r in cur]

    def integrity_check(self) -> list[str]:
        """Problems found (empty when the file is sound).

        Runs SQLite's ``PRAGMA integrity_check`` and ``foreign_key_check`` and checks that every
        result belongs to a job marked done.
        """
        problems = [r[0] for r in self._conn.execute("PRAGMA integrity_check")]
        problems = [] if problems == ["ok"] else problems
        problems += [f"dangling reference in {r[0]}" for r in self._conn.execute("PRAGMA foreign_key_check")]
        orphans = self._conn.execute(
            "SELECT count(*) FROM results r JOIN jobs j USING (job_key) WHERE j.state != 'done'"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} result rows belong to jobs not marked done")
        empty = self._conn.execute(
            "SELECT count(*) FROM jobs j WHERE state = 'done' "
            "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.job_key = j.job_key)"
        ).fetchone()[0]
        if empty:
            problems.append(f"{empty} jobs marked done have no result rows")
        return problems

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only SQL statement (for inspection and tests)."""
        return self._conn.execute(sql, args).fetchall()


def row_dicts(rows: Iterable[ResultRow]) -> list[dict[str, Any]]:
    """Rows as plain dicts (for JSON)."""
    return [asdict(r) for r in rows]
