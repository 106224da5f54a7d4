"""The interface every benchmark source implements, and its binary cache.

A source (Jung et al. 2023, NAS-RobBench-201, NATS-Bench, later the project's own results store)
reads its released files once, maps its columns onto robnas metric names (:mod:`.metrics`) and
returns one float32 matrix ``[n_metrics, 15625]`` in NAS-Bench-201 index order, NaN where a value
is absent. :class:`BenchmarkSource` stores that matrix in :func:`robnas.paths.cache_dir` as a
``.npy`` file plus a JSON file with the metric names, keyed by the source files' sizes and
modification times (so a changed file invalidates it), written atomically. Every later start
reads the ``.npy`` file only; a query is then a row lookup.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from robnas.benchmarks.metrics import Metric, UnknownMetricError, close_matches, parse_metric
from robnas.errors import ConfigError, DataError
from robnas.paths import cache_dir, data_root
from robnas.spaces.nb201 import NUM_ARCHS, Arch

if TYPE_CHECKING:
    import pandas as pd

CACHE_FORMAT = 1
REGIMES = ("standard", "adversarial", "mixed", "initialisation", "synthetic", "several", "unknown")
"""Training regimes. ``mixed``: a beta-mix of clean and adversarial losses; ``synthetic``: test jobs
that train nothing; ``several``: a store holding protocols of different regimes, none chosen."""


@dataclass(frozen=True)
class SourceInfo:
    """What a source is, where it comes from, and how its networks were trained.

    ``regime`` is ``"standard"``, ``"adversarial"`` or ``"initialisation"`` (measures of untrained
    networks, e.g. zero-cost proxies): results of standard-trained and
    adversarially trained networks must never be confused, so every cross-source column keeps
    the source name (``jung2023:cifar10/pgd@8`` vs ``nasrobbench201:cifar10/pgd@8``).
    """

    name: str
    title: str
    citation: str
    url: str
    licence: str
    regime: str
    protocol: str
    folder: str
    shares_isomorphs: bool = True
    notes: str = ""

    def __post_init__(self) -> None:
        if self.regime not in REGIMES:
            raise ValueError(f"training regime must be one of {REGIMES}, got {self.regime!r}")


MEAN = "mean"
"""The seed label of an ordinary row: the released value, or the mean over a source's seeds."""


@dataclass
class Table:
    """A source's values: ``matrix[i]`` holds metric ``metrics[i]`` for all 15,625 indices.

    ``seeds[i]`` labels row ``i``: :data:`MEAN` for the values every query reads by default, or a
    training seed as the release spells it (``"1"``, ``"2"``...) for a per-seed row of a source
    that publishes them (NAS-RobBench-201's full release). Per-seed rows never appear in
    :meth:`BenchmarkSource.metrics` or in a default query, so seed values and means cannot mix.
    """

    metrics: tuple[Metric, ...]
    matrix: np.ndarray
    uids: np.ndarray
    seeds: tuple[str, ...] = ()
    rows: dict[str, int] = field(default_factory=dict)
    seed_rows: dict[tuple[str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.seeds:
            self.seeds = (MEAN,) * len(self.metrics)
        if len(self.seeds) != len(self.metrics):
            raise ValueError("one seed label per metric row")
        self.rows = {
            str(m): i for i, (m, s) in enumerate(zip(self.metrics, self.seeds, strict=True)) if s == MEAN
        }
        self.seed_rows = {
            (str(m), s): i for i, (m, s) in enumerate(zip(self.metrics, self.seeds, strict=True)) if s != MEAN
        }
        self.matrix.flags.writeable = False
        self.uids.flags.writeable = False

    @property
    def mean_metrics(self) -> tuple[Metric, ...]:
        return tuple(m for m, s in zip(self.metrics, self.seeds, strict=True) if s == MEAN)

    def seed_labels(self) -> list[str]:
        """The per-seed labels present, in release order (empty for a source of means only)."""
        return list(dict.fromkeys(s for _, s in self.seed_rows))


def missing_file_error(path: Path, info: SourceInfo) -> DataError:
    return DataError(
        f"{info.name}: file {path} not found; download it from {info.url} into {path.parent} "
        "(or point --root / ROBNAS_DATA at the folder that holds "
        f"{info.folder}/)"
    )


def corrupt_file_error(path: Path, info: SourceInfo, why: str) -> DataError:
    return DataError(
        f"{info.name}: {path} is corrupt or truncated ({why}); download it again from {info.url}"
    )


def read_json(path: Path, info: SourceInfo) -> Any:
    """Parse a JSON file; missing or corrupt files raise :class:`DataError` naming the file."""
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except FileNotFoundError:
        raise missing_file_error(path, info) from None
    except json.JSONDecodeError as exc:
        raise corrupt_file_error(path, info, f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise corrupt_file_error(path, info, f"not UTF-8 text: {exc.reason}") from None


def read_js_object(path: Path, info: SourceInfo) -> Any:
    """Parse a project page's data file ``acc={...}`` (a JavaScript assignment of a JSON object)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise missing_file_error(path, info) from None
    except UnicodeDecodeError as exc:
        raise corrupt_file_error(path, info, f"not UTF-8 text: {exc.reason}") from None
    start = text.find("{")
    if start < 0 or "=" not in text[:start]:
        raise corrupt_file_error(path, info, "expected a JavaScript assignment 'acc={...}'")
    body = text[start:].rstrip().rstrip(";")
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise corrupt_file_error(path, info, f"{exc.msg} at character {exc.pos + start}") from None


def strict_numbers(values: Any, path: Path, info: SourceInfo, what: str) -> np.ndarray:
    """A JSON value (number, ``null`` or nested lists of them) as float64, refusing booleans.

    ``np.array([True], float)`` is ``1.0``: a JSON ``true`` where an accuracy belongs would read
    as 100 %, so booleans (and strings) are refused; ``null`` is NaN.
    """

    def ok(v: Any) -> bool:
        if isinstance(v, list):
            return all(ok(x) for x in v)
        return v is None or (isinstance(v, int | float) and not isinstance(v, bool))

    if not ok(values):
        raise corrupt_file_error(path, info, f"{what}: values must be numbers, found {_first_bad(values)!r}")
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise corrupt_file_error(path, info, f"{what}: values are not numbers of one shape") from None


def _first_bad(values: Any) -> Any:
    if isinstance(values, list):
        for v in values:
            bad = _first_bad(v)
            if bad is not None:
                return bad
        return None
    if values is None or (isinstance(values, int | float) and not isinstance(values, bool)):
        return None
    return values


def check_fraction(values: np.ndarray, path: Path, info: SourceInfo, what: str) -> None:
    """Accuracies are fractions: refuse a file whose numbers are not in [0, 1]."""
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise corrupt_file_error(
            path, info, f"{what} has values outside [0, 1] (min {finite.min():g}, max {finite.max():g})"
        )


class BenchmarkSource(ABC):
    """One benchmark's results for the NAS-Bench-201 space, under robnas metric names.

    Subclasses set :attr:`info`, list their files and implement :meth:`convert`; everything
    else (cache, queries, frames, top-k) lives here. Values are accuracies as fractions in [0, 1].
    """

    info: ClassVar[SourceInfo]
    version: ClassVar[int] = 1
    """Bump when an adapter's conversion changes, to invalidate old caches."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = data_root(root)
        self.folder = self.root / self.info.folder
        self._table: Table | None = None

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def required_files(self) -> list[Path]:
        """Files that must exist."""

    def optional_files(self) -> list[Path]:
        """Files that are read when present (they add metrics)."""
        return []

    @abstractmethod
    def convert(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        """Read the released files: ``(metrics, matrix [n, 15625] float32, uids [15625])``."""

    def convert_seeds(self) -> tuple[str, ...]:
        """Seed label of every row of the last :meth:`convert` (default: all :data:`MEAN`).

        A source with per-seed rows sets ``self._seed_labels`` in :meth:`convert`.
        """
        return tuple(getattr(self, "_seed_labels", ()))

    # ------------------------------------------------------------------ files and cache
    @property
    def name(self) -> str:
        return self.info.name

    def files(self) -> list[tuple[Path, bool, bool]]:
        """``(path, found, required)`` for every file this source reads."""
        req = [(p, p.is_file(), True) for p in self.required_files()]
        opt = [(p, p.is_file(), False) for p in self.optional_files()]
        return req + opt

    def available(self) -> bool:
        """Whether all required files are present."""
        return all(found for _, found, required in self.files() if required)

    def _fingerprint(self) -> str:
        parts: list[Any] = [CACHE_FORMAT, self.name, self.version, str(self.folder.resolve())]
        for path, found, required in self.files():
            if not found:
                if required:
                    raise missing_file_error(path, self.info)
                parts.append([str(path.relative_to(self.folder)), None])
                continue
            st = path.stat()
            parts.append([str(path.relative_to(self.folder)), st.st_size, st.st_mtime_ns])
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]

    def cache_paths(self) -> tuple[Path, Path]:
        """The cache files (``.npy`` matrix, ``.json`` metric list) for the current source files."""
        base = cache_dir() / "benchmarks" / f"{self.name}-{self._fingerprint()}"
        return base.with_suffix(".npy"), base.with_suffix(".json")

    def _read_cache(self, npy: Path, meta: Path) -> Table | None:
        try:
            with open(meta, encoding="utf-8") as fh:
                info = json.load(fh)
            matrix = np.load(npy, allow_pickle=False)
        except (OSError, ValueError):
            return None
        try:
            metrics = tuple(parse_metric(m) for m in info["metrics"])
            uids = np.asarray(info["uids"], dtype=np.int32)
            seeds = tuple(str(s) for s in info.get("seeds", ()))
        except (KeyError, TypeError, ValueError, UnknownMetricError):
            return None
        if seeds and len(seeds) != len(metrics):
            return None
        if (
            matrix.dtype != np.float32
            or matrix.shape != (len(metrics), NUM_ARCHS)
            or uids.shape != (NUM_ARCHS,)
        ):
            return None
        return Table(metrics, matrix, uids, seeds)

    def _write_cache(self, table: Table, npy: Path, meta: Path) -> None:
        npy.parent.mkdir(parents=True, exist_ok=True)
        for old in npy.parent.glob(f"{self.name}-*"):
            if old.name not in (npy.name, meta.name) and old.suffix in (".npy", ".json"):
                old.unlink(missing_ok=True)
        _atomic_write(npy, lambda fh: np.save(fh, table.matrix, allow_pickle=False))
        payload = {
            "source": self.name,
            "metrics": [str(m) for m in table.metrics],
            "uids": table.uids.tolist(),
            "seeds": list(table.seeds),
        }
        _atomic_write(meta, lambda fh: fh.write(json.dumps(payload).encode()))

    def load(self, refresh: bool = False) -> Table:
        """The source's table, from the binary cache (converted from the released files if needed)."""
        if self._table is not None and not refresh:
            return self._table
        npy, meta = self.cache_paths()
        table = None if refresh else self._read_cache(npy, meta)
        if table is None:
            metrics, matrix, uids = self.convert()
            matrix = np.ascontiguousarray(matrix, dtype=np.float32)
            table = Table(tuple(metrics), matrix, np.asarray(uids, dtype=np.int32), self.convert_seeds())
            with contextlib.suppress(OSError):  # a read-only cache directory only costs speed
                self._write_cache(table, npy, meta)
        self._table = table
        return table

    # ------------------------------------------------------------------ queries
    def metrics(self) -> list[Metric]:
        """All metrics this source provides (seed means; see :meth:`seeds` for per-seed values)."""
        return list(self.load().mean_metrics)

    def seeds(self) -> list[str]:
        """Training seeds with values of their own (``[]`` when the files hold only means)."""
        return self.load().seed_labels()

    def _seed(self, seed: str | int | None) -> str:
        """Normalise a seed choice: ``None``/``"mean"`` -> :data:`MEAN`, else a known seed label."""
        if seed is None or str(seed).strip().lower() == MEAN:
            return MEAN
        label = str(seed).strip()
        known = self.seeds()
        if label not in known:
            if not known:
                raise ConfigError(
                    f"{self.name} has no per-seed values in the files it read "
                    f"({self.reading()}); only seed means (--seed mean)"
                )
            raise ConfigError(f"{self.name} has no seed {label!r}; seeds: {', '.join(known)}, mean or all")
        return label

    def reading(self) -> str:
        """Which files the values come from, in words (sources with alternative layouts override)."""
        return ", ".join(p.name for p in self.required_files())

    def has(self, metric: Metric | str) -> bool:
        return str(parse_metric(metric)) in self.load().rows

    def _row(self, metric: Metric | str, seed: str = MEAN) -> int:
        table = self.load()
        key = str(parse_metric(metric))
        row = table.rows.get(key)
        if row is not None and seed != MEAN:
            seeded = table.seed_rows.get((key, seed))
            if seeded is None:
                raise UnknownMetricError(
                    f"{self.name} has {key} only as one value, not per seed (use --seed mean)"
                )
            return seeded
        if row is None:
            close = close_matches(key, table.rows)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise UnknownMetricError(
                f"{self.name} has no metric {key}{hint} (see `robnas bench info {self.name}`)"
            )
        return row

    def values(self, metric: Metric | str, seed: str | int | None = None) -> np.ndarray:
        """Values of one metric for all 15,625 indices (read-only float32 view; NaN where absent).

        ``seed`` (``None`` or ``"mean"``: the mean) picks one training seed where the source has them.
        """
        return self.load().matrix[self._row(metric, self._seed(seed))]

    def uids(self) -> np.ndarray:
        """``uids()[i]`` is the isomorphism-class representative of index ``i``."""
        return self.load().uids

    def unique_indices(self) -> np.ndarray:
        uids = self.uids()
        return np.flatnonzero(uids == np.arange(NUM_ARCHS))

    def query(
        self,
        arch: Arch | str | int,
        metrics: Iterable[Metric | str] | Metric | str | None = None,
        seed: str | int | None = None,
    ) -> dict[str, float]:
        """``{metric name: value}`` for one architecture (an :class:`Arch`, string, index or uid).

        ``seed`` picks one training seed (see :meth:`seeds`); the default is the seed mean.
        """
        index = Arch.parse(arch).index
        table = self.load()
        label = self._seed(seed)
        chosen = self._chosen(metrics, label)
        # str() of a float32 is its shortest exact spelling: 0.856, not 0.8560000061988831
        return {str(m): float(str(table.matrix[self._row(m, label), index])) for m in chosen}

    def query_seeds(
        self, arch: Arch | str | int, metrics: Iterable[Metric | str] | Metric | str | None = None
    ) -> dict[str, dict[str, float]]:
        """``{metric: {seed: value, ..., "mean": value}}``: every seed of one architecture.

        A metric released as one run (NAS-RobBench-201's AutoAttack) has only ``"mean"``.
        """
        index = Arch.parse(arch).index
        table = self.load()
        out: dict[str, dict[str, float]] = {}
        for m in self._chosen(metrics):
            key = str(m)
            per = {
                s: float(str(table.matrix[table.seed_rows[(key, s)], index]))
                for s in table.seed_labels()
                if (key, s) in table.seed_rows
            }
            per[MEAN] = float(str(table.matrix[self._row(m), index]))
            out[key] = per
        return out

    def _chosen(
        self, metrics: Iterable[Metric | str] | Metric | str | None, seed: str = MEAN
    ) -> list[Metric]:
        """The metrics asked for; ``None``: all of them (for one seed: all that have that seed)."""
        if metrics is None:
            table = self.load()
            if seed != MEAN:
                return [m for m in table.mean_metrics if (str(m), seed) in table.seed_rows]
            return list(table.mean_metrics)
        if isinstance(metrics, str | Metric):  # one name, not its characters
            return [parse_metric(metrics)]
        return [parse_metric(m) for m in metrics]

    def frame(
        self,
        metrics: Iterable[Metric | str] | Metric | str | None = None,
        unique: bool = True,
        arch_columns: bool = False,
        seed: str | int | None = None,
    ) -> pd.DataFrame:
        """A DataFrame indexed by NAS-Bench-201 index, one column per metric.

        ``unique=True`` keeps the 6,466 class representatives (index == uid); ``arch_columns``
        adds ``uid`` and ``arch`` (the NAS-Bench-201 string) in front; ``seed`` picks one
        training seed (default: the mean; the spread over seeds is the ``.../seed-std`` metric).
        """
        import pandas as pd

        table = self.load()
        label = self._seed(seed)
        chosen = self._chosen(metrics, label)
        rows = [self._row(m, label) for m in chosen]
        idx = self.unique_indices() if unique else np.arange(NUM_ARCHS)
        data = table.matrix[rows][:, idx].T
        df = pd.DataFrame(data, index=pd.Index(idx, name="index"), columns=[str(m) for m in chosen])
        if arch_columns:
            df.insert(0, "arch", [Arch.from_index(int(i)).string for i in idx])
            df.insert(0, "uid", table.uids[idx])
        return df

    def top(
        self, metric: Metric | str, k: int = 10, unique: bool = True, seed: str | int | None = None
    ) -> pd.DataFrame:
        """The ``k`` architectures with the highest value of ``metric`` (ties: smaller index first)."""
        import pandas as pd

        if k < 1:
            raise ConfigError(f"k must be a positive number of architectures, got {k}")
        vals = self.values(metric, seed)
        idx = self.unique_indices() if unique else np.arange(NUM_ARCHS)
        v = vals[idx]
        keep = np.isfinite(v)
        idx, v = idx[keep], v[keep]
        order = np.lexsort((idx, -v))[:k]
        chosen = idx[order]
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(chosen) + 1),
                "index": chosen,
                "uid": self.uids()[chosen],
                "arch": [Arch.from_index(int(i)).string for i in chosen],
                str(parse_metric(metric)): v[order],
            }
        )

    def describe(self) -> dict[str, Any]:
        """Metadata and file status as a plain dict (for ``robnas bench info``)."""
        i = self.info
        out: dict[str, Any] = {
            "name": i.name,
            "title": i.title,
            "citation": i.citation,
            "url": i.url,
            "licence": i.licence,
            "training_regime": i.regime,
            "protocol": i.protocol,
            "isomorphs_share_values": i.shares_isomorphs,
            "unit": "accuracy as a fraction in [0, 1]",
            "folder": str(self.folder),
            "files": [{"path": str(p), "found": found, "required": req} for p, found, req in self.files()],
            "reads": self.reading(),
        }
        if i.notes:
            out["notes"] = i.notes
        return out


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
