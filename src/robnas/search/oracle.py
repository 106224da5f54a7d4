"""The benchmark oracle that a discrete search spends its budget on.

A search sees the benchmark only through :class:`Oracle`: it asks for the value of an
architecture, and each *unique* architecture (isomorphism class, by ``uid``) costs one query of
the budget; asking again for an architecture of a class already queried is free. The oracle
records the trajectory (best value found after each query), so every algorithm is measured the
same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robnas.spaces.nb201 import NUM_ARCHS, Arch


class BudgetExhausted(Exception):
    """Raised when a search asks for a new architecture after its budget is spent."""


@dataclass
class Oracle:
    """Answers benchmark queries and counts unique ones.

    ``values`` has shape ``(15625,)`` (one objective, higher is better) or ``(k, 15625)`` (``k``
    objectives, all to be maximised). Missing values (NaN) count as a query and rank below every
    real value.
    """

    values: np.ndarray
    budget: int
    names: tuple[str, ...] = ("objective",)
    _seen: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    history: list[tuple[int, np.ndarray]] = field(default_factory=list, init=False, repr=False)
    calls: int = field(default=0, init=False)
    stalled: bool = field(default=False, init=False)
    max_repeats: int = field(default=100_000, repr=False)
    """Free (repeated) queries in a row after which the search is declared stalled."""
    _repeats: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        vals = np.asarray(self.values, dtype=np.float64)
        if vals.ndim == 1:
            vals = vals[None, :]
        if vals.ndim != 2 or vals.shape[1] != NUM_ARCHS:
            raise ValueError(f"oracle values must have shape (15625,) or (k, 15625), got {vals.shape}")
        if np.isnan(vals).all(axis=1).any():
            raise ValueError("an objective has no value for any architecture")
        if not isinstance(self.budget, int) or self.budget < 1:
            raise ValueError(f"the query budget must be a positive integer, got {self.budget!r}")
        if len(self.names) != vals.shape[0]:
            self.names = tuple(f"objective{i}" for i in range(vals.shape[0]))
        self.values = vals

    @property
    def num_objectives(self) -> int:
        return int(self.values.shape[0])

    @property
    def used(self) -> int:
        return len(self._seen)

    @property
    def remaining(self) -> int:
        return self.budget - self.used

    @property
    def exhausted(self) -> bool:
        return self.used >= self.budget

    def is_known(self, arch: Arch) -> bool:
        return arch.uid in self._seen

    def query_vector(self, arch: Arch) -> np.ndarray:
        """All objective values of ``arch`` (NaN replaced by -inf), spending budget if new."""
        return self.query_uid(arch.uid)

    def query_uid(self, uid: int) -> np.ndarray:
        """:meth:`query_vector` of the class ``uid`` (for search loops that work on codes)."""
        self.calls += 1
        hit = self._seen.get(uid)
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
        vec = self.values[:, uid].copy()
        vec[np.isnan(vec)] = -np.inf
        self._seen[uid] = vec
        self.history.append((uid, vec))
        return vec

    def query(self, arch: Arch) -> float:
        """The (first) objective value of ``arch``."""
        return float(self.query_vector(arch)[0])

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

    def trajectory(self, objective: int = 0) -> np.ndarray:
        """Best value found after each query (length = queries used)."""
        vals = np.array([v[objective] for _, v in self.history], dtype=np.float64)
        return np.maximum.accumulate(vals) if len(vals) else vals

    def best(self, objective: int = 0) -> tuple[float, int]:
        """Best value found so far and its uid."""
        if not self.history:
            raise ValueError("no architecture has been queried yet")
        uid, vec = max(self.history, key=lambda h: h[1][objective])
        return float(vec[objective]), uid

    def pareto_front(self) -> list[int]:
        """Uids of the queried architectures that no other queried one dominates."""
        uids = [u for u, _ in self.history]
        pts = np.array([v for _, v in self.history])
        return [uids[i] for i in non_dominated(pts)]


def _uids() -> np.ndarray:
    from robnas.spaces.nb201 import unique_indices

    return np.asarray(unique_indices(), dtype=np.int64)


def non_dominated(points: np.ndarray) -> list[int]:
    """Indices of the rows of ``points`` (to be maximised) that no other row dominates."""
    pts = np.asarray(points, dtype=np.float64)
    keep = []
    for i in range(len(pts)):
        dominated = np.any(np.all(pts >= pts[i], axis=1) & np.any(pts > pts[i], axis=1))
        if not dominated:
            keep.append(i)
    return keep
