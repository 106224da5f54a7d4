"""Zero-cost proxy scores of NASLib (White et al., "A Deeper Look at Zero-Cost Proxies for
Lightweight NAS", ICLR blog track 2022; NASLib, Apache-2.0).

Reads ``zero-cost/zc_nasbench201.json``: for about 725 NAS-Bench-201 architectures per dataset
(cifar10, cifar100, ImageNet16-120), proxies computed **at initialisation** by NASLib (flops,
params, synflow, grasp, fisher, grad_norm, l2_norm, plain, nwot, epe_nas, jacov, snip: each
``{score, time}``) and NASLib's ``val_accuracy`` (percent, standard training). Keys are NASLib
operation tuples (their op order and edge order, see :meth:`robnas.spaces.nb201.Arch.from_naslib`);
the ``idx`` field is not the NAS-Bench-201 index and is ignored.

Metric names: ``<dataset>/<proxy>`` (kind ``other``), e.g. ``cifar10/synflow``, ``cifar10/nwot``,
and ``<dataset>/val_accuracy`` as a fraction. Choice: proxies were computed per architecture, not
per isomorphism class; a value is written at the architecture's own index and, when the class
representative has no value of its own, at the representative too, so that searches over unique
architectures (which read representatives) can use it. Every other index is NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robnas.benchmarks.base import BenchmarkSource, SourceInfo, corrupt_file_error, read_json
from robnas.benchmarks.metrics import Metric, parse_metric
from robnas.benchmarks.registry import register
from robnas.spaces.nb201 import NUM_ARCHS, Arch, uid_table

FILE = "zc_nasbench201.json"
DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16-120"}
PROXIES = (
    "flops",
    "params",
    "synflow",
    "grasp",
    "fisher",
    "grad_norm",
    "l2_norm",
    "plain",
    "nwot",
    "epe_nas",
    "jacov",
    "snip",
)

INFO = SourceInfo(
    name="zerocost",
    title="NASLib zero-cost proxies of NAS-Bench-201 architectures (scores at initialisation)",
    citation=(
        "C. White, M. Khodak, R. Tu, S. Shah, S. Bubeck, D. Dey. A Deeper Look at Zero-Cost Proxies for "
        "Lightweight NAS. ICLR Blog Track 2022; NASLib (github.com/automl/NASLib)."
    ),
    url="https://github.com/automl/NASLib",
    licence="Apache-2.0",
    regime="initialisation",
    protocol="proxies of untrained networks (C=16, N=5) on one batch, as computed by NASLib",
    folder="zero-cost",
    shares_isomorphs=False,
    notes="about 725 architectures per dataset; NaN elsewhere",
)


@register
class ZeroCost(BenchmarkSource):
    """NASLib's precomputed zero-cost proxies (a baseline for robnas's own measures)."""

    info = INFO
    version = 1

    def required_files(self) -> list[Path]:
        return [self.folder / FILE]

    def convert(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        path = self.folder / FILE
        data = read_json(path, self.info)
        if not isinstance(data, dict):
            raise corrupt_file_error(path, self.info, "expected a JSON object keyed by dataset")
        uids = uid_table()
        metrics: list[Metric] = []
        rows: list[np.ndarray] = []
        for src_name, dataset in DATASETS.items():
            entries = data.get(src_name)
            if not isinstance(entries, dict) or not entries:
                raise corrupt_file_error(path, self.info, f"no entries for dataset {src_name!r}")
            table = {p: np.full(NUM_ARCHS, np.nan, dtype=np.float32) for p in (*PROXIES, "val_accuracy")}
            for key, entry in entries.items():
                try:
                    index = Arch.from_naslib(key).index
                    # a proxy NASLib did not compute for an entry is missing (NaN), not an error
                    values = {p: _number(entry[p]["score"]) if p in entry else np.nan for p in PROXIES}
                    values["val_accuracy"] = _number(entry["val_accuracy"]) / 100.0
                except (ValueError, KeyError, TypeError) as exc:
                    raise corrupt_file_error(
                        path, self.info, f"entry {key!r} of {src_name} ({exc})"
                    ) from None
                rep = uids[index]
                for name, value in values.items():
                    table[name][index] = value
                    if np.isnan(table[name][rep]) or rep == index:
                        table[name][rep] = value
            for name, row in table.items():
                metrics.append(parse_metric(f"{dataset}/{name}"))
                rows.append(row)
        return metrics, np.stack(rows), np.asarray(uids, dtype=np.int32)


def _number(value: object) -> float:
    """A JSON number as float; ``true``/``false`` and strings are refused (``float(True)`` is 1.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)
