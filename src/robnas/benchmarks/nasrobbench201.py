"""Wu, Liu, Simon-Gabriel, Chrysos, Cevher, "Robust NAS under adversarial training: benchmark,
theory, and beyond" (NAS-RobBench-201), ICLR 2024.

The 6,466 non-isomorphic NAS-Bench-201 architectures, **adversarially trained** (PGD-7, epsilon
8/255, step 2/255, 50 epochs, SGD momentum 0.9, weight decay 5e-4, batch 256, one-cycle learning
rate up to 0.1; C=16, N=5) on CIFAR-10, CIFAR-100 and ImageNet16-120, then evaluated clean, with
FGSM and PGD at 3/255 and 8/255, and with AutoAttack at 8/255.

This adapter reads the project page's data file ``NAS-RobBench-201_html.json``
(https://tt2408.github.io/nasrobbench201hp/), a JavaScript assignment ``acc={...}``:
``acc[""]`` names 18 columns ``<dataset>#<column>``, ``acc[str(uid)]`` holds the 18 values of a
class representative and ``acc[str(index)]`` of any other index is the string of its uid. The
values are fractions in [0, 1] (means over 3 seeds; AutoAttack one run).

Column mapping: ``val_acc -> clean``, ``val_fgsm_3_acc -> fgsm@3``, ``val_pgd_3_acc -> pgd@3``,
``val_fgsm_8_acc -> fgsm@8``, ``val_pgd_8_acc -> pgd@8``, ``autoattack -> autoattack@8``;
dataset ``imagenet -> imagenet16-120``. The full per-seed release (``NAS-RobBench-201_all.json``)
belongs in a source of its own (subclass :class:`NASRobBench201`, override ``required_files``
and ``convert``, register it under another name), so that seed-level and mean values are never
mixed in one column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robnas.benchmarks.base import (
    BenchmarkSource,
    SourceInfo,
    check_fraction,
    corrupt_file_error,
    read_js_object,
)
from robnas.benchmarks.metrics import Metric, parse_metric
from robnas.benchmarks.registry import register
from robnas.spaces.nb201 import NUM_ARCHS, uid_table

COLUMNS: dict[str, str] = {
    "val_acc": "clean",
    "val_fgsm_3_acc": "fgsm@3",
    "val_pgd_3_acc": "pgd@3",
    "val_fgsm_8_acc": "fgsm@8",
    "val_pgd_8_acc": "pgd@8",
    "autoattack": "autoattack@8",
}
DATASETS: dict[str, str] = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet": "imagenet16-120"}
FILE = "NAS-RobBench-201_html.json"

INFO = SourceInfo(
    name="nasrobbench201",
    title="NAS-RobBench-201: adversarially trained NAS-Bench-201 (project page values)",
    citation=(
        "Y. Wu, F. Liu, C.-J. Simon-Gabriel, G. G. Chrysos, V. Cevher. Robust NAS under adversarial "
        "training: benchmark, theory, and beyond. ICLR 2024."
    ),
    url="https://tt2408.github.io/nasrobbench201hp/",
    licence="no licence stated by the authors; cite the paper",
    regime="adversarial",
    protocol=(
        "adversarial training: PGD-7, eps 8/255, step 2/255, 50 epochs, SGD momentum 0.9, wd 5e-4, "
        "batch 256, one-cycle lr 0.1, C=16 N=5; evaluated clean, FGSM/PGD at 3 and 8/255, AutoAttack at 8/255"
    ),
    folder="nas-robbench-201",
    shares_isomorphs=True,
    notes="values are means over 3 seeds (AutoAttack: one run)",
)


@register
class NASRobBench201(BenchmarkSource):
    """NAS-RobBench-201 (Wu et al., ICLR 2024): adversarially trained networks, seed means."""

    info = INFO
    version = 1

    def required_files(self) -> list[Path]:
        return [self.folder / FILE]

    def convert(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        path = self.folder / FILE
        acc = read_js_object(path, self.info)
        if not isinstance(acc, dict) or "" not in acc:
            raise corrupt_file_error(path, self.info, 'no column list acc[""]')
        columns = acc[""]
        uids = np.asarray(uid_table(), dtype=np.int32)
        reps = np.flatnonzero(uids == np.arange(NUM_ARCHS))
        for i in range(NUM_ARCHS):
            entry = acc.get(str(i))
            if entry is None:
                raise corrupt_file_error(path, self.info, f"no entry for index {i}")
            if isinstance(entry, str | int) and int(entry) != uids[i]:
                raise corrupt_file_error(
                    path,
                    self.info,
                    f"index {i} points to {entry}, but its NAS-Bench-201 class uid is {uids[i]}",
                )
            if isinstance(entry, list) and uids[i] != i:
                raise corrupt_file_error(
                    path, self.info, f"index {i} has values but is not a class representative"
                )
        try:
            table = np.array([acc[str(u)] for u in reps], dtype=np.float64)
        except (TypeError, ValueError):
            raise corrupt_file_error(path, self.info, "values are not lists of numbers") from None
        if table.shape != (len(reps), len(columns)):
            raise corrupt_file_error(
                path, self.info, f"rows have {table.shape[1:]} values, expected {len(columns)}"
            )
        check_fraction(table, path, self.info, "accuracy")
        pos = np.searchsorted(reps, uids)
        metrics: list[Metric] = []
        for col in columns:
            ds_file, _, key = str(col).partition("#")
            if ds_file not in DATASETS or key not in COLUMNS:
                raise corrupt_file_error(path, self.info, f"unknown column {col!r}")
            metrics.append(parse_metric(f"{DATASETS[ds_file]}/{COLUMNS[key]}"))
        matrix = table[pos].T.astype(np.float32)
        return metrics, matrix, uids
