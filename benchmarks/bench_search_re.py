"""Regularised evolution at large query budgets: the mutation fix, and RE against random search.

Regularised evolution (``re``) on a tabular benchmark spends its budget on *unique* classes;
revisits are free, so near a large budget most mutations land on classes already queried and
the number of mutations per new query grows (printed below). The old loop paid about 1 ms per
mutation (``Arch.mutate`` built and validated all 24 neighbours to draw one, then ``Arch.uid``),
which made 3,000 queries take about a minute. It now mutates architecture codes through a
code -> uid table, with the same random draws: the same search, query for query (checked below).

Timed in this process, same objective, same seeds: the old loop (reimplemented here as the
reference), RE as it is now, and random search at the same budget (one query per draw, no
revisits to skip).

    python benchmarks/bench_search_re.py [--root DATA_ROOT] [--budgets 1000,3000] [--seeds 1]

The objective is ``jung2023:cifar10/pgd@2`` when the data is found, else random values.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import deque

import numpy as np

from robnas.search import run_search
from robnas.search.oracle import BudgetExhausted, Oracle
from robnas.spaces import nb201
from robnas.spaces.nb201 import Arch


def _old_mutate(self: Arch, rng: random.Random) -> Arch:
    """The reference mutation: every neighbour built through the validating constructor."""
    neighbours = [
        self.with_op(pos, op)
        for pos in range(len(nb201.EDGES))
        for op in range(len(nb201.OPS))
        if op != self.ops[pos]
    ]
    return rng.choice(neighbours)


def old_re(values: np.ndarray, budget: int, seed: int) -> Oracle:
    """The reference loop: ``Arch`` objects, the old mutation, population 20, sample 5."""
    oracle = Oracle(values, budget)
    rng = random.Random(seed)
    population: deque[tuple[Arch, float]] = deque()
    try:
        while len(population) < 20:
            arch = nb201.random_arch(rng)
            population.append((arch, oracle.query(arch)))
        while True:
            parent = max(rng.sample(list(population), 5), key=lambda p: p[1])[0]
            child = _old_mutate(parent, rng)
            population.append((child, oracle.query(child)))
            population.popleft()
    except BudgetExhausted:
        return oracle


def objective(root: str | None) -> tuple[np.ndarray, str]:
    try:
        from robnas.benchmarks import get_source

        src = get_source("jung2023", root)
        if src.available():
            return np.asarray(src.values("cifar10/pgd@2"), dtype=np.float64), "jung2023:cifar10/pgd@2"
    except Exception:  # noqa: BLE001 - fall back to synthetic values
        pass
    return np.random.default_rng(0).random(nb201.NUM_ARCHS), "random values (benchmark data not found)"


def timed(algo: str, values: np.ndarray, budget: int, seed: int):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    res = run_search(algo, values, budget, seed)
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.environ.get("ROBNAS_DATA"))
    ap.add_argument("--budgets", default="1000,3000")
    ap.add_argument("--seeds", type=int, default=1)
    args = ap.parse_args()
    values, name = objective(args.root)
    nb201.uid_table()  # build the class table once, outside the timings
    print(f"objective: {name}; seeds: {args.seeds}")
    head = ("budget", "RE old (s)", "RE now (s)", "speed-up", "RS (s)", "RE now / RS", "mutations/query")
    print("  ".join(f"{h:>{len(h)}}" for h in head))
    for budget in (int(b) for b in args.budgets.split(",")):
        old = new = rs = 0.0
        calls = 0
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            ref = old_re(values, budget, seed)
            t_old = time.perf_counter() - t0
            t_new, r_new = timed("re", values, budget, seed)
            t_rs, _ = timed("rs", values, budget, seed)
            if [u for u, _ in ref.history] != r_new.queried:
                raise SystemExit(f"budget {budget}, seed {seed}: the searches differ; the fix changed RE")
            old, new, rs, calls = old + t_old, new + t_new, rs + t_rs, calls + ref.calls
        cells = (budget, f"{old:.2f}", f"{new:.2f}", f"{old / new:.1f}x", f"{rs:.2f}", f"{new / rs:.1f}x")
        cells += (f"{calls / (budget * args.seeds):.1f}",)
        print("  ".join(f"{c!s:>{len(h)}}" for c, h in zip(cells, head, strict=True)))


if __name__ == "__main__":
    main()
