"""The oracle that a discrete search spends its budget on.

A search sees the objective only through an oracle: it asks for the value of an architecture,
and each *unique* architecture (the space's ``key``: for NAS-Bench-201 the isomorphism class
``uid``) costs one query of the budget; asking again for one already queried is free. The oracle
records the trajectory (best value found after each query), so every algorithm is measured the
same way, and it carries the space (:class:`~robnas.spaces.discrete.DiscreteSpace`) whose moves
the algorithm makes.

* :class:`Oracle`: a NAS-Bench-201 benchmark table (all 15,625 values known, looked up by uid);
* :class:`EvaluatorOracle`: any space and any evaluator ``evaluate(arch) -> value(s)`` (a DARTS
  genotype trained and attacked by user code, a build, a toy function).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from robnas.errors import ConfigError
from robnas.search.pareto import non_dominated
from robnas.spaces.discrete import NB201, DiscreteSpace
from robnas.spaces.nb201 import NUM_ARCHS, Arch

Evaluator = Callable[[Any], "float | Sequence[float]"]
"""``evaluate(arch) -> value`` or ``-> (value, value, ...)``: objectives to maximise."""


class BudgetExhausted(Exception):
    """Raised when a search asks for a new architecture after its budget is spent."""


class _Budget:
    """Budget accounting and the record of queries, shared by the oracles.

    Subclasses set ``space``, ``budget``, ``names``, ``_seen``, ``history``, ``calls``,
    ``stalled`` and implement :meth:`_evaluate`.
    """

    space: DiscreteSpace[Any]
    budget: int
    names: tuple[str, ...]
    _seen: dict[Hashable, np.ndarray]
    history: list[tuple[Any, np.ndarray]]
    calls: int
    stalled: bool
    max_repeats: int
    """Free (repeated) queries in a row after which the search is declared stalled."""
    _repeats: int

    def _evaluate(self, arch: Any, key: Hashable) -> np.ndarray:
        raise NotImplementedError

    @property
    def num_objectives(self) -> int:
        return len(self.names)

    @property
    def used(self) -> int:
        return len(self._seen)

    @property
    def remaining(self) -> int:
        return self.budget - self.used

    @property
    def exhausted(self) -> bool:
        return self.used >= self.budget

    def is_known(self, arch: Any) -> bool:
        return self.space.key(arch) in self._seen

    def query_vector(self, arch: Any) -> np.ndarray:
        """All objective values of ``arch`` (NaN replaced by -inf), spending budget if new."""
        return self._query(self.space.key(arch), arch)

    def _query(self, key: Hashable, arch: Any) -> np.ndarray:
        self.calls += 1
        hit = self._seen.get(key)
        if hit is not None:
            self._repeats += 1
            if self._repeats > self.max_repeats:
                # an algorithm that only revisits known classes would never end. Counted in a
                # row, not in total: a total that grows with the budget (it was 1,000 x budget)
                # let regularised evolution spin for minutes near the end of the space
                self.stalled = True
                raise BudgetExhausted(
                    f"search stalled: {self._repeats} queries in a row found no new architecture class"
                )
            return hit
        self._repeats = 0
        if self.exhausted:
            raise BudgetExhausted(f"query budget of {self.budget} spent")
        vec = self._evaluate(arch, key)
        vec[np.isnan(vec)] = -np.inf
        self._seen[key] = vec
        self.history.append((key, vec))
        return vec

    def query(self, arch: Any) -> float:
        """The (first) objective value of ``arch``."""
        return float(self.query_vector(arch)[0])

    def trajectory(self, objective: int = 0) -> np.ndarray:
        """Best value found after each query (length = queries used)."""
        vals = np.array([v[objective] for _, v in self.history], dtype=np.float64)
        return np.maximum.accumulate(vals) if len(vals) else vals

    def best(self, objective: int = 0) -> tuple[float, Any]:
        """Best value found so far and the key of its architecture."""
        if not self.history:
            raise ValueError("no architecture has been queried yet")  # an algorithm's bug
        key, vec = max(self.history, key=lambda h: h[1][objective])
        return float(vec[objective]), key

    def pareto_front(self) -> list[Any]:
        """Keys of the queried architectures that no other queried one dominates."""
        keys = [k for k, _ in self.history]
        pts = np.array([v for _, v in self.history])
        return [keys[i] for i in non_dominated(pts)]


@dataclass
class Oracle(_Budget):
    """Answers NAS-Bench-201 benchmark queries from a table and counts unique ones.

    ``values`` has shape ``(15625,)`` (one objective, higher is better) or ``(k, 15625)`` (``k``
    objectives, all to be maximised). Missing values (NaN) count as a query and rank below every
    real value.
    """

    values: np.ndarray
    budget: int
    names: tuple[str, ...] = ("objective",)
    _seen: dict[Hashable, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    history: list[tuple[Any, np.ndarray]] = field(default_factory=list, init=False, repr=False)
    calls: int = field(default=0, init=False)
    stalled: bool = field(default=False, init=False)
    space: DiscreteSpace[Any] = field(default=NB201, init=False, repr=False)
    max_repeats: int = field(default=100_000, repr=False)
    _repeats: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        vals = np.asarray(self.values, dtype=np.float64)
        if vals.ndim == 1:
            vals = vals[None, :]
        if vals.ndim != 2 or vals.shape[1] != NUM_ARCHS:
            raise ConfigError(f"oracle values must have shape (15625,) or (k, 15625), got {vals.shape}")
        if np.isnan(vals).all(axis=1).any():
            raise ConfigError("an objective has no value for any architecture")
        if not isinstance(self.budget, int) or self.budget < 1:
            raise ConfigError(f"the query budget must be a positive integer, got {self.budget!r}")
        if len(self.names) != vals.shape[0]:
            self.names = tuple(f"objective{i}" for i in range(vals.shape[0]))
        self.values = vals

    def _evaluate(self, arch: Arch | None, key: Hashable) -> np.ndarray:
        return self.values[:, cast(int, key)].copy()

    def query_uid(self, uid: int) -> np.ndarray:
        """:meth:`query_vector` of the class ``uid`` (for search loops that work on codes)."""
        return self._query(uid, None)

    # ------------------------------------------------------------------ reporting
    def optimum(self, objective: int = 0) -> tuple[float, int]:
        """Best value a search can reach and the uid that attains it.

        A query reads the column of the architecture's ``uid`` (the smallest index of its
        isomorphism class), so the optimum is taken over those columns only. Tabular robustness
        benchmarks give every member of a class the same value, but per-index sources such as
        zero-cost proxies do not: the maximum over all 15,625 indices could sit at an index that
        no search can ever be shown, and its regret would never reach zero.
        """
        uids = _uids()
        col = self.values[objective][uids]
        best = int(np.nanargmax(col))
        return float(col[best]), int(uids[best])


class EvaluatorOracle(_Budget):
    """Answers queries by calling ``evaluate(arch)`` once per new architecture (by the space's key).

    Args:
        space: the :class:`~robnas.spaces.discrete.DiscreteSpace` the algorithm moves in.
        evaluate: ``evaluate(arch) -> value`` or a sequence of ``k`` values, all maximised.
        budget: how many distinct architectures may be evaluated.
        names: the objectives' names (``k`` of them).
    """

    def __init__(
        self,
        space: DiscreteSpace[Any],
        evaluate: Evaluator,
        budget: int,
        names: Sequence[str] = ("objective",),
    ) -> None:
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise ConfigError(f"the query budget must be a positive integer, got {budget!r}")
        if not callable(evaluate):
            raise ConfigError(f"the evaluator must be a function of an architecture, got {evaluate!r}")
        self.space = space
        self.evaluate = evaluate
        self.budget = budget
        self.names = tuple(names) or ("objective",)
        self._seen = {}
        self.history = []
        self.archs: dict[Hashable, Any] = {}
        self.calls = 0
        self.stalled = False
        self.max_repeats = 100_000
        self._repeats = 0

    def _evaluate(self, arch: Any, key: Hashable) -> np.ndarray:
        value = self.evaluate(arch)
        vec = np.atleast_1d(np.asarray(value, dtype=np.float64)).copy()
        if vec.ndim != 1 or vec.shape[0] != len(self.names):
            raise ConfigError(
                f"the evaluator returned {value!r} for {len(self.names)} objective(s) "
                f"({', '.join(self.names)}); return one number per objective"
            )
        self.archs[key] = arch
        return vec


def _uids() -> np.ndarray:
    from robnas.spaces.nb201 import unique_indices

    return np.asarray(unique_indices(), dtype=np.int64)
