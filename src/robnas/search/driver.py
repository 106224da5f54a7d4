"""Run searches reproducibly and summarise them."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robnas.errors import ConfigError
from robnas.registry import check_options
from robnas.search.oracle import BudgetExhausted, Evaluator, EvaluatorOracle, Oracle
from robnas.search.registry import AlgorithmSpec, get_algorithm
from robnas.spaces.discrete import DiscreteSpace
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
    _run(spec, oracle, seed, warm_start, options)
    best_value, best_uid = oracle.best()
    optimum, optimum_uid = oracle.optimum()
    return SearchResult(
        algorithm=spec.name,
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


def _run(
    spec: AlgorithmSpec,
    oracle: Oracle | EvaluatorOracle,
    seed: int,
    warm_start: Sequence[Any] | None,
    options: dict[str, object],
) -> None:
    """Check the options against the algorithm's signature, then spend the oracle's budget."""
    if oracle.num_objectives > 1 and not spec.multi_objective:
        raise ConfigError(
            f"{spec.name!r} optimises one objective; give one objective (or a weighted sum) or use nsga2"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    rng = random.Random(seed)
    if warm_start:
        options["warm_start"] = list(warm_start)
    check_options(spec.name, spec.run, options, skip=2)  # the oracle and the generator
    with contextlib.suppress(BudgetExhausted):  # how every search ends
        spec.run(oracle, rng, **options)


@dataclass
class SpaceSearchResult:
    """Outcome of one search over a :class:`~robnas.spaces.discrete.DiscreteSpace` with an evaluator."""

    algorithm: str
    seed: int
    budget: int
    objectives: tuple[str, ...]
    trajectory: np.ndarray  # best value of objective 0 after each evaluation
    best: Any  # the best architecture found (objective 0)
    best_value: float
    evaluated: list[tuple[Any, np.ndarray]] = field(default_factory=list)  # in evaluation order
    pareto_front: list[Any] = field(default_factory=list)
    stalled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "seed": self.seed,
            "budget": self.budget,
            "objectives": list(self.objectives),
            "evaluations": len(self.trajectory),
            "best": str(self.best),
            "best_value": self.best_value,
            "trajectory": [float(v) for v in self.trajectory],
            "pareto_front": [str(a) for a in self.pareto_front],
            "stalled": self.stalled,
        }


def search_space(
    space: DiscreteSpace[Any],
    evaluate: Evaluator,
    algorithm: str = "re",
    budget: int = 100,
    seed: int = 0,
    names: Sequence[str] = ("objective",),
    warm_start: Sequence[Any] | None = None,
    **options: object,
) -> SpaceSearchResult:
    """Search ``space`` with ``algorithm``, calling ``evaluate(arch)`` once per new architecture.

    Args:
        space: e.g. :data:`robnas.spaces.discrete.DARTS` or :data:`~robnas.spaces.discrete.NB201`.
        evaluate: ``evaluate(arch) -> value`` (or one value per name in ``names``), maximised:
            a function of yours that trains and attacks, a look-up in a results store, a toy
            function.
        algorithm: a registered algorithm (``rs``, ``re``, ``ls``, ``nsga2``; any case).
        budget: how many distinct architectures (by ``space.key``) may be evaluated.
        seed: seeds the algorithm's random choices.
        names: the objectives' names.
        warm_start: architectures to evaluate first (the initial population or first starts).
        options: the algorithm's options (``population_size=...``).

    For NAS-Bench-201 with a benchmark table, :func:`run_search` is the faster path.
    """
    spec = get_algorithm(algorithm)
    oracle = EvaluatorOracle(space, evaluate, budget, names)
    _run(spec, oracle, seed, warm_start, options)
    best_value, best_key = oracle.best()
    front = oracle.pareto_front() if oracle.num_objectives > 1 else [best_key]
    return SpaceSearchResult(
        algorithm=spec.name,
        seed=seed,
        budget=budget,
        objectives=oracle.names,
        trajectory=oracle.trajectory(),
        best=oracle.archs[best_key],
        best_value=best_value,
        evaluated=[(oracle.archs[k], v) for k, v in oracle.history],
        pareto_front=[oracle.archs[k] for k in front],
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
            out[algo].append(run_search(algo, values, budget, seed, names, **options))  # type: ignore[arg-type]
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
