"""NSGA-II over the cell space (Deb, Pratap, Agarwal and Meyarivan, IEEE TEVC 2002).

Written for the discrete NAS-Bench-201 encoding (six operation genes) rather than taken from
pymoo: the variation operators (uniform crossover of genes, one-edge mutation) are specific to
the space, and the budget accounting (one query per new isomorphism class) is the oracle's.
"""

from __future__ import annotations

import random

import numpy as np

from robnas.search.oracle import Oracle
from robnas.search.registry import register_algorithm
from robnas.spaces.nb201 import Arch, random_arch


def nondominated_ranks(points: np.ndarray) -> np.ndarray:
    """Front number of each row (0 = non-dominated), all objectives maximised."""
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    ge = np.all(pts[:, None, :] >= pts[None, :, :], axis=2)
    gt = np.any(pts[:, None, :] > pts[None, :, :], axis=2)
    dominates = ge & gt  # dominates[i, j]: i dominates j
    dominated_by = dominates.sum(axis=0)
    ranks = np.full(n, -1, dtype=np.int64)
    front = np.flatnonzero(dominated_by == 0)
    r = 0
    while front.size:
        ranks[front] = r
        dominated_by = dominated_by - dominates[front].sum(axis=0)
        dominated_by[ranks >= 0] = -1
        front = np.flatnonzero(dominated_by == 0)
        r += 1
    return ranks


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """Crowding distance of each row within one front (boundary points get +inf)."""
    pts = np.asarray(points, dtype=np.float64)
    n, k = pts.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for m in range(k):
        order = np.argsort(pts[:, m], kind="stable")
        lo, hi = pts[order[0], m], pts[order[-1], m]
        dist[order[0]] = dist[order[-1]] = np.inf
        span = hi - lo
        if not np.isfinite(span) or span <= 0:
            continue
        dist[order[1:-1]] += (pts[order[2:], m] - pts[order[:-2], m]) / span
    return dist


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
    pop: list[tuple[Arch, np.ndarray]], ranks: np.ndarray, crowd: np.ndarray, rng: random.Random
) -> Arch:
    """Binary tournament on (front, -crowding distance)."""
    i, j = rng.randrange(len(pop)), rng.randrange(len(pop))
    better = i if (ranks[i], -crowd[i]) <= (ranks[j], -crowd[j]) else j
    return pop[better][0]


def _crossover(a: Arch, b: Arch, rng: random.Random) -> Arch:
    return Arch(tuple(x if rng.random() < 0.5 else y for x, y in zip(a.ops, b.ops, strict=True)))  # type: ignore[arg-type]


@register_algorithm("nsga2", "NSGA-II multi-objective search (Deb et al. 2002)", multi_objective=True)
def nsga2(
    oracle: Oracle,
    rng: random.Random,
    population_size: int = 20,
    crossover_prob: float = 0.9,
    warm_start: list[Arch] | None = None,
) -> None:
    """Elitist non-dominated sorting with crowding distance.

    Parents are chosen by binary tournament on (front, crowding distance); a child is the
    uniform crossover of two parents (with probability ``crossover_prob``) followed by a one-edge
    mutation, so every child differs from its first parent. Survivors of parents plus children
    are the best ``population_size`` by front, then crowding. Works for one objective too (it
    then behaves as a (mu + lambda) evolutionary algorithm).
    """
    pop: list[tuple[Arch, np.ndarray]] = []
    for arch in list(warm_start or [])[:population_size]:
        pop.append((arch, oracle.query_vector(arch)))
    while len(pop) < population_size:
        arch = random_arch(rng)
        pop.append((arch, oracle.query_vector(arch)))
    while True:
        pts = np.array([v for _, v in pop])
        _, ranks, crowd = _survivors(pts, len(pop))

        children: list[tuple[Arch, np.ndarray]] = []
        for _ in range(population_size):
            p1, p2 = _tournament(pop, ranks, crowd, rng), _tournament(pop, ranks, crowd, rng)
            child = _crossover(p1, p2, rng) if rng.random() < crossover_prob else p1
            child = child.mutate(rng)
            children.append((child, oracle.query_vector(child)))
        merged = pop + children
        # one member per isomorphism class, so duplicates do not crowd the front
        unique: dict[int, tuple[Arch, np.ndarray]] = {}
        for arch, vec in merged:
            unique.setdefault(arch.uid, (arch, vec))
        merged = list(unique.values())
        keep, _, _ = _survivors(np.array([v for _, v in merged]), population_size)
        pop = [merged[i] for i in keep]
