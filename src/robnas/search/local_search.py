"""Local search (White, Nolen, Ravi, Savani and Yu, "Exploring the loss landscape in neural
architecture search", UAI 2021)."""

from __future__ import annotations

import random
from typing import Any

from robnas.search.oracle import EvaluatorOracle, Oracle
from robnas.search.registry import register_algorithm


def climb(oracle: Oracle | EvaluatorOracle, rng: random.Random, start: Any) -> Any:
    """Best-improvement hill climbing from ``start`` until a local optimum; returns it."""
    current, value = start, oracle.query(start)
    while True:
        neighbours = oracle.space.neighbours(current)
        rng.shuffle(neighbours)
        best, best_value = current, value
        for n in neighbours:
            v = oracle.query(n)
            if v > best_value:
                best, best_value = n, v
        if best is current:
            return current
        current, value = best, best_value


@register_algorithm("ls", "local search with random restarts (White et al. 2021)")
def local_search(
    oracle: Oracle | EvaluatorOracle, rng: random.Random, warm_start: list[Any] | None = None
) -> None:
    """Evaluate the whole one-edge neighbourhood, move to the best neighbour while it improves,
    and restart from a random cell at a local optimum.

    Choices: the neighbourhood is evaluated in random order, so a budget that ends mid-way
    still spends its queries on a random part of it; neighbours that are isomorphic to cells
    already queried cost nothing. With ``warm_start`` the first climbs start from those cells.
    """
    starts = list(warm_start or [])
    while True:
        start = starts.pop(0) if starts else oracle.space.sample(rng)
        climb(oracle, rng, start)
