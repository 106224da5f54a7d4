"""Registry of discrete search algorithms.

An algorithm is a function ``run(oracle, rng, **options)`` that queries the oracle until the
budget is spent (the oracle raises :class:`~robnas.search.oracle.BudgetExhausted`, which the
driver catches). Register one with :func:`register_algorithm`; adding an algorithm is one file
(plus one line in :data:`ALGORITHMS` for a built-in). Names are case-insensitive
(``get_algorithm("RE")``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from robnas.registry import Registry

SearchFunction = Callable[..., None]


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    run: SearchFunction
    summary: str
    multi_objective: bool = False


ALGORITHMS: Registry[AlgorithmSpec] = Registry(
    "search algorithm",
    builtin={
        "ls": "robnas.search.local_search",
        "nsga2": "robnas.search.nsga2",
        "re": "robnas.search.evolution",
        "rs": "robnas.search.random_search",
    },
    aliases={
        "local-search": "ls",
        "evolution": "re",
        "regularized-evolution": "re",
        "regularised-evolution": "re",
        "random": "rs",
        "nsga-ii": "nsga2",
    },
)
"""The search-algorithm registry (built-ins imported on first use)."""


def register_algorithm(
    name: str, summary: str, multi_objective: bool = False
) -> Callable[[SearchFunction], SearchFunction]:
    def deco(fn: SearchFunction) -> SearchFunction:
        ALGORITHMS.register(name, AlgorithmSpec(name, fn, summary, multi_objective))
        return fn

    return deco


def get_algorithm(name: str) -> AlgorithmSpec:
    """The algorithm ``name`` (any case, aliases such as ``evolution``); :class:`ConfigError` if unknown."""
    return ALGORITHMS.get(name)


def available_algorithms() -> list[str]:
    """Names of the algorithms (imports none of them)."""
    return ALGORITHMS.names()


__all__ = ["ALGORITHMS", "AlgorithmSpec", "available_algorithms", "get_algorithm", "register_algorithm"]
