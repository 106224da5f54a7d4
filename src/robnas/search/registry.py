"""Registry of discrete search algorithms.

An algorithm is a function ``run(oracle, rng, **options)`` that queries the oracle until the
budget is spent (the oracle raises :class:`~robnas.search.oracle.BudgetExhausted`, which the
driver catches). Register one with :func:`register_algorithm`; adding an algorithm is one file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SearchFunction = Callable[..., None]


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    run: SearchFunction
    summary: str
    multi_objective: bool = False


ALGORITHMS: dict[str, AlgorithmSpec] = {}


def register_algorithm(
    name: str, summary: str, multi_objective: bool = False
) -> Callable[[SearchFunction], SearchFunction]:
    def deco(fn: SearchFunction) -> SearchFunction:
        ALGORITHMS[name] = AlgorithmSpec(name, fn, summary, multi_objective)
        return fn

    return deco


def get_algorithm(name: str) -> AlgorithmSpec:
    _load_builtins()
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(
            f"unknown search algorithm {name!r}; available: {', '.join(sorted(ALGORITHMS))}"
        ) from None


def available_algorithms() -> list[str]:
    _load_builtins()
    return sorted(ALGORITHMS)


def _load_builtins() -> None:
    from robnas.search import evolution, local_search, nsga2, random_search  # noqa: F401


__all__ = ["ALGORITHMS", "AlgorithmSpec", "available_algorithms", "get_algorithm", "register_algorithm"]
