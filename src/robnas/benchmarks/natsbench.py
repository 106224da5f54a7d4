"""NATS-Bench (Dong, Liu, Musial, Gabrys, TPAMI 2021), topology search space: clean accuracy.

Reads ``nats-bench/nats_bench.csv``: the clean **test accuracy in percent** after 200 epochs of
**standard training** (``hp=200``) for all 15,625 NAS-Bench-201 architectures on CIFAR-10,
CIFAR-100 and ImageNet16-120, row ``i`` = index ``i``, plus the architecture string (checked
against robnas's index order). Percentages are divided by 100: robnas accuracies are fractions.

Column mapping: ``CIFAR10TestAccuracy200Epochs -> cifar10/clean``,
``CIFAR100TestAccuracy200Epochs -> cifar100/clean``,
``ImageNetTestAccuracy200Epochs -> imagenet16-120/clean``.

Unlike the robustness benchmarks, NATS-Bench trained every index separately, so isomorphic
architectures have their own (different) values; ``frame(unique=True)`` shows the representative's.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from robnas.benchmarks.base import BenchmarkSource, SourceInfo, corrupt_file_error, missing_file_error
from robnas.benchmarks.metrics import Metric, parse_metric
from robnas.benchmarks.registry import register
from robnas.spaces.nb201 import NUM_ARCHS, Arch, uid_table

COLUMNS: dict[str, str] = {
    "CIFAR10TestAccuracy200Epochs": "cifar10/clean",
    "CIFAR100TestAccuracy200Epochs": "cifar100/clean",
    "ImageNetTestAccuracy200Epochs": "imagenet16-120/clean",
}
FILE = "nats_bench.csv"

INFO = SourceInfo(
    name="natsbench",
    title="NATS-Bench topology search space (= NAS-Bench-201), clean test accuracy after 200 epochs",
    citation=(
        "X. Dong, L. Liu, K. Musial, B. Gabrys. NATS-Bench: Benchmarking NAS Algorithms for Architecture "
        "Topology and Size. IEEE TPAMI 2021."
    ),
    url="https://github.com/D-X-Y/NATS-Bench",
    licence="MIT",
    regime="standard",
    protocol="standard training, 200 epochs (hp=200), SGD with cosine schedule; clean test accuracy",
    folder="nats-bench",
    shares_isomorphs=False,
    notes="every index was trained separately: isomorphic architectures do not share values",
)


@register
class NATSBench(BenchmarkSource):
    """Clean accuracy of NATS-Bench's topology space (Dong et al., TPAMI 2021)."""

    info = INFO
    version = 1

    def required_files(self) -> list[Path]:
        return [self.folder / FILE]

    def convert(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        path = self.folder / FILE
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
        except FileNotFoundError:
            raise missing_file_error(path, self.info) from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise corrupt_file_error(path, self.info, str(exc)) from None
        if not rows:
            raise corrupt_file_error(path, self.info, "the file is empty")
        header, body = rows[0], rows[1:]
        if len(body) != NUM_ARCHS:
            raise corrupt_file_error(path, self.info, f"{len(body)} rows, expected {NUM_ARCHS}")
        missing = [c for c in COLUMNS if c not in header]
        if missing or "ArchitectureString" not in header:
            raise corrupt_file_error(path, self.info, f"missing columns {missing or ['ArchitectureString']}")
        arch_col = header.index("ArchitectureString")
        metrics: list[Metric] = []
        matrix = np.empty((len(COLUMNS), NUM_ARCHS), dtype=np.float32)
        cols = [header.index(c) for c in COLUMNS]
        try:
            values = np.array([[float(r[c]) for c in cols] for r in body], dtype=np.float64)
        except (ValueError, IndexError) as exc:
            raise corrupt_file_error(path, self.info, f"a row is truncated or not numeric ({exc})") from None
        if not np.all((values >= 0) & (values <= 100)):
            raise corrupt_file_error(path, self.info, "accuracies outside 0..100 %")
        for i in (0, 1, NUM_ARCHS // 2, NUM_ARCHS - 1):  # index order spot check
            if body[i][arch_col] != Arch.from_index(i).string:
                raise corrupt_file_error(path, self.info, f"row {i} is not NAS-Bench-201 index {i}")
        for j, name in enumerate(COLUMNS.values()):
            metrics.append(parse_metric(name))
            matrix[j] = values[:, j] / 100.0
        return metrics, matrix, np.asarray(uid_table(), dtype=np.int32)
