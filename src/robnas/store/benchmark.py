"""A results store as a source of :mod:`robnas.benchmarks` (``get_source("store", root=DB)``).

``root`` is the database file written by ``robnas build`` (or a data root that holds
``builds/build.sqlite``). The values are those of :class:`robnas.store.StoreSource`: means over
seeds, shared by isomorphic architectures, NaN where nothing was built. The file changes while a
build runs, so this source reads the database on every :meth:`load` instead of using the
benchmarks' binary cache. Metric names that the benchmarks cannot read are left out, and so are
timings (``DATASET/train-seconds``: job metadata, see :meth:`StoreSource.job_metadata`).

One protocol at a time: ``protocol`` (``get_source("store", DB, protocol="latest")``, the CLI's
``--protocol HASH|latest``) chooses it; a store holding several protocols without a choice is
refused with their list. The training regime shown (``standard``, ``adversarial``, ``mixed``) is
that of the chosen protocol's training objective, read from the configuration stored with it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from robnas.benchmarks.base import BenchmarkSource, SourceInfo, Table
from robnas.benchmarks.metrics import Metric, UnknownMetricError, parse_metric
from robnas.benchmarks.registry import register
from robnas.errors import ConfigError, DataError
from robnas.store.db import ResultStore
from robnas.store.source import StoreSource

INFO = SourceInfo(
    name="store",
    title="A benchmark built with `robnas build` (the project's own results database)",
    citation="your own build; cite the protocol in its configuration (robnas build status DB)",
    url="",
    licence="yours",
    regime="unknown",
    protocol="as in the build configuration stored in the database",
    folder="builds",
    shares_isomorphs=True,
    notes="values are means over seeds of one protocol; NaN for architectures not built",
)


@register
class StoreBenchmark(BenchmarkSource):
    """The results database of a build, read as a benchmark source (one protocol at a time)."""

    info = INFO
    has_protocols = True

    def __init__(self, root: str | os.PathLike[str] | None = None, protocol: str | None = None) -> None:
        given = Path(root).expanduser() if root is not None and str(root) else None
        if given is not None and (given.is_file() or given.suffix in (".sqlite", ".db", ".sqlite3")):
            self.root = given.parent
            self.folder = given.parent
            self.db = given
            self._table = None
        else:
            super().__init__(root)
            self.db = self.folder / "build.sqlite"
        self.requested_protocol = protocol
        self.protocol: str | None = None
        self._protocols: list[dict[str, Any]] = []
        if self.db.is_file():
            with ResultStore(self.db, readonly=True) as store:
                src = StoreSource(store, protocol)
                self.protocol = src.protocol
                self._protocols = src.protocols()
                if self.protocol is None and len(self._protocols) == 1:
                    self.protocol = self._protocols[0]["protocol"]
        self.info = self._describe_info()  # type: ignore[misc]  # per database, not per class

    def _describe_info(self) -> SourceInfo:
        chosen = [p for p in self._protocols if p["protocol"] == self.protocol]
        if chosen:
            p = chosen[0]
            training = ", ".join(
                f"{k} {p[k]}" for k in ("objective", "preset", "epochs") if p.get(k) is not None
            )
            regime = p["regime"]
            protocol = (
                f"protocol {p['protocol']} ({p.get('kind') or 'build'} on {p.get('dataset')}; {training})"
            )
        elif self._protocols:
            regimes = sorted({p["regime"] for p in self._protocols})
            regime = regimes[0] if len(regimes) == 1 else "several"
            protocol = (
                f"{len(self._protocols)} protocols ({', '.join(p['protocol'] for p in self._protocols)}); "
                "choose one with --protocol HASH|latest"
            )
        else:
            regime, protocol = "unknown", INFO.protocol
        return replace(INFO, regime=regime, protocol=protocol, url=f"none: a local build ({self.db})")

    def protocols(self) -> list[dict[str, Any]]:
        """The protocols in the database (hash, regime, objective, preset, epochs, results)."""
        return list(self._protocols)

    def required_files(self) -> list[Path]:
        return [self.db]

    def reading(self) -> str:
        which = f"protocol {self.protocol}" if self.protocol else "all protocols"
        return f"the results database {self.db} ({which})"

    def _missing(self) -> DataError:
        return DataError(
            f"store: results database {self.db} not found; run `robnas build CONFIG` (or "
            "`robnas quickstart`) to create one, or point --root at its .sqlite file"
        )

    def convert(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        if self.protocol is None and len(self._protocols) > 1:
            listing = "; ".join(
                f"{p['protocol']} ({p['regime']}, {p.get('preset')}, {p.get('epochs')} epochs, "
                f"{p['results']} results)"
                for p in self._protocols
            )
            raise ConfigError(
                f"{self.db} holds {len(self._protocols)} protocols, whose results are never averaged: "
                f"{listing}; choose one with --protocol HASH or --protocol latest"
            )
        with ResultStore(self.db, readonly=True) as store:
            src = StoreSource(store, self.protocol)
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
                raise self._missing()
            metrics, matrix, uids = self.convert()
            self._table = Table(
                tuple(metrics), np.ascontiguousarray(matrix), np.asarray(uids, dtype=np.int32)
            )
        return self._table

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["chosen_protocol"] = self.protocol
        out["protocols"] = self.protocols()
        return out
