"""Random search: architectures drawn uniformly from the 15,625 cells (Li and Talwalkar, 2019)."""

from __future__ import annotations

import random

from robnas.search.oracle import EvaluatorOracle, Oracle
from robnas.search.registry import register_algorithm


@register_algorithm("rs", "random search: uniform samples of the cell space")
def random_search(oracle: Oracle | EvaluatorOracle, rng: random.Random) -> None:
    """Query uniformly random cells until the budget is spent.

    Cells are drawn uniformly from all 15,625 (as a user sampling the space would), so classes
    with many isomorphic members are drawn more often; a draw from an already queried class
    costs nothing and is simply drawn again.
    """
    while True:
        oracle.query(oracle.space.sample(rng))
