"""NATS-Bench (Dong, Liu, Musial, Gabrys, TPAMI 2021), topology search space (= NAS-Bench-201).

Two layouts are read, the official archive first:

1. **The official archive**, read through the ``nats_bench`` package (MIT; ``pip install
   'robnas[natsbench]'``): the folder ``nats-bench/NATS-tss-v1_0-3ffb9-simple/`` (``meta.pickle.pbz2``
   and one ``NNNNNN.pickle.pbz2`` per index, as extracted from ``NATS-tss-v1_0-3ffb9-simple.tar``)
   or a single ``nats-bench/NATS-tss-v1_0-3ffb9*.pickle.pbz2`` file holding the whole benchmark.
   The files are bz2-compressed pickles: robnas unpickles them with a restricted unpickler (plain
   containers and numbers only -- a file that references anything else is refused, nothing in it
   executes) and hands the resulting dictionaries to ``nats_bench.NATStopology``, whose results
   objects give the values.
2. **A CSV fallback** ``nats-bench/nats_bench.csv``: clean test accuracy after 200 epochs
   (``CIFAR10TestAccuracy200Epochs``, ``CIFAR100TestAccuracy200Epochs``,
   ``ImageNetTestAccuracy200Epochs``) and ``ArchitectureString``, row ``i`` = index ``i``; in
   percent or in fractions (a column whose maximum is at most 1 is taken as fractions: no
   NAS-Bench-201 network has a test accuracy below 1 % on every one of the 15,625 cells).

Metric names say which split they are on, so that a search cannot optimise test accuracy by
accident (there is deliberately no ``DATASET/clean``)::

    DATASET/valid-acc-12, DATASET/valid-acc-200   validation accuracy after 12 / 200 epochs
    DATASET/test-acc-12,  DATASET/test-acc-200    test accuracy after 12 / 200 epochs (report only)
    DATASET/train-time-12, DATASET/train-time-200 total training time in seconds

Choices (NATS-Bench's own conventions, ``get_more_info(index, dataset, hp=..., is_random=False)``,
means over the seeds trained): CIFAR-10 validation accuracy and training time are those of
``cifar10-valid`` (trained on half of the training set, evaluated on the other half, the split a
search uses); CIFAR-10 test accuracy is that of ``cifar10`` (trained on the whole training set);
CIFAR-100 and ImageNet16-120 use ``x-valid`` and ``x-test``. Accuracies are fractions in [0, 1]
(NATS-Bench's percentages divided by 100). The CSV provides only ``test-acc-200``.

NATS-Bench trained every index separately, so isomorphic architectures have their own values;
``frame(unique=True)`` shows the representative's.
"""

from __future__ import annotations

import bz2
import csv
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from robnas.benchmarks.base import BenchmarkSource, SourceInfo, corrupt_file_error, missing_file_error
from robnas.benchmarks.metrics import Metric, parse_metric
from robnas.benchmarks.registry import register
from robnas.errors import DataError
from robnas.spaces.nb201 import NUM_ARCHS, Arch, uid_table

COLUMNS: dict[str, str] = {
    "CIFAR10TestAccuracy200Epochs": "cifar10/test-acc-200",
    "CIFAR100TestAccuracy200Epochs": "cifar100/test-acc-200",
    "ImageNetTestAccuracy200Epochs": "imagenet16-120/test-acc-200",
}
FILE = "nats_bench.csv"
ARCHIVE = "NATS-tss-v1_0-3ffb9"
EXT = ".pickle.pbz2"
HPS = ("12", "200")

# robnas dataset -> (NATS dataset of validation and time, validation set, NATS dataset of test, test set)
SPLITS: dict[str, tuple[str, str, str, str]] = {
    "cifar10": ("cifar10-valid", "x-valid", "cifar10", "ori-test"),
    "cifar100": ("cifar100", "x-valid", "cifar100", "x-test"),
    "imagenet16-120": ("ImageNet16-120", "x-valid", "ImageNet16-120", "x-test"),
}

INFO = SourceInfo(
    name="natsbench",
    title="NATS-Bench topology search space (= NAS-Bench-201): validation and test accuracy, training time",
    citation=(
        "X. Dong, L. Liu, K. Musial, B. Gabrys. NATS-Bench: Benchmarking NAS Algorithms for Architecture "
        "Topology and Size. IEEE TPAMI 2021."
    ),
    url="https://github.com/D-X-Y/NATS-Bench",
    licence="MIT",
    regime="standard",
    protocol=(
        "standard training, 12 or 200 epochs (hp=12, hp=200), SGD Nesterov with cosine schedule; "
        "validation and test accuracy, training time"
    ),
    folder="nats-bench",
    shares_isomorphs=False,
    notes=(
        "every index was trained separately: isomorphic architectures do not share values; "
        "search on valid-acc-*, report test-acc-*"
    ),
)

_ALLOWED = {
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
}


class _ArchiveUnpickler(pickle.Unpickler):
    """Plain containers, numbers and NumPy scalars/arrays; everything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it references {module}.{name}, which NATS-Bench's results do not")


@register
class NATSBench(BenchmarkSource):
    """NATS-Bench's topology space (Dong et al., TPAMI 2021): the official archive, else the CSV."""

    info = INFO
    version = 2

    # ------------------------------------------------------------------ files
    def archive(self) -> Path | None:
        """The official archive below the folder (a ``NATS-tss-v1_0-3ffb9*`` folder or file), if any."""
        if not self.folder.is_dir():
            return None
        found = sorted(self.folder.glob(f"{ARCHIVE}*"))
        dirs = [p for p in found if p.is_dir() and (p / f"meta{EXT}").is_file()]
        files = [p for p in found if p.is_file() and p.name.endswith(EXT)]
        candidates = dirs or files
        return candidates[0] if candidates else None

    def required_files(self) -> list[Path]:
        archive = self.archive()
        if archive is None:
            return [self.folder / FILE]
        # the folder's per-index files are listed by meta; fingerprinting 15,625 of them on every
        # start would cost more than reading the cache, so the meta file stands for the folder
        return [archive / f"meta{EXT}"] if archive.is_dir() else [archive]

    def reading(self) -> str:
        archive = self.archive()
        if archive is not None:
            return f"the official archive {archive.name} (through nats_bench)"
        return f"{FILE} (test accuracy after 200 epochs only)"

    def convert(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        archive = self.archive()
        if archive is not None:
            return self._convert_archive(archive)
        return self._convert_csv()

    # ------------------------------------------------------------------ the official archive
    def _load(self, path: Path) -> Any:
        try:
            with bz2.open(path, "rb") as fh:
                return _ArchiveUnpickler(fh).load()
        except FileNotFoundError:
            raise missing_file_error(path, self.info) from None
        except (
            pickle.UnpicklingError,
            EOFError,
            OSError,
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
        ) as exc:
            raise corrupt_file_error(path, self.info, f"{type(exc).__name__}: {exc}") from None

    def _api(self, archive: Path) -> Any:
        try:
            from nats_bench.api_topology import NATStopology  # type: ignore[import-untyped]
        except ImportError:
            raise DataError(
                f"natsbench: reading {archive.name} needs the nats_bench package: "
                f"pip install 'robnas[natsbench]' (or remove the archive to use {FILE})"
            ) from None
        if archive.is_dir():
            meta = self._load(archive / f"meta{EXT}")
            if not isinstance(meta, dict) or "meta_archs" not in meta:
                raise corrupt_file_error(archive / f"meta{EXT}", self.info, "no 'meta_archs' list")
            infos: dict[int, Any] = {}
            for i in range(len(meta["meta_archs"])):
                path = archive / f"{i:06d}{EXT}"
                if not path.is_file():
                    path = archive / f"{i}{EXT}"
                if path.is_file():
                    infos[i] = self._load(path)
            data = {"meta_archs": meta["meta_archs"], "arch2infos": infos, "evaluated_indexes": sorted(infos)}
        else:
            data = self._load(archive)
        if not isinstance(data, dict):
            raise corrupt_file_error(archive, self.info, "expected a dictionary of results")
        try:
            return NATStopology(data, fast_mode=False, verbose=False)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise corrupt_file_error(archive, self.info, f"nats_bench cannot read it ({exc})") from None

    def _convert_archive(self, archive: Path) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        api = self._api(archive)
        archs = list(api.meta_archs)
        if len(archs) != NUM_ARCHS:
            raise corrupt_file_error(archive, self.info, f"{len(archs)} architectures, expected {NUM_ARCHS}")
        for i in (0, 1, NUM_ARCHS // 2, NUM_ARCHS - 1):  # index order spot check
            if archs[i] != Arch.from_index(i).string:
                raise corrupt_file_error(
                    archive, self.info, f"architecture {i} is not NAS-Bench-201 index {i}"
                )
        names = [
            f"{ds}/{what}-{hp}"
            for ds in SPLITS
            for hp in HPS
            for what in ("valid-acc", "test-acc", "train-time")
        ]
        matrix = np.full((len(names), NUM_ARCHS), np.nan, dtype=np.float32)
        rows = {n: j for j, n in enumerate(names)}
        for i in sorted(api.evaluated_indexes):
            hps = api.arch2infos_dict.get(i, {})
            for hp in HPS:
                if hp not in hps:
                    continue
                for ds, (val_ds, val_set, test_ds, test_set) in SPLITS.items():
                    res = hps[hp]
                    for key, nats_ds, split in (
                        ("valid-acc", val_ds, val_set),
                        ("test-acc", test_ds, test_set),
                    ):
                        try:
                            acc = res.get_metrics(nats_ds, split)["accuracy"]
                        except (KeyError, ValueError):
                            continue  # not evaluated on this set
                        matrix[rows[f"{ds}/{key}-{hp}"], i] = _number(acc, archive, self.info) / 100.0
                    try:
                        t = res.get_metrics(val_ds, "train")["all_time"]
                    except (KeyError, ValueError):
                        t = None
                    if t is not None:
                        matrix[rows[f"{ds}/train-time-{hp}"], i] = _number(t, archive, self.info)
        keep = [j for j in range(len(names)) if np.isfinite(matrix[j]).any()]
        if not keep:
            raise corrupt_file_error(archive, self.info, "no results of any architecture")
        acc_rows = matrix[[j for j in keep if "-acc-" in names[j]]]
        finite = acc_rows[np.isfinite(acc_rows)]
        if finite.size and (finite.min() < 0 or finite.max() > 1):
            raise corrupt_file_error(archive, self.info, "accuracies outside 0..100 %")
        return [parse_metric(names[j]) for j in keep], matrix[keep], np.asarray(uid_table(), dtype=np.int32)

    # ------------------------------------------------------------------ the CSV fallback
    def _convert_csv(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
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
            # percent (the NATS-Bench API's unit) or already fractions (issue 11: a fraction
            # column was divided by 100 a second time): no column of real accuracies peaks at <= 1 %
            scale = 1.0 if values[:, j].max() <= 1.0 else 100.0
            matrix[j] = values[:, j] / scale
        return metrics, matrix, np.asarray(uid_table(), dtype=np.int32)


def _number(value: Any, path: Path, info: SourceInfo) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise corrupt_file_error(path, info, f"a value is {value!r}, not a number")
    return float(value)
