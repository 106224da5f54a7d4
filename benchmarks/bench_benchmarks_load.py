"""Cold-start load and one-metric query of ``jung2023``, against the authors' loading approach.

The reference reimplements (it does not copy) how the helper of Jung et al. (ICLR 2023,
https://github.com/steffen-jung/robustness-dataset, GPL-3.0) loads results: ``json.load`` of
``meta.json`` plus its string->id map and list of representatives, then ``json.load`` of every
``<dataset>/<key>_accuracy.json`` into nested dicts. robnas reads the same values from its binary
cache (built once beforehand; not timed) into a fresh source object, then touches every metric.

Both sides run in this process, on the same warm OS file cache, best of ``--repeat`` runs.
Also timed: ``values(metric)`` for all 15,625 indices, against the reference's equivalent
(a dict lookup per index through ``meta.json``'s isomorph map).

    python benchmarks/bench_benchmarks_load.py [--root DATA_ROOT] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import timeit
from pathlib import Path

DATASETS = ("cifar10", "cifar100")
ATTACK_KEYS = ["clean", "aa_apgd-ce@Linf", "aa_square@Linf", "fgsm@Linf", "pgd@Linf"]
CORRUPTION_KEYS = [
    "brightness", "contrast", "defocus_blur", "elastic_transform", "fog", "frost", "gaussian_noise",
    "glass_blur", "impulse_noise", "jpeg_compression", "motion_blur", "pixelate", "shot_noise", "snow",
    "zoom_blur",
]  # fmt: skip
KEYS = ATTACK_KEYS + CORRUPTION_KEYS


def reference_load(folder: Path) -> tuple[dict, dict]:
    """The authors' approach: parse every JSON file into nested dicts."""
    with open(folder / "meta.json") as fh:
        meta = json.load(fh)
    _by_string = {m["nb201-string"]: k for k, m in meta["ids"].items()}
    _reps = [i for i, m in meta["ids"].items() if m["isomorph"] == i]
    result: dict = {ds: {} for ds in DATASETS}
    for ds in DATASETS:
        for key in KEYS:
            with open(folder / ds / f"{key}_accuracy.json") as fh:
                result[ds][key] = json.load(fh)[ds][key]["accuracy"]
    return meta, result


def robnas_load(root: Path) -> tuple[object, int]:
    from robnas.benchmarks import get_source

    src = get_source("jung2023", root)
    metrics = [m for m in src.metrics() if m.dataset in DATASETS]
    total = 0
    for m in metrics:
        total += src.values(m).shape[0]
    return src, len(metrics)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def process_time(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None, help="data root (default: $ROBNAS_DATA)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from robnas.paths import data_root

    root = data_root(args.root)
    folder = root / "robustness-dataset"

    robnas_load(root)  # build the cache once (conversion is not what is timed)
    reference_load(folder)  # warm the OS file cache for the reference too

    t_ref = best(lambda: reference_load(folder), args.repeat)
    t_rob = best(lambda: robnas_load(root), args.repeat)
    _, n_metrics = robnas_load(root)
    print(
        f"cold load, all {n_metrics} jung2023 metrics of CIFAR-10 + CIFAR-100 "
        f"(in-process, best of {args.repeat}):"
    )
    print(f"  reference (json.load into dicts): {t_ref * 1e3:8.1f} ms")
    print(f"  robnas (binary cache)           : {t_rob * 1e3:8.1f} ms")
    print(f"  ratio                           : {t_ref / t_rob:8.1f}x faster")

    prefix = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_benchmarks_load as b; "
    )
    ref_code = prefix + f"from pathlib import Path; b.reference_load(Path({str(folder)!r}))"
    rob_code = prefix + f"from pathlib import Path; b.robnas_load(Path({str(root)!r}))"
    p_ref = process_time(ref_code, 3)
    p_rob = process_time(rob_code, 3)
    print("whole process incl. interpreter start and imports (best of 3):")
    print(f"  reference: {p_ref * 1e3:8.1f} ms   robnas: {p_rob * 1e3:8.1f} ms   ratio {p_ref / p_rob:5.1f}x")
    print("  (robnas's process time is mostly the numpy import; the authors' helper module also imports")
    print("   matplotlib at load time, which the reference above leaves out)")

    src, _ = robnas_load(root)
    meta, ref = reference_load(folder)
    ids = meta["ids"]
    acc = ref["cifar10"]["pgd@Linf"]
    n = 2000
    q_rob = timeit.timeit(lambda: src.values("cifar10/pgd@8"), number=n) / n
    q_ref = timeit.timeit(lambda: [acc[ids[str(i)]["isomorph"]][6] for i in range(15625)], number=20) / 20
    print("query cifar10/pgd@8 for all 15,625 indices:")
    print(f"  reference (dict lookups): {q_ref * 1e3:8.3f} ms")
    print(f"  robnas values()         : {q_rob * 1e6:8.2f} us   (limit 1 ms)   ratio {q_ref / q_rob:,.0f}x")


if __name__ == "__main__":
    main()
