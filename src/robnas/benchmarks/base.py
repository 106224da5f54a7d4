"""The interface every benchmark source implements, and its binary cache.

A source (Jung et al. 2023, NAS-RobBench-201, NATS-Bench, later the project's own results store)
reads its released files once, maps its columns onto robnas metric names (:mod:`.metrics`) and
returns one float32 matrix ``[n_metrics, 15625]`` in NAS-Bench-201 index order, NaN where a value
is absent. :class:`BenchmarkSource` stores that matrix in :func:`robnas.paths.cache_dir` as a
``.npy`` file plus a JSON file with the metric names, keyed by the SHA-256 of the source files'
contents (so a changed file invalidates it, even one replaced with the same size and modification
time; hashing the released files costs tens of milliseconds), written atomically. Every later start
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
from robnas.errors import DataError
from robnas.paths import cache_dir, data_root
from robnas.spaces.nb201 import NUM_ARCHS, Arch

if TYPE_CHECKING:
    import pandas as pd

CACHE_FORMAT = 1
REGIMES = ("standard", "adversarial", "initialisation")


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


@dataclass
class Table:
    """A source's values: ``matrix[i]`` holds metric ``metrics[i]`` for all 15,625 indices."""

    metrics: tuple[Metric, ...]
    matrix: np.ndarray
    uids: np.ndarray
    rows: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = {str(m): i for i, m in enumerate(self.metrics)}
        self.matrix.flags.writeable = False
        self.uids.flags.writeable = False


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


def check_fraction(values: np.ndarray, path: Path, info: SourceInfo, what: str) -> None:
    """Accuracies are fractions: refuse a file whose numbers are not in [0, 1]."""
    finite = values[np.isfinite(values)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise corrupt_file_error(
            path, info, f"{what} has values outside [0, 1] (min {finite.min():g}, max {finite.max():g})"
        )


def _content_hash(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise DataError(f"cannot read the benchmark file {path}: {exc.strerror or exc}") from None


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
            parts.append([str(path.relative_to(self.folder)), _content_hash(path)])
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
        except (KeyError, TypeError, ValueError, UnknownMetricError):
            return None
        if (
            matrix.dtype != np.float32
            or matrix.shape != (len(metrics), NUM_ARCHS)
            or uids.shape != (NUM_ARCHS,)
        ):
            return None
        return Table(metrics, matrix, uids)

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
            table = Table(tuple(metrics), matrix, np.asarray(uids, dtype=np.int32))
            with contextlib.suppress(OSError):  # a read-only cache directory only costs speed
                self._write_cache(table, npy, meta)
        self._table = table
        return table

    # ------------------------------------------------------------------ queries
    def metrics(self) -> list[Metric]:
        """All metrics this source provides."""
        return list(self.load().metrics)

    def has(self, metric: Metric | str) -> bool:
        return str(parse_metric(metric)) in self.load().rows

    def _row(self, metric: Metric | str) -> int:
        table = self.load()
        key = str(parse_metric(metric))
        row = table.rows.get(key)
        if row is None:
            close = close_matches(key, table.rows)
            hint = f"; close matches: {', '.join(close)}" if close else ""
            raise UnknownMetricError(
                f"{self.name} has no metric {key}{hint} (see `robnas bench info {self.name}`)"
            )
        return row

    def values(self, metric: Metric | str) -> np.ndarray:
        """Values of one metric for all 15,625 indices (read-only float32 view; NaN where absent)."""
        return self.load().matrix[self._row(metric)]

    def uids(self) -> np.ndarray:
        """``uids()[i]`` is the isomorphism-class representative of index ``i``."""
        return self.load().uids

    def unique_indices(self) -> np.ndarray:
        uids = self.uids()
        return np.flatnonzero(uids == np.arange(NUM_ARCHS))

    def query(
        self, arch: Arch | str | int, metrics: Iterable[Metric | str] | None = None
    ) -> dict[str, float]:
        """``{metric name: value}`` for one architecture (an :class:`Arch`, string, index or uid)."""
        index = Arch.parse(arch).index
        table = self.load()
        chosen = table.metrics if metrics is None else [parse_metric(m) for m in metrics]
        # str() of a float32 is its shortest exact spelling: 0.856, not 0.8560000061988831
        return {str(m): float(str(table.matrix[self._row(m), index])) for m in chosen}

    def frame(
        self,
        metrics: Iterable[Metric | str] | None = None,
        unique: bool = True,
        arch_columns: bool = False,
    ) -> pd.DataFrame:
        """A DataFrame indexed by NAS-Bench-201 index, one column per metric.

        ``unique=True`` keeps the 6,466 class representatives (index == uid); ``arch_columns``
        adds ``uid`` and ``arch`` (the NAS-Bench-201 string) in front.
        """
        import pandas as pd

        table = self.load()
        chosen = list(table.metrics) if metrics is None else [parse_metric(m) for m in metrics]
        rows = [self._row(m) for m in chosen]
        idx = self.unique_indices() if unique else np.arange(NUM_ARCHS)
        data = table.matrix[rows][:, idx].T
        df = pd.DataFrame(data, index=pd.Index(idx, name="index"), columns=[str(m) for m in chosen])
        if arch_columns:
            df.insert(0, "arch", [Arch.from_index(int(i)).string for i in idx])
            df.insert(0, "uid", table.uids[idx])
        return df

    def top(self, metric: Metric | str, k: int = 10, unique: bool = True) -> pd.DataFrame:
        """The ``k`` architectures with the highest value of ``metric`` (ties: smaller index first)."""
        import pandas as pd

        if k < 1:
            raise ValueError(f"k must be a positive number of architectures, got {k}")
        vals = self.values(metric)
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
