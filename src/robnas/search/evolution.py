"""Regularised evolution (Real, Aggarwal, Huang and Le, AAAI 2019)."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from robnas.search.oracle import EvaluatorOracle, Oracle
from robnas.search.registry import register_algorithm
from robnas.spaces.nb201 import EDGES, OPS, Arch, code_uid_table, random_arch

# the place value of each edge's digit in Arch.code (edge 0 is the most significant)
_PLACE = tuple(len(OPS) ** (len(EDGES) - 1 - pos) for pos in range(len(EDGES)))
_NUM_NEIGHBOURS = len(EDGES) * (len(OPS) - 1)


def mutate_code(code: int, rng: random.Random) -> int:
    """:meth:`Arch.mutate` on an architecture's code: the same draw, the same neighbour."""
    pos, j = divmod(rng.randrange(_NUM_NEIGHBOURS), len(OPS) - 1)
    place = _PLACE[pos]
    current = code // place % len(OPS)
    new = j if j < current else j + 1
    return code + (new - current) * place


def _evolve_codes(
    oracle: Oracle,
    rng: random.Random,
    initial: list[Arch],
    population_size: int,
    sample_size: int,
) -> None:
    """Aging evolution from a given initial population (evaluated first, in order).

    The loop works on architecture codes and a code -> uid table rather than on ``Arch``
    objects: on a tabular benchmark a revisit is free, so as the budget nears the number of
    classes most children are classes already queried and the loop runs many times per new
    query (about 80 mutations per query at 3,000 queries on jung2023). Each turn must then cost
    microseconds; the draws are those of the ``Arch`` version, so the search is unchanged
    (``benchmarks/bench_search_re.py`` checks this and times both).
    """
    uid_of = code_uid_table()
    population: deque[tuple[int, float]] = deque()
    for arch in initial[:population_size]:
        population.append((arch.code, float(oracle.query_uid(arch.uid)[0])))
    while len(population) < population_size:
        arch = random_arch(rng)
        population.append((arch.code, float(oracle.query_uid(arch.uid)[0])))
    k = min(sample_size, len(population))
    while True:
        contenders = rng.sample(list(population), k)
        parent = max(contenders, key=lambda p: p[1])[0]
        child = mutate_code(parent, rng)
        population.append((child, float(oracle.query_uid(uid_of[child])[0])))
        population.popleft()  # the oldest dies, whatever its fitness


def evolve(
    oracle: Oracle | EvaluatorOracle,
    rng: random.Random,
    initial: list[Any],
    population_size: int,
    sample_size: int,
) -> None:
    """Aging evolution from a given initial population (evaluated first, in order).

    On a NAS-Bench-201 table (:class:`Oracle`) the loop runs on architecture codes
    (:func:`_evolve_codes`, the fast path); on any other space it makes its moves through
    ``oracle.space`` with the same sequence of choices.
    """
    if isinstance(oracle, Oracle):
        _evolve_codes(oracle, rng, initial, population_size, sample_size)
        return
    population: deque[tuple[Any, float]] = deque()
    for arch in initial[:population_size]:
        population.append((arch, oracle.query(arch)))
    while len(population) < population_size:
        arch = oracle.space.sample(rng)
        population.append((arch, oracle.query(arch)))
    k = min(sample_size, len(population))
    while True:
        contenders = rng.sample(list(population), k)
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
