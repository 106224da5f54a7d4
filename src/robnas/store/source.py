"""The results store as a benchmark source: one value per architecture and metric.

:class:`StoreSource` answers the same questions as the released benchmarks
(:mod:`robnas.benchmarks`): ``values(metric)`` is a float array over all 15,625 NAS-Bench-201
indices, NaN where nothing was measured, the mean over seeds where several were, and isomorphic
architectures share the value of their class (results are stored by uid).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from robnas.errors import ConfigError, RobnasError
from robnas.spaces import nb201
from robnas.spaces.nb201 import NUM_ARCHS
from robnas.store.db import ResultStore


class UnknownStoreMetricError(RobnasError, KeyError):
    """A metric the store holds no values for."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def uid_table() -> np.ndarray:
    """``uid_table()[i]`` is the uid of NAS-Bench-201 index ``i``."""
    return np.asarray(nb201.uid_table(), dtype=np.int32)


class StoreSource:
    """Read a results database as a benchmark source.

    ``protocol`` selects one protocol hash when the file holds results of several protocols for
    the same metric (otherwise asking for such a metric is an error that lists the hashes).
    """

    name = "store"

    def __init__(self, path: str | os.PathLike[str] | ResultStore, protocol: str | None = None) -> None:
        if isinstance(path, ResultStore):
            self.store = path
        else:
            self.store = ResultStore(Path(path), readonly=True)
        self.protocol = protocol
        self._uids: np.ndarray | None = None

    def metrics(self) -> list[str]:
        """Names of the metrics present in the store."""
        return self.store.metrics()

    def has(self, metric: str) -> bool:
        return str(metric) in self.metrics()

    def uids(self) -> np.ndarray:
        """``uids()[i]`` is the isomorphism-class representative of index ``i``."""
        if self._uids is None:
            self._uids = uid_table()
        return self._uids

    def _protocol_for(self, metric: str) -> str | None:
        found = self.store.protocols(metric)
        if not found:
            known = ", ".join(self.metrics()) or "none yet"
            raise UnknownStoreMetricError(
                f"{self.store.path} holds no values of metric {metric!r} (metrics present: {known})"
            )
        if self.protocol is not None:
            if self.protocol not in found:
                raise UnknownStoreMetricError(
                    f"{self.store.path} has metric {metric!r} under protocol(s) {', '.join(found)}, "
                    f"not {self.protocol}"
                )
            return self.protocol
        if len(found) > 1:
            raise ConfigError(
                f"{self.store.path} holds {metric!r} under {len(found)} protocols ({', '.join(found)}); "
                "choose one with protocol=..."
            )
        return found[0]

    def values(self, metric: str) -> np.ndarray:
        """Mean over seeds of ``metric`` for all 15,625 indices (float64; NaN where absent)."""
        metric = str(metric)
        means = self.store.seed_means(metric, self._protocol_for(metric))
        by_uid = np.full(NUM_ARCHS, np.nan)
        if means:
            keys = np.fromiter(means.keys(), dtype=np.int64, count=len(means))
            by_uid[keys] = np.fromiter(means.values(), dtype=np.float64, count=len(means))
        return by_uid[self.uids()]

    def measured_indices(self, metric: str) -> np.ndarray:
        """Indices that are class representatives and have a value of ``metric``."""
        vals = self.values(metric)
        return np.flatnonzero(np.isfinite(vals) & (self.uids() == np.arange(NUM_ARCHS)))
