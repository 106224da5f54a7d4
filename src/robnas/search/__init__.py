"""Discrete search over a benchmark: random search, regularised evolution, local search, NSGA-II,
and measure-guided warm starts. A search spends a budget of benchmark queries (one per new
isomorphism class) through an :class:`Oracle` that records its trajectory."""

from robnas.search.driver import SearchResult, compare, run_search, summarise
from robnas.search.oracle import BudgetExhausted, Oracle, non_dominated
from robnas.search.registry import available_algorithms, get_algorithm, register_algorithm

__all__ = [
    "BudgetExhausted",
    "Oracle",
    "SearchResult",
    "available_algorithms",
    "compare",
    "get_algorithm",
    "non_dominated",
    "register_algorithm",
    "run_search",
    "summarise",
]
