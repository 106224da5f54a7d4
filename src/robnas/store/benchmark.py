"""A results store as a source of :mod:`robnas.benchmarks` (``get_source("store", root=DB)``).

``root`` is the database file written by ``robnas build`` (or a data root that holds
``builds/build.sqlite``). The values are those of :class:`robnas.store.StoreSource`: means over
seeds, shared by isomorphic architectures, NaN where nothing was built. The file changes while a
build runs, so this source reads the database on every :meth:`load` instead of using the
benchmarks' binary cache. Metric names that the benchmarks cannot read are left out.

Choice: the source declares the ``standard`` regime; a build with an adversarial training preset
is told apart by its metric names' protocol hash in the store, not by this flag.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from robnas.benchmarks.base import BenchmarkSource, SourceInfo, Table
from robnas.benchmarks.metrics import Metric, UnknownMetricError, parse_metric
from robnas.benchmarks.registry import register
from robnas.store.db import ResultStore
from robnas.store.source import StoreSource

INFO = SourceInfo(
    name="store",
    title="A benchmark built with `robnas build` (the project's own results database)",
    citation="your own build; cite the protocol in its configuration (robnas build status DB)",
    url="https://github.com/robnas (robnas build)",
    licence="yours",
    regime="standard",
    protocol="as in the build configuration stored in the database",
    folder="builds",
    shares_isomorphs=True,
    notes="values are means over seeds; NaN for architectures not built",
)


@register
class StoreBenchmark(BenchmarkSource):
    """The results database of a build, read as a benchmark source."""

    info = INFO

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        given = Path(root).expanduser() if root is not None and str(root) else None
        if given is not None and (given.is_file() or given.suffix in (".sqlite", ".db", ".sqlite3")):
            self.root = given.parent
            self.folder = given.parent
            self.db = given
            self._table = None
            return
        super().__init__(root)
        self.db = self.folder / "build.sqlite"

    def required_files(self) -> list[Path]:
        return [self.db]

    def convert(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        with ResultStore(self.db, readonly=True) as store:
            src = StoreSource(store)
            metrics: list[Metric] = []
            rows = []
            for name in src.metrics():
                try:
                    metric = parse_metric(name)
                except UnknownMetricError:
                    continue
                metrics.append(metric)
                rows.append(src.values(name).astype(np.float32))
            uids = src.uids()
        matrix = np.stack(rows) if rows else np.zeros((0, len(uids)), dtype=np.float32)
        return metrics, matrix, uids

    def load(self, refresh: bool = False) -> Table:
        """Read the database (no binary cache: the file changes while a build runs)."""
        if self._table is None or refresh:
            if not self.db.is_file():
                from robnas.benchmarks.base import missing_file_error

                raise missing_file_error(self.db, self.info)
            metrics, matrix, uids = self.convert()
            self._table = Table(
                tuple(metrics), np.ascontiguousarray(matrix), np.asarray(uids, dtype=np.int32)
            )
        return self._table
