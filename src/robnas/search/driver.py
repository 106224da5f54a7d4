"""Run searches reproducibly and summarise them."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from robnas.search.oracle import BudgetExhausted, Oracle
from robnas.search.registry import get_algorithm
from robnas.spaces.nb201 import Arch


@dataclass
class SearchResult:
    """Outcome of one search run."""

    algorithm: str
    seed: int
    budget: int
    objectives: tuple[str, ...]
    trajectory: np.ndarray  # best value of objective 0 after each query
    best_uid: int
    best_value: float
    optimum: float
    optimum_uid: int
    queried: list[int] = field(default_factory=list)  # uids in query order
    pareto_front: list[int] = field(default_factory=list)
    stalled: bool = False

    def __repr__(self) -> str:
        """``SearchResult(re, seed 0, 300 queries: best 6111 = 0.4438, regret 0.0012)``."""
        return (
            f"SearchResult({self.algorithm}, seed {self.seed}, {len(self.trajectory)} queries: "
            f"best {self.best_uid} = {self.best_value:.4g}, regret {self.regret:.4g}"
            + (", stalled" if self.stalled else "")
            + ")"
        )

    @property
    def regret(self) -> float:
        """Optimum of the benchmark minus the best value found."""
        return self.optimum - self.best_value

    def regret_curve(self) -> np.ndarray:
        return self.optimum - self.trajectory

    def to_dict(self) -> dict:
        return {
            "algorithm": self.algorithm,
            "seed": self.seed,
            "budget": self.budget,
            "objectives": list(self.objectives),
            "queries_used": len(self.trajectory),
            "best_uid": self.best_uid,
            "best_arch": Arch.from_index(self.best_uid).string,
            "best_value": self.best_value,
            "optimum": self.optimum,
            "optimum_uid": self.optimum_uid,
            "regret": self.regret,
            "trajectory": [float(v) for v in self.trajectory],
            "pareto_front": self.pareto_front,
            "stalled": self.stalled,
        }


def run_search(
    algorithm: str,
    values: np.ndarray,
    budget: int,
    seed: int = 0,
    names: Sequence[str] = ("objective",),
    warm_start: list[Arch] | None = None,
    **options: object,
) -> SearchResult:
    """Run ``algorithm`` against benchmark ``values`` (``(15625,)`` or ``(k, 15625)``, maximised)."""
    spec = get_algorithm(algorithm)
    oracle = Oracle(np.asarray(values), budget, tuple(names))
    if oracle.num_objectives > 1 and not spec.multi_objective:
        raise ValueError(
            f"{algorithm!r} optimises one objective; give one objective (or a weighted sum) or use nsga2"
        )
    if not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rng = random.Random(seed)
    if warm_start:
        options["warm_start"] = warm_start
    try:
        spec.run(oracle, rng, **options)
    except BudgetExhausted:
        pass
    except TypeError as exc:
        raise ValueError(f"bad option for {algorithm!r}: {exc}") from None
    best_value, best_uid = oracle.best()
    optimum, optimum_uid = oracle.optimum()
    return SearchResult(
        algorithm=algorithm,
        seed=seed,
        budget=budget,
        objectives=oracle.names,
        trajectory=oracle.trajectory(),
        best_uid=best_uid,
        best_value=best_value,
        optimum=optimum,
        optimum_uid=optimum_uid,
        queried=[u for u, _ in oracle.history],
        pareto_front=oracle.pareto_front() if oracle.num_objectives > 1 else [best_uid],
        stalled=oracle.stalled,
    )


def compare(
    algorithms: Sequence[str],
    values: np.ndarray,
    budget: int,
    seeds: Sequence[int],
    names: Sequence[str] = ("objective",),
    progress: Callable[[str, int], None] | None = None,
    **options: object,
) -> dict[str, list[SearchResult]]:
    """Run every algorithm with every seed on the same objective."""
    out: dict[str, list[SearchResult]] = {}
    for algo in algorithms:
        out[algo] = []
        for seed in seeds:
            out[algo].append(run_search(algo, values, budget, seed, names, **options))
            if progress:
                progress(algo, seed)
    return out


def summarise(results: dict[str, list[SearchResult]], tolerance: float) -> list[dict]:
    """Per algorithm: median/quartiles of final regret, share of seeds within ``tolerance``,
    and median queries needed to get there (runs that never got there count as the budget)."""
    rows = []
    for algo, runs in results.items():
        regrets = np.array([r.regret for r in runs])
        hits = []
        for r in runs:
            within = np.flatnonzero(r.regret_curve() <= tolerance)
            hits.append(int(within[0]) + 1 if within.size else r.budget)
        rows.append(
            {
                "algorithm": algo,
                "seeds": len(runs),
                "median_regret": float(np.median(regrets)),
                "q25_regret": float(np.quantile(regrets, 0.25)),
                "q75_regret": float(np.quantile(regrets, 0.75)),
                "mean_regret": float(regrets.mean()),
                "share_within_tolerance": float(np.mean(regrets <= tolerance)),
                "median_queries_to_tolerance": float(np.median(hits)),
            }
        )
    return rows
