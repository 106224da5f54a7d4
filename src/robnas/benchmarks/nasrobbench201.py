"""Wu, Liu, Simon-Gabriel, Chrysos, Cevher, "Robust NAS under adversarial training: benchmark,
theory, and beyond" (NAS-RobBench-201), ICLR 2024.

The 6,466 non-isomorphic NAS-Bench-201 architectures, **adversarially trained** (PGD-7, epsilon
8/255, step 2/255, 50 epochs, SGD momentum 0.9, weight decay 5e-4, batch 256, one-cycle learning
rate up to 0.1; C=16, N=5) on CIFAR-10, CIFAR-100 and ImageNet16-120, then evaluated clean, with
FGSM and PGD at 3/255 and 8/255, and with AutoAttack at 8/255.

Two layouts are read, the authors' release first:

1. **The release** (``NAS-RobBench-201_all.json`` + ``meta.json``, from the Google Drive folder
   linked in https://github.com/TT2408/nasrobbench201): ``res[dataset][str(uid)][metric][seed]``
   with datasets ``cifar10``, ``cifar100``, ``imagenet``; metrics ``val_acc``,
   ``val_fgsm_3.0_acc``, ``val_fgsm_8.0_acc``, ``val_pgd_3.0_acc``, ``val_pgd_8.0_acc``; seeds
   ``'1'``, ``'2'``, ``'3'`` and ``'threeseed'`` (their mean); ``autoattack`` is one number (one
   run), not a seed dictionary. ``meta.json`` is Jung et al.'s (``ids[str(index)] =
   {"nb201-string", "isomorph": str(uid)}``) and gives every index its class uid. (Pinned from
   the authors' query class, whose ``get_result`` returns seed ``'1'``, and from a third-party
   consumer, dovugiacan14/RobustNasBench, which reads ``[...]["threeseed"]``.)
2. **The project page's file** ``NAS-RobBench-201_html.json``
   (https://tt2408.github.io/nasrobbench201hp/), a JavaScript assignment ``acc={...}``:
   ``acc[""]`` names 18 columns ``<dataset>#<column>``, ``acc[str(uid)]`` holds the 18 values of
   a class representative, ``acc[str(index)]`` of any other index is the string of its uid. These
   are seed means only.

:meth:`NASRobBench201.reading` says which one was read. Values are fractions in [0, 1].

Column mapping: ``val_acc -> clean``, ``val_fgsm_3_acc``/``val_fgsm_3.0_acc -> fgsm@3``,
``val_pgd_8_acc``/``val_pgd_8.0_acc -> pgd@8`` (any epsilon the file names), ``autoattack ->
autoattack@8``; dataset ``imagenet -> imagenet16-120``.

Seeds (release only): the default value of a metric is the release's ``'threeseed'`` mean (the
mean of the seeds present when a cell lacks it); ``values(m, seed="1")`` reads one seed; the
metric ``.../seed-std`` is the sample standard deviation (ddof=1, the usual "mean +- std over 3
seeds") over the numbered seeds, NaN where fewer than two exist. Metric keys the release has and
robnas does not know are skipped (listed by :meth:`NASRobBench201.skipped`), datasets may be
absent (their metrics are simply not offered).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from robnas.benchmarks.base import (
    MEAN,
    BenchmarkSource,
    SourceInfo,
    check_fraction,
    corrupt_file_error,
    read_js_object,
    read_json,
    strict_numbers,
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
RELEASE = "NAS-RobBench-201_all.json"
META = "meta.json"
MEAN_SEED = "threeseed"
"""The release's name of the mean over its three seeds."""
_RELEASE_KEY = re.compile(r"^val_(?P<attack>fgsm|pgd)_(?P<eps>[0-9]+(?:\.[0-9]+)?)_acc$")

INFO = SourceInfo(
    name="nasrobbench201",
    title="NAS-RobBench-201: adversarially trained NAS-Bench-201",
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
    notes=(
        "default values are means over 3 seeds (AutoAttack: one run); per-seed values and "
        "METRIC/seed-std need the authors' release (NAS-RobBench-201_all.json + meta.json)"
    ),
)


@register
class NASRobBench201(BenchmarkSource):
    """NAS-RobBench-201 (Wu et al., ICLR 2024): adversarially trained networks, per seed or mean."""

    info = INFO
    version = 2

    def has_release(self) -> bool:
        """Whether the authors' full release (per-seed values) is present; it is then read."""
        return (self.folder / RELEASE).is_file()

    def required_files(self) -> list[Path]:
        if self.has_release():
            return [self.folder / RELEASE, self.folder / META]
        return [self.folder / FILE]

    def reading(self) -> str:
        if self.has_release():
            return f"the authors' release {RELEASE} + {META} (per-seed values)"
        return f"the project page's {FILE} (seed means only)"

    def skipped(self) -> list[str]:
        """Metric keys of the release that robnas does not map (after :meth:`load` converted it)."""
        return list(getattr(self, "_skipped", []))

    def convert(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        if self.has_release():
            return self._convert_release()
        self._seed_labels: tuple[str, ...] = ()
        return self._convert_page()

    # ------------------------------------------------------------------ the authors' release
    def _read_uids(self) -> np.ndarray:
        path = self.folder / META
        meta = read_json(path, self.info)
        expected = np.asarray(uid_table(), dtype=np.int32)
        try:
            ids = meta["ids"]
            uids = np.array([int(ids[str(i)]["isomorph"]) for i in range(NUM_ARCHS)], dtype=np.int32)
        except (KeyError, TypeError, ValueError) as exc:
            raise corrupt_file_error(path, self.info, f"missing or malformed entry {exc}") from None
        if not np.array_equal(uids, expected):
            bad = int(np.flatnonzero(uids != expected)[0])
            raise corrupt_file_error(
                path, self.info, f"isomorph of index {bad} is {uids[bad]}, not its class uid {expected[bad]}"
            )
        return uids

    def _convert_release(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
        path = self.folder / RELEASE
        uids = self._read_uids()
        res = read_json(path, self.info)
        if not isinstance(res, dict):
            raise corrupt_file_error(path, self.info, "expected an object res[dataset][uid][metric][seed]")
        reps = np.flatnonzero(uids == np.arange(NUM_ARCHS))
        pos = np.searchsorted(reps, uids)
        metrics: list[Metric] = []
        labels: list[str] = []
        rows: list[np.ndarray] = []
        skipped: set[str] = set()

        def add(metric: Metric, label: str, per_rep: np.ndarray) -> None:
            check_fraction(per_rep, path, self.info, f"{metric} seed {label}")
            metrics.append(metric)
            labels.append(label)
            rows.append(per_rep[pos].astype(np.float32))

        for ds_file, ds in DATASETS.items():
            table = res.get(ds_file)
            if table is None:
                continue
            if not isinstance(table, dict):
                raise corrupt_file_error(path, self.info, f"res[{ds_file!r}] is not an object keyed by uid")
            # cells[metric key][seed label] -> float64 per representative (NaN where absent)
            cells: dict[str, dict[str, np.ndarray]] = {}
            for r, uid in enumerate(reps):
                entry = table.get(str(uid))
                if entry is None:
                    continue
                if not isinstance(entry, dict):
                    raise corrupt_file_error(
                        path, self.info, f"res[{ds_file!r}][{str(uid)!r}] is not an object"
                    )
                for key, by_seed in entry.items():
                    if not isinstance(by_seed, dict):
                        by_seed = {MEAN_SEED: by_seed}  # autoattack: one run, one number
                    for seed, value in by_seed.items():
                        col = cells.setdefault(key, {}).setdefault(str(seed), np.full(len(reps), np.nan))
                        where = f"res[{ds_file!r}][{str(uid)!r}][{key!r}][{seed!r}]"
                        number = strict_numbers(value, path, self.info, where)
                        if number.ndim:
                            raise corrupt_file_error(path, self.info, f"{where} is not one number")
                        col[r] = number
            for key in sorted(cells, key=_key_order):
                name = _metric_name(key)
                if name is None:
                    skipped.add(key)
                    continue
                metric = parse_metric(f"{ds}/{name}")
                by_seed = cells[key]
                numbered = sorted((s for s in by_seed if s != MEAN_SEED), key=_seed_order)
                if MEAN_SEED in by_seed:
                    mean = by_seed[MEAN_SEED]
                    if numbered:  # a cell without the release's mean: the mean of its seeds
                        stack = np.stack([by_seed[s] for s in numbered])
                        gap = np.isnan(mean) & np.isfinite(stack).any(0)
                        mean = mean.copy()
                        mean[gap] = np.nanmean(stack[:, gap], axis=0)
                else:
                    stack = np.stack([by_seed[s] for s in numbered])
                    with warnings.catch_warnings():  # all-NaN cells stay NaN
                        warnings.simplefilter("ignore", RuntimeWarning)
                        mean = np.nanmean(stack, axis=0)
                add(metric, MEAN, mean)
                if numbered:
                    stack = np.stack([by_seed[s] for s in numbered])
                    n = np.isfinite(stack).sum(0)
                    with warnings.catch_warnings():  # cells with fewer than two seeds: NaN
                        warnings.simplefilter("ignore", RuntimeWarning)
                        std = np.nanstd(stack, axis=0, ddof=1)
                    std[n < 2] = np.nan
                    metrics.append(
                        Metric(
                            metric.dataset,
                            metric.kind,
                            metric.name,
                            epsilon=metric.epsilon,
                            severity=metric.severity,
                            norm=metric.norm,
                            quantity="seed-std",
                        )
                    )
                    labels.append(MEAN)
                    rows.append(std[pos].astype(np.float32))
                    for s in numbered:
                        add(metric, s, by_seed[s])
        if not metrics:
            raise corrupt_file_error(
                path, self.info, f"no known dataset ({', '.join(DATASETS)}) with known metrics"
            )
        self._skipped = sorted(skipped)
        self._seed_labels = tuple(labels)
        return metrics, np.stack(rows), uids

    # ------------------------------------------------------------------ the project page's file
    def _convert_page(self) -> tuple[list[Metric], np.ndarray, np.ndarray]:
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
        table = strict_numbers([acc[str(u)] for u in reps], path, self.info, "acc[uid]")
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


def _metric_name(key: str) -> str | None:
    """A release or page column name -> robnas metric name (without dataset), None if unknown."""
    if key in COLUMNS:
        return COLUMNS[key]
    m = _RELEASE_KEY.match(key)
    if m is None:
        return None
    eps = float(m["eps"])
    return f"{m['attack']}@{int(eps) if eps.is_integer() else eps:g}"


def _key_order(key: str) -> tuple[int, str]:
    name = _metric_name(key) or "~"
    return (0 if name == "clean" else 1, name)


def _seed_order(seed: str) -> tuple[int, int | str]:
    return (0, int(seed)) if seed.isdigit() else (1, seed)
