"""One fast query API over robustness benchmarks of the NAS-Bench-201 space.

Sources (:func:`get_source`):

* ``jung2023`` -- Jung, Lukasik, Keuper, "Neural Architecture Design and Robustness: A Dataset",
  ICLR 2023 (standard-trained networks under attacks and corruptions);
* ``nasrobbench201`` -- Wu, Liu, Simon-Gabriel, Chrysos, Cevher, "Robust NAS under adversarial
  training: benchmark, theory, and beyond", ICLR 2024 (adversarially trained networks);
* ``natsbench`` -- Dong et al., "NATS-Bench", TPAMI 2021 (clean accuracy, standard training).

Every source names its metrics the same way (:mod:`robnas.benchmarks.metrics`), reports
accuracies as fractions in [0, 1], states its training regime, and is read from a binary cache
after its first use::

    from robnas.benchmarks import get_source
    jung = get_source("jung2023")
    jung.values("cifar10/pgd@8")          # np.ndarray[15625], NaN where absent
    jung.query("|nor_conv_3x3~0|+|...|", ["cifar10/clean", "cifar10/fog#3"])
    jung.frame(["cifar10/clean", "cifar10/pgd@1"])   # DataFrame over the 6,466 representatives
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from robnas.benchmarks.base import BenchmarkSource, SourceInfo
from robnas.benchmarks.metrics import Metric, UnknownMetricError, format_epsilon, parse_metric
from robnas.benchmarks.registry import UnknownSourceError, get_source, register, source_names, split_spec

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BenchmarkSource",
    "Metric",
    "SourceInfo",
    "UnknownMetricError",
    "UnknownSourceError",
    "format_epsilon",
    "frame",
    "get_source",
    "parse_metric",
    "register",
    "source_names",
    "split_spec",
]


def frame(
    specs: Iterable[str],
    root: str | os.PathLike[str] | None = None,
    unique: bool = True,
    protocol: str | None = None,
) -> pd.DataFrame:
    """Columns from several sources, named ``SOURCE:METRIC`` (e.g. ``"jung2023:cifar10/pgd@8"``).

    The source stays in the column name so that standard-trained and adversarially trained
    results are never confused. ``protocol`` (a hash or ``"latest"``) applies to the results store.
    """
    import pandas as pd

    sources: dict[str, BenchmarkSource] = {}
    columns = {}
    index = None
    for spec in specs:
        name, metric = split_spec(spec)
        if name not in sources:
            sources[name] = get_source(name, root, protocol=protocol if name == "store" else None)
        src = sources[name]
        part = src.frame([metric], unique=unique)
        index = part.index if index is None else index
        columns[f"{name}:{metric}"] = part.iloc[:, 0].reindex(index)
    if not columns:
        raise ValueError("no metrics given: name at least one SOURCE:METRIC")
    return pd.DataFrame(columns, index=index)
