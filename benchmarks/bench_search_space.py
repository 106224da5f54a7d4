"""Cost of the DiscreteSpace + evaluator seam on NAS-Bench-201, against the table oracle.

Runs each algorithm over the same random NAS-Bench-201 table twice, in this process: through
``run_search`` (the table :class:`~robnas.search.Oracle`, the fast path) and through
``search_space(NB201, table_evaluator(values), ...)`` (the generic :class:`EvaluatorOracle`
that DARTS genotypes and live builds use). Both make the same choices (the trajectories are
checked equal); the ratio is the seam's overhead. Best of ``--repeat`` runs.

    python benchmarks/bench_search_space.py [--budget 300] [--seeds 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from robnas.search import NB201, run_search, search_space
from robnas.search.evaluators import table_evaluator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    values = np.random.default_rng(0).random(15625)
    evaluate = table_evaluator(values)
    print(f"{'algorithm':10s} {'table s':>9s} {'seam s':>9s} {'seam/table':>10s}")
    for algo in ("rs", "re", "ls", "nsga2"):
        best = {"table": float("inf"), "seam": float("inf")}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            a = [run_search(algo, values, args.budget, s).trajectory for s in range(args.seeds)]
            best["table"] = min(best["table"], time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = [search_space(NB201, evaluate, algo, args.budget, s).trajectory for s in range(args.seeds)]
            best["seam"] = min(best["seam"], time.perf_counter() - t0)
            assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)), "the two paths differ"
        print(f"{algo:10s} {best['table']:9.3f} {best['seam']:9.3f} {best['seam'] / best['table']:10.2f}")


if __name__ == "__main__":
    main()
