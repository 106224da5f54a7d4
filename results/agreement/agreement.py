"""Kendall tau between the agreement study's low-fidelity builds and the published benchmarks.

    PYTHONPATH=src ROBNAS_DATA=/work/shared/data python results/agreement/agreement.py

reads ``store-pgdat.sqlite`` and ``store-standard.sqlite`` (made by ``robnas build
results/agreement/pgdat.yaml`` and ``... standard.yaml``), pairs each build metric with the
benchmark column it estimates, and writes ``agreement.csv`` and ``table.md`` beside this file.

For each pair: Kendall's tau-b over the architectures the build finished, with a 95% bootstrap
interval (2,000 resamples of the architectures with replacement, percentile interval, seed 0),
and Spearman's rho. As a yardstick, the same statistics for the number of parameters (what a
build gets for free, before training) against the same column.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from robnas.benchmarks import get_source
from robnas.store import ResultStore

HERE = Path(__file__).resolve().parent
BOOTSTRAP = 2000

# (build, store file, [(store metric, source, benchmark metric), ...])
PAIRS = [
    (
        "PGD-AT (pgdat.yaml)",
        "store-pgdat.sqlite",
        [
            ("cifar10/clean", "nasrobbench201", "cifar10/clean"),
            ("cifar10/pgd@8", "nasrobbench201", "cifar10/pgd@8"),
            ("cifar10/params", "nasrobbench201", "cifar10/clean"),
            ("cifar10/params", "nasrobbench201", "cifar10/pgd@8"),
        ],
    ),
    (
        "standard (standard.yaml)",
        "store-standard.sqlite",
        [
            ("cifar10/clean", "jung2023", "cifar10/clean"),
            ("cifar10/fgsm@1", "jung2023", "cifar10/fgsm@1"),
            ("cifar10/params", "jung2023", "cifar10/clean"),
            ("cifar10/params", "jung2023", "cifar10/fgsm@1"),
        ],
    ),
]


def tau_with_interval(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Kendall tau-b of ``a`` and ``b`` and its 95% percentile bootstrap interval."""
    tau = float(stats.kendalltau(a, b).statistic)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(a), len(a))
        t = stats.kendalltau(a[i], b[i]).statistic
        if np.isfinite(t):
            boots.append(t)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return tau, float(lo), float(hi)


def main() -> pd.DataFrame:
    rows = []
    for build, file, pairs in PAIRS:
        path = HERE / file
        if not path.is_file():
            config = HERE / file.replace("store-", "").replace(".sqlite", ".yaml")
            sys.exit(f"{path} not found: run `robnas build {config}` first")
        store = ResultStore(path, readonly=True)
        (protocol,) = store.protocols()
        values = {m: store.seed_means(m, protocol) for m in {m for m, _, _ in pairs}}
        # the architectures whose jobs finished (every metric present), the same for every pair
        uids = sorted(set.intersection(*(set(v) for v in values.values())))
        for metric, source, column in pairs:
            ours = values[metric]
            bench = get_source(source).values(column)
            a = np.array([ours[u] for u in uids])
            b = np.array([bench[u] for u in uids], dtype=float)
            tau, lo, hi = tau_with_interval(a, b)
            rows.append(
                {
                    "build": build,
                    "build_metric": metric,
                    "benchmark": f"{source}:{column}",
                    "n": len(uids),
                    "kendall_tau": round(tau, 3),
                    "ci_low": round(lo, 3),
                    "ci_high": round(hi, 3),
                    "spearman_rho": round(float(stats.spearmanr(a, b).statistic), 3),
                    "build_mean": round(float(a.mean()), 4),
                    "benchmark_mean": round(float(b.mean()), 4),
                }
            )
        store.close()
    df = pd.DataFrame(rows)
    df.to_csv(HERE / "agreement.csv", index=False)
    lines = [
        "| build | build metric | benchmark column | n | Kendall tau [95% CI] | Spearman rho |",
        "|---|---|---|---:|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['build']} | `{r['build_metric']}` | `{r['benchmark']}` | {r['n']} | "
            f"{r['kendall_tau']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}] | {r['spearman_rho']:.2f} |"
        )
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return df


if __name__ == "__main__":
    main()
