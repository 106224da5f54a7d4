"""Discrete search: random search, regularised evolution, local search, NSGA-II, and
measure-guided warm starts. A search spends a budget of queries (one per new isomorphism class)
through an oracle that records its trajectory: :func:`run_search` over a NAS-Bench-201 benchmark
table (:class:`Oracle`), :func:`search_space` over any :class:`DiscreteSpace` (NAS-Bench-201
cells, DARTS genotypes) with an evaluator ``evaluate(arch) -> value(s)``."""

from robnas.search.driver import SearchResult, SpaceSearchResult, compare, run_search, search_space, summarise
from robnas.search.oracle import BudgetExhausted, Evaluator, EvaluatorOracle, Oracle
from robnas.search.pareto import non_dominated
from robnas.search.registry import available_algorithms, get_algorithm, register_algorithm
from robnas.spaces.discrete import DARTS, NB201, DARTSSpace, DiscreteSpace, NB201Space

__all__ = [
    "DARTS",
    "NB201",
    "BudgetExhausted",
    "DARTSSpace",
    "DiscreteSpace",
    "Evaluator",
    "EvaluatorOracle",
    "NB201Space",
    "Oracle",
    "SearchResult",
    "SpaceSearchResult",
    "available_algorithms",
    "compare",
    "get_algorithm",
    "non_dominated",
    "register_algorithm",
    "run_search",
    "search_space",
    "summarise",
]
