"""Choose the architectures of the agreement study: spread evenly over a benchmark's range.

For each build, the 6,466 distinct NAS-Bench-201 architectures are sorted by one column of the
benchmark the build is compared with, and the architecture at each quantile ``(i + 0.5) / n``
(``i = 0 .. n-1``) is taken. The sample therefore covers the benchmark's whole range in
proportion to how architectures are spread along it (a few of the worst, degenerate cells
included), which is what a rank correlation over "the space" measures; it is not a sample of
the top architectures only.

    PYTHONPATH=src ROBNAS_DATA=/work/shared/data python results/agreement/choose_architectures.py

prints the index lists that are written in ``results/agreement/*.yaml``.
"""

from __future__ import annotations

import numpy as np

from robnas.benchmarks import get_source

N = 32
PLAN = {
    "pgd-at (NAS-RobBench-201, cifar10/pgd@8)": ("nasrobbench201", "cifar10/pgd@8"),
    "standard (Jung et al. 2023, cifar10/clean)": ("jung2023", "cifar10/clean"),
}


def spread(source: str, metric: str, n: int = N) -> list[int]:
    """``n`` distinct architectures at evenly spaced quantiles of ``metric`` in ``source``."""
    src = get_source(source)
    idx = src.unique_indices()
    vals = src.values(metric)[idx]
    keep = np.isfinite(vals)
    idx, vals = idx[keep], vals[keep]
    order = idx[np.lexsort((idx, vals))]  # ascending by value, ties by index
    picks = [(i + 0.5) / n * len(order) for i in range(n)]
    return sorted(int(order[int(p)]) for p in picks)


if __name__ == "__main__":
    for label, (source, metric) in PLAN.items():
        print(f"# {label}")
        print(spread(source, metric))
