"""Regularised evolution (Real, Aggarwal, Huang and Le, AAAI 2019)."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from robnas.search.oracle import EvaluatorOracle, Oracle
from robnas.search.registry import register_algorithm


def evolve(
    oracle: Oracle | EvaluatorOracle,
    rng: random.Random,
    initial: list[Any],
    population_size: int,
    sample_size: int,
) -> None:
    """Aging evolution from a given initial population (evaluated first, in order)."""
    population: deque[tuple[Any, float]] = deque()
    for arch in initial[:population_size]:
        population.append((arch, oracle.query(arch)))
    while len(population) < population_size:
        arch = oracle.space.sample(rng)
        population.append((arch, oracle.query(arch)))
    while True:
        contenders = rng.sample(list(population), min(sample_size, len(population)))
        parent = max(contenders, key=lambda p: p[1])[0]
        child = oracle.space.mutate(parent, rng)
        population.append((child, oracle.query(child)))
        population.popleft()  # the oldest dies, whatever its fitness


@register_algorithm("re", "regularised evolution (Real et al. 2019)")
def regularized_evolution(
    oracle: Oracle | EvaluatorOracle,
    rng: random.Random,
    population_size: int = 20,
    sample_size: int = 5,
    warm_start: list[Any] | None = None,
) -> None:
    """Tournament selection of a parent, one-edge mutation, and removal of the oldest member.

    Choices: the paper's population (100) and sample (25) sizes are for budgets of thousands of
    models; for the budgets of a few hundred queries used on NAS-Bench-201 we default to 20 and
    5 (both options). A mutation changes one edge's operation to a different one, uniformly. If
    ``warm_start`` is given, those architectures form the initial population (measure-guided
    search) before random ones fill it.
    """
    evolve(oracle, rng, list(warm_start or []), population_size, sample_size)
