"""How the agreement of a standard-training build with Jung et al. grows with fidelity.

    PYTHONPATH=src ROBNAS_DATA=/work/shared/data python results/agreement/fidelity.py

reads ``store-standard.sqlite`` (3 epochs, 2,500 training images, 300 test images) and
``store-standard-hi.sqlite`` (10 epochs, 5,000 training images, 1,000 test images; made by
``robnas build results/agreement/standard-hi.yaml``) and, on the architectures both builds
finished, prints Kendall's tau of each build's ``cifar10/clean`` and ``cifar10/fgsm@1`` with Jung
et al.'s columns, each with a 95% percentile bootstrap interval, and the paired bootstrap
interval of the difference (high minus low fidelity; the same resampled architectures for both).
The number of parameters is the yardstick, as in ``agreement.py``. Writes ``fidelity.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import stats

from robnas.benchmarks import get_source
from robnas.store import ResultStore

HERE = Path(__file__).resolve().parent
BOOTSTRAP = 2000
BUILDS = [
    ("3 epochs, 2,500 images", "store-standard.sqlite"),
    ("10 epochs, 5,000 images", "store-standard-hi.sqlite"),
]
PAIRS = [("cifar10/clean", "cifar10/clean"), ("cifar10/fgsm@1", "cifar10/fgsm@1")]


def _values(file: str, metric: str) -> dict[int, float]:
    path = HERE / file
    if not path.is_file():
        config = HERE / file.replace("store-", "").replace(".sqlite", ".yaml")
        sys.exit(f"{path} not found: run `robnas build {config}`")
    store = ResultStore(path, readonly=True)
    (protocol,) = store.protocols()
    out = dict(store.seed_means(metric, protocol))
    store.close()
    return out


def _tau(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.kendalltau(a, b).statistic)


def main() -> list[str]:
    jung = get_source("jung2023")
    lines = [
        "| build metric vs Jung et al. | n | tau, 3 epochs [95% CI] | tau, 10 epochs [95% CI] | "
        "difference [95% paired CI] |",
        "|---|---:|---|---|---|",
    ]
    for metric, column in PAIRS:
        low, high = (_values(f, metric) for _, f in BUILDS)
        uids = sorted(set(low) & set(high))
        bench = np.array([jung.values(column)[u] for u in uids], dtype=float)
        a_lo = np.array([low[u] for u in uids])
        a_hi = np.array([high[u] for u in uids])
        rng = np.random.default_rng(0)
        boots = []
        for _ in range(BOOTSTRAP):
            i = rng.integers(0, len(uids), len(uids))
            t_lo, t_hi = _tau(a_lo[i], bench[i]), _tau(a_hi[i], bench[i])
            if np.isfinite(t_lo) and np.isfinite(t_hi):
                boots.append((t_lo, t_hi, t_hi - t_lo))
        b = np.array(boots)
        ci = np.percentile(b, [2.5, 97.5], axis=0)
        t_lo, t_hi = _tau(a_lo, bench), _tau(a_hi, bench)
        lines.append(
            f"| `{metric}` vs `{column}` | {len(uids)} | {t_lo:.2f} [{ci[0, 0]:.2f}, {ci[1, 0]:.2f}] | "
            f"{t_hi:.2f} [{ci[0, 1]:.2f}, {ci[1, 1]:.2f}] | "
            f"{t_hi - t_lo:+.2f} [{ci[0, 2]:+.2f}, {ci[1, 2]:+.2f}] |"
        )
    params = _values(BUILDS[1][1], "cifar10/params")
    uids = sorted(params)
    for column in ("cifar10/clean", "cifar10/fgsm@1"):
        t = _tau(
            np.array([params[u] for u in uids]), np.array([jung.values(column)[u] for u in uids], dtype=float)
        )
        lines.append(f"| `cifar10/params` vs `{column}` (yardstick) | {len(uids)} | {t:.2f} | {t:.2f} | |")
    (HERE / "fidelity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
