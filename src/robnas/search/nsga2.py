"""NSGA-II over the cell space (Deb, Pratap, Agarwal and Meyarivan, IEEE TEVC 2002).

Written for the discrete NAS-Bench-201 encoding (six operation genes) rather than taken from
pymoo: the variation operators (uniform crossover of genes, one-edge mutation) are specific to
the space, and the budget accounting (one query per new isomorphism class) is the oracle's.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from robnas.search.oracle import EvaluatorOracle, Oracle
from robnas.search.pareto import crowding_distance, nondominated_ranks
from robnas.search.registry import register_algorithm


def _survivors(points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the ``size`` best rows by (rank, -crowding); also ranks and crowding of all."""
    pts = np.where(np.isfinite(points), points, -1e300)
    ranks = nondominated_ranks(pts)
    crowd = np.zeros(len(pts))
    for r in np.unique(ranks):
        idx = np.flatnonzero(ranks == r)
        crowd[idx] = crowding_distance(pts[idx])
    order = np.lexsort((-crowd, ranks))
    return order[:size], ranks, crowd


def _tournament(
    pop: list[tuple[Any, np.ndarray]], ranks: np.ndarray, crowd: np.ndarray, rng: random.Random
) -> Any:
    """Binary tournament on (front, -crowding distance)."""
    i, j = rng.randrange(len(pop)), rng.randrange(len(pop))
    better = i if (ranks[i], -crowd[i]) <= (ranks[j], -crowd[j]) else j
    return pop[better][0]


@register_algorithm("nsga2", "NSGA-II multi-objective search (Deb et al. 2002)", multi_objective=True)
def nsga2(
    oracle: Oracle | EvaluatorOracle,
    rng: random.Random,
    population_size: int = 20,
    crossover_prob: float = 0.9,
    warm_start: list[Any] | None = None,
) -> None:
    """Elitist non-dominated sorting with crowding distance.

    Parents are chosen by binary tournament on (front, crowding distance); a child is the
    uniform crossover of two parents (with probability ``crossover_prob``) followed by a one-edge
    mutation, so every child differs from its first parent. Survivors of parents plus children
    are the best ``population_size`` by front, then crowding. Works for one objective too (it
    then behaves as a (mu + lambda) evolutionary algorithm).
    """
    space = oracle.space
    pop: list[tuple[Any, np.ndarray]] = []
    for arch in list(warm_start or [])[:population_size]:
        pop.append((arch, oracle.query_vector(arch)))
    while len(pop) < population_size:
        arch = space.sample(rng)
        pop.append((arch, oracle.query_vector(arch)))
    while True:
        pts = np.array([v for _, v in pop])
        _, ranks, crowd = _survivors(pts, len(pop))

        children: list[tuple[Any, np.ndarray]] = []
        for _ in range(population_size):
            p1, p2 = _tournament(pop, ranks, crowd, rng), _tournament(pop, ranks, crowd, rng)
            child = space.crossover(p1, p2, rng) if rng.random() < crossover_prob else p1
            child = space.mutate(child, rng)
            children.append((child, oracle.query_vector(child)))
        merged = pop + children
        # one member per isomorphism class, so duplicates do not crowd the front
        unique: dict[Any, tuple[Any, np.ndarray]] = {}
        for arch, vec in merged:
            unique.setdefault(space.key(arch), (arch, vec))
        merged = list(unique.values())
        keep, _, _ = _survivors(np.array([v for _, v in merged]), population_size)
        pop = [merged[i] for i in keep]
