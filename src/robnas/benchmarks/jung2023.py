"""Jung, Lukasik and Keuper, "Neural Architecture Design and Robustness: A Dataset", ICLR 2023.

All 6,466 non-isomorphic NAS-Bench-201 architectures, **standard-trained** (the NAS-Bench-201
weights), evaluated under FGSM, PGD, APGD-CE and Square (L-infinity, epsilons in units of 1/255
as listed in ``meta.json``) and under the 15 CIFAR-10-C style corruptions at severities 1..5.

Reader of the release as published at http://data.robustness.vision/ (layout of the authors'
helper, https://github.com/steffen-jung/robustness-dataset; this is an independent reader):

* ``meta.json``: ``ids[str(index)] = {"nb201-string", "isomorph": str(uid)}``, ``epsilons[key]``;
* ``<dataset>/<key>_accuracy.json``: ``json[dataset][key]["accuracy"][str(uid)]`` = a float
  (``clean``), a list over ``epsilons[key]`` (attacks) or over severities 1..5 (corruptions);
* ``<dataset>/<key>_confidence.json`` (optional, same shapes, quantity ``confidence``);
* ``<dataset>/<key>_cm.json`` (optional): confusion matrices, see :meth:`Jung2023.confusion_matrix`;
* ``summary_eps1_acc.js`` (optional): the project page's summary (clean and the four attacks at
  epsilon 1/255, rounded to 3 decimals); it fills only metrics that no release file provides.

Any subset of the release is read: only ``meta.json`` is required; every ``<dataset>/<key>_*.json``
present (CIFAR-10, CIFAR-100, ImageNet16-120, in any combination) adds its metrics. A metric whose
file is absent is reported when it is asked for, naming the file to download
(:meth:`Jung2023.missing_for`). The derived means need their whole family: ``corruption-mean``
all 15 corruption files of the dataset, ``adversarial-mean`` all four attack files.

Column mapping: ``clean -> DATASET/clean``, ``fgsm@Linf -> fgsm@EPS``, ``pgd@Linf -> pgd@EPS``,
``aa_apgd-ce@Linf -> apgd-ce@EPS``, ``aa_square@Linf -> square@EPS``, corruption ``fog`` at
severity 3 -> ``fog#3``; derived: ``DATASET/corruption-mean``, the mean over all 15 corruptions
and 5 severities (the ``corr`` column of the project page), and ``DATASET/adversarial-mean``, the
unweighted mean of the 31 attack accuracies FGSM (0.1, 0.5, 1..8/255), PGD, APGD-CE and Square
(0.1, 0.5, 1, 2, 3, 4, 8/255), i.e. every released epsilon except FGSM at 255/255 -- robnas's
reading of the paper's "mean adversarial robust accuracy" (the paper's exact average is not
restated in the release). Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from robnas.benchmarks.base import (
    BenchmarkSource,
    SourceInfo,
    check_fraction,
    corrupt_file_error,
    read_js_object,
    read_json,
    strict_numbers,
)
from robnas.benchmarks.metrics import CORRUPTIONS, SEVERITIES, Metric, UnknownMetricError, parse_metric
from robnas.benchmarks.registry import register
from robnas.errors import ConfigError, DataError
from robnas.spaces.nb201 import NUM_ARCHS, Arch, uid_table

ATTACK_KEYS: dict[str, str] = {
    "fgsm@Linf": "fgsm",
    "pgd@Linf": "pgd",
    "aa_apgd-ce@Linf": "apgd-ce",
    "aa_square@Linf": "square",
}
"""The release's attack keys -> robnas attack names (all L-infinity)."""

FILE_DATASETS: dict[str, str] = {
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "ImageNet16-120": "imagenet16-120",
}
"""Folder / JSON name of each dataset -> robnas dataset name."""

SUMMARY_COLUMNS: dict[str, str] = {
    "clean": "clean",
    "aa_apgd-ce": "apgd-ce@1",
    "aa_square": "square@1",
    "fgsm": "fgsm@1",
    "pgd": "pgd@1",
    "corr": "corruption-mean",
}
"""Summary file columns -> robnas metric names (all attacks at epsilon 1/255)."""

INFO = SourceInfo(
    name="jung2023",
    title="Neural Architecture Design and Robustness: A Dataset (robustness dataset)",
    citation=(
        "S. Jung, J. Lukasik, M. Keuper. Neural Architecture Design and Robustness: A Dataset. ICLR 2023."
    ),
    url="http://data.robustness.vision/",
    licence="data licence not stated by the authors (helper code GPL-3.0, not used); cite the paper",
    regime="standard",
    protocol=(
        "standard training (NAS-Bench-201 weights, 200 epochs, no adversarial training); evaluated with "
        "FGSM, PGD, APGD-CE and Square (L-inf, epsilons 0.1..8/255) and 15 corruptions x 5 severities"
    ),
    folder="robustness-dataset",
    shares_isomorphs=True,
    notes=(
        "reads any subset of the release (only meta.json is required); without the ImageNet16-120 "
        "files its values come from the project page's summary (epsilon 1/255 only, 3 decimals)"
    ),
)


def _keys() -> list[str]:
    return ["clean", *ATTACK_KEYS, *CORRUPTIONS]


@register
class Jung2023(BenchmarkSource):
    """The robustness dataset of Jung, Lukasik and Keuper (ICLR 2023): standard-trained networks."""

    info = INFO
    version = 3

    # ------------------------------------------------------------------ files
    def _file(self, dataset: str, key: str, quantity: str = "accuracy") -> Path:
        return self.folder / dataset / f"{key}_{quantity}.json"

    def required_files(self) -> list[Path]:
        return [self.folder / "meta.json"]

    def optional_files(self) -> list[Path]:
        files = [self.folder / "summary_eps1_acc.js"]
        files += [
            self._file(ds, key, q)
            for q in ("accuracy", "confidence")
            for ds in FILE_DATASETS
            for key in _keys()
        ]
        return files

    def missing_for(self, metric: Metric | str) -> Path | None:
        """The release file that would provide ``metric`` when it is absent here (else ``None``)."""
        m = parse_metric(metric)
        ds_file = {v: k for k, v in FILE_DATASETS.items()}.get(m.dataset)
        if ds_file is None or m.quantity not in ("accuracy", "confidence"):
            return None
        try:
            key = _release_key(m)
        except ValueError:
            if m.name == "corruption-mean":
                key = next((k for k in CORRUPTIONS if not self._file(ds_file, k).is_file()), "")
            elif m.name == "adversarial-mean":
                key = next((k for k in ATTACK_KEYS if not self._file(ds_file, k).is_file()), "")
            else:
                return None
            if not key:
                return None
        path = self._file(ds_file, key, m.quantity)
        return None if path.is_file() else path

    def _row(self, metric: Metric | str, seed: str = "mean") -> int:
        try:
            return super()._row(metric, seed)
        except UnknownMetricError:
            path = self.missing_for(metric)
            if path is None:
                raise
            name = path.relative_to(self.folder)
            raise DataError(
                f"{self.name}: {parse_metric(metric)} is in the release file {name}, which is not in "
                f"{self.folder}; download it from {self.info.url}"
            ) from None

    # ------------------------------------------------------------------ conversion
    def _read_meta(self) -> tuple[np.ndarray, dict[str, list[float]]]:
        path = self.folder / "meta.json"
        meta = read_json(path, self.info)
        try:
            ids = meta["ids"]
            eps = {k: [float(e) for e in meta["epsilons"][k]] for k in ATTACK_KEYS}
            uids = np.array([int(ids[str(i)]["isomorph"]) for i in range(NUM_ARCHS)], dtype=np.int32)
            strings = [ids[str(i)]["nb201-string"] for i in range(NUM_ARCHS)]
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt_file_error(path, self.info, f"missing or malformed entry {exc}") from None
        if not np.array_equal(uids, np.asarray(uid_table(), dtype=np.int32)):
            bad = int(np.flatnonzero(uids != np.asarray(uid_table()))[0])
            raise corrupt_file_error(
                path, self.info, f"isomorph of index {bad} is not its NAS-Bench-201 class uid"
            )
        for i in (0, 1, NUM_ARCHS // 2, NUM_ARCHS - 1):  # index order spot check
            if strings[i] != Arch.from_index(i).string:
                raise corrupt_file_error(path, self.info, f"index {i} is not in NAS-Bench-201 order")
        return uids, eps

    def _read_values(
        self, path: Path, ds_file: str, key: str, quantity: str, reps: np.ndarray, width: int | None
    ) -> np.ndarray:
        data = read_json(path, self.info)
        try:
            table = data[ds_file][key][quantity]
        except (KeyError, TypeError):
            raise corrupt_file_error(
                path, self.info, f"no entry [{ds_file!r}][{key!r}][{quantity!r}]"
            ) from None
        try:
            rows = [table[str(u)] for u in reps]
        except KeyError as exc:
            raise corrupt_file_error(path, self.info, f"no value for architecture uid {exc}") from None
        arr = strict_numbers(rows, path, self.info, f"{key} {quantity}")
        expected = (len(reps),) if width is None else (len(reps), width)
        if arr.shape != expected:
            raise corrupt_file_error(path, self.info, f"values have shape {arr.shape}, expected {expected}")
        if quantity in ("accuracy", "confidence"):
            check_fraction(arr, path, self.info, f"{key} {quantity}")
        return arr

    def convert(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        uids, eps = self._read_meta()
        reps = np.flatnonzero(uids == np.arange(NUM_ARCHS))
        pos = np.searchsorted(reps, uids)  # index -> row of its representative
        metrics: list[Metric] = []
        rows: list[np.ndarray] = []

        def add(metric: Metric, per_rep: np.ndarray) -> None:
            metrics.append(metric)
            rows.append(per_rep[pos].astype(np.float32))

        corr_blocks: dict[str, list[np.ndarray]] = {}
        adv_blocks: dict[str, list[np.ndarray]] = {}
        for ds_file, ds in FILE_DATASETS.items():
            for quantity in ("accuracy", "confidence"):
                for key in _keys():
                    path = self._file(ds_file, key, quantity)
                    if not path.is_file():
                        continue
                    width = (
                        None if key == "clean" else len(eps[key]) if key in ATTACK_KEYS else len(SEVERITIES)
                    )
                    arr = self._read_values(path, ds_file, key, quantity, reps, width)
                    if key == "clean":
                        add(Metric(ds, "clean", "clean", quantity=quantity), arr)
                    elif key in ATTACK_KEYS:
                        if quantity == "accuracy":
                            keep = [j for j, e in enumerate(eps[key]) if e <= 8]
                            adv_blocks.setdefault(ds, []).append(arr[:, keep])
                        for j, e in enumerate(eps[key]):
                            metric = Metric(ds, "attack", ATTACK_KEYS[key], epsilon=e, quantity=quantity)
                            add(metric, arr[:, j])
                    else:
                        for j, sev in enumerate(SEVERITIES):
                            add(Metric(ds, "corruption", key, severity=sev, quantity=quantity), arr[:, j])
                        if quantity == "accuracy":
                            corr_blocks.setdefault(ds, []).append(arr)
                if quantity == "accuracy" and len(corr_blocks.get(ds, [])) == len(CORRUPTIONS):
                    # Jung et al.'s corruption mean: all 15 corruptions x 5 severities, from the
                    # per-representative float64 values (not the rounded float32 rows).
                    add(Metric(ds, "corruption", "corruption-mean"), np.mean(corr_blocks[ds], axis=(0, 2)))
                if quantity == "accuracy" and len(adv_blocks.get(ds, [])) == len(ATTACK_KEYS):
                    # mean adversarial accuracy: FGSM, PGD, APGD-CE, Square at every epsilon <= 8/255
                    add(
                        Metric(ds, "other", "adversarial-mean"), np.mean(np.concatenate(adv_blocks[ds], 1), 1)
                    )
        self._add_summary(metrics, rows, uids)
        matrix = np.stack(rows) if rows else np.zeros((0, NUM_ARCHS), dtype=np.float32)
        return metrics, matrix, uids

    def _add_summary(self, metrics: list[Metric], rows: list[np.ndarray], uids: np.ndarray) -> None:
        """Fill metrics that only the project page's summary has (ImageNet16-120 at 1/255)."""
        path = self.folder / "summary_eps1_acc.js"
        if not path.is_file():
            return
        acc = read_js_object(path, self.info)
        try:
            columns = acc[""]
            reps = np.flatnonzero(uids == np.arange(NUM_ARCHS))
            cells = [acc[str(u)] for u in reps]
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt_file_error(path, self.info, f"missing or malformed entry {exc}") from None
        table = strict_numbers(cells, path, self.info, "summary")
        if table.shape != (len(reps), len(columns)):
            raise corrupt_file_error(
                path, self.info, f"rows have shape {table.shape[1:]}, expected {len(columns)}"
            )
        check_fraction(table, path, self.info, "summary")
        pos = np.searchsorted(reps, uids)
        known = {str(m) for m in metrics}
        for j, col in enumerate(columns):
            ds_file, _, key = str(col).partition("#")
            ds = FILE_DATASETS.get(ds_file)
            if ds is None or key not in SUMMARY_COLUMNS:
                raise corrupt_file_error(path, self.info, f"unknown column {col!r}")
            metric = parse_metric(f"{ds}/{SUMMARY_COLUMNS[key]}")
            if str(metric) in known:
                continue
            metrics.append(metric)
            rows.append(table[pos, j].astype(np.float32))

    # ------------------------------------------------------------------ confusion matrices
    def confusion_matrix(self, arch: Arch | str | int, metric: Metric | str) -> np.ndarray:
        """Confusion matrix (true class x predicted class, counts) of ``arch`` under ``metric``.

        Reads ``<dataset>/<key>_cm.json`` (only ``cifar10/clean_cm.json`` ships with the reduced
        copy of the release); raises :class:`~robnas.errors.DataError` naming the file if absent.
        """
        m = parse_metric(metric)
        ds_file = {v: k for k, v in FILE_DATASETS.items()}.get(m.dataset)
        if ds_file is None:
            raise ConfigError(
                f"jung2023 has no dataset {m.dataset}; datasets: {', '.join(FILE_DATASETS.values())}"
            )
        key = _release_key(m)
        path = self._file(ds_file, key, "cm")
        table = _cm_table(path, self.info, ds_file, key)
        uid = Arch.parse(arch).uid
        try:
            cm = np.asarray(table[str(uid)], dtype=np.int64)
        except KeyError:
            raise corrupt_file_error(path, self.info, f"no confusion matrix for uid {uid}") from None
        if m.kind == "attack":
            _, eps = self._read_meta()
            if m.epsilon not in eps[key]:
                raise ConfigError(
                    f"jung2023 has no {m.name} at epsilon {m.epsilon:g}/255; epsilons: "
                    + ", ".join(f"{e:g}" for e in eps[key])
                )
            cm = cm[eps[key].index(m.epsilon)]  # type: ignore[arg-type]
        elif m.kind == "corruption" and m.severity is not None:
            cm = cm[m.severity - 1]
        return cm


def _release_key(m: Metric) -> str:
    if m.kind == "clean":
        return "clean"
    if m.kind == "attack":
        inverse = {v: k for k, v in ATTACK_KEYS.items()}
        if m.name in inverse and m.norm == "linf":
            return inverse[m.name]
    if m.kind == "corruption" and m.name in CORRUPTIONS and m.severity is not None:
        return m.name
    raise ConfigError(
        f"jung2023 has no per-file values for {m} (confusion matrices: clean, attacks, corruptions)"
    )


@cache
def _cm_table_cached(path: str, mtime: int, ds_file: str, key: str) -> Any:
    data = read_json(Path(path), INFO)
    try:
        return data[ds_file][key]["cm"]
    except (KeyError, TypeError):
        raise corrupt_file_error(Path(path), INFO, f"no entry [{ds_file!r}][{key!r}]['cm']") from None


def _cm_table(path: Path, info: SourceInfo, ds_file: str, key: str) -> Any:
    if not path.is_file():
        from robnas.benchmarks.base import missing_file_error

        raise missing_file_error(path, info)
    return _cm_table_cached(str(path), path.stat().st_mtime_ns, ds_file, key)
