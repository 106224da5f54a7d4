"""Discrete search on synthetic landscapes: budget accounting, reproducibility, correctness."""

from __future__ import annotations

import numpy as np
import pytest

from robnas.search import Oracle, available_algorithms, non_dominated, run_search, summarise
from robnas.search.nsga2 import crowding_distance, nondominated_ranks
from robnas.spaces.nb201 import NUM_ARCHS, Arch, uid_of

UID = np.array([uid_of(i) for i in range(NUM_ARCHS)])


def landscape(seed: int) -> np.ndarray:
    """Random values shared by isomorphic cells (as in a real benchmark)."""
    return np.random.default_rng(seed).random(NUM_ARCHS)[UID]


def smooth_landscape() -> np.ndarray:
    """Value = number of edges carrying nor_conv_3x3: a single-peak landscape, optimum 6."""
    return np.array([Arch.from_index(i).ops.count(3) for i in range(NUM_ARCHS)], dtype=float)[UID]


@pytest.mark.parametrize("algo", ["rs", "re", "ls", "nsga2"])
def test_budget_counts_unique_classes_and_is_reproducible(algo: str) -> None:
    v = landscape(0)
    r1 = run_search(algo, v, budget=150, seed=4)
    r2 = run_search(algo, v, budget=150, seed=4)
    assert len(r1.trajectory) == 150 == len(set(r1.queried))
    assert np.array_equal(r1.trajectory, r2.trajectory) and r1.queried == r2.queried
    assert np.all(np.diff(r1.trajectory) >= 0)  # best-so-far never decreases
    assert r1.best_value == v[r1.best_uid] == r1.trajectory[-1]
    assert r1.regret >= 0 and r1.optimum == v.max()
    assert all(uid_of(u) == u for u in r1.queried)  # queries are counted by class representative


@pytest.mark.parametrize("algo", ["re", "ls", "nsga2"])
def test_finds_optimum_of_a_smooth_landscape(algo: str) -> None:
    v = smooth_landscape()
    r = run_search(algo, v, budget=200, seed=0)
    assert r.best_value == 6.0 and r.regret == 0.0


def test_local_search_beats_random_on_smooth_landscape() -> None:
    v = smooth_landscape()
    ls = np.mean([run_search("ls", v, 60, seed=s).best_value for s in range(10)])
    rs = np.mean([run_search("rs", v, 60, seed=s).best_value for s in range(10)])
    assert ls > rs


def test_warm_start_is_queried_first() -> None:
    v = landscape(1)
    start = [Arch.from_index(int(np.argmax(v)))]
    r = run_search("re", v, budget=30, seed=0, warm_start=start)
    assert r.queried[0] == start[0].uid and r.regret == 0.0


def test_oracle_charges_once_per_class_and_stops() -> None:
    v = landscape(2)
    oracle = Oracle(v, budget=2)
    a = Arch.from_string(
        "|avg_pool_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|skip_connect~2|"
    )
    b = Arch.from_string(
        "|skip_connect~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|skip_connect~2|"
    )
    assert a.uid == b.uid
    oracle.query(a)
    oracle.query(b)
    assert oracle.used == 1
    oracle.query(Arch.from_index(6111))
    from robnas.search import BudgetExhausted

    with pytest.raises(BudgetExhausted):
        oracle.query(
            Arch.from_index(0) if Arch.from_index(0).uid not in (a.uid, 6111) else Arch.from_index(1)
        )


def test_missing_values_rank_last() -> None:
    v = landscape(3)
    v[UID == UID[5]] = np.nan
    oracle = Oracle(v, budget=5)
    assert oracle.query(Arch.from_index(5)) == -np.inf


def test_pareto_helpers() -> None:
    pts = np.array([[1, 5], [2, 4], [3, 3], [2, 2], [0, 0], [3, 3]], dtype=float)
    assert sorted(non_dominated(pts)) == [0, 1, 2, 5]
    assert list(nondominated_ranks(pts)) == [0, 0, 0, 1, 2, 0]
    cd = crowding_distance(pts[[0, 1, 2]])
    assert np.isinf(cd[0]) and np.isinf(cd[2]) and np.isfinite(cd[1])


def test_nsga2_front_is_nondominated_and_spread() -> None:
    v1 = smooth_landscape()
    v2 = -np.array(
        [Arch.from_index(i).ops.count(3) + 0.5 * Arch.from_index(i).ops.count(2) for i in range(NUM_ARCHS)]
    )[UID]
    r = run_search("nsga2", np.stack([v1, v2]), budget=200, seed=0, names=("conv3", "-size"))
    front = np.array([[v1[u], v2[u]] for u in r.pareto_front])
    assert len(r.pareto_front) >= 4
    assert sorted(non_dominated(front)) == list(range(len(front)))


def test_errors() -> None:
    v = landscape(0)
    with pytest.raises(ValueError, match="unknown search algorithm"):
        run_search("bogo", v, 10)
    with pytest.raises(ValueError, match="budget"):
        run_search("rs", v, 0)
    with pytest.raises(ValueError, match="one objective"):
        run_search("re", np.stack([v, v]), 10)
    with pytest.raises(ValueError, match="shape"):
        Oracle(np.zeros(10), 5)
    assert {"rs", "re", "ls", "nsga2"} <= set(available_algorithms())


def test_summary() -> None:
    v = landscape(0)
    res = {"rs": [run_search("rs", v, 50, seed=s) for s in range(4)]}
    (row,) = summarise(res, tolerance=0.01)
    assert row["seeds"] == 4 and 0 <= row["share_within_tolerance"] <= 1
    assert row["q25_regret"] <= row["median_regret"] <= row["q75_regret"]


def _reference_re(values: np.ndarray, budget: int, seed: int) -> list[int]:
    """Regularised evolution written plainly on ``Arch`` objects (population 20, sample 5)."""
    import random
    from collections import deque

    from robnas.search import BudgetExhausted
    from robnas.spaces.nb201 import random_arch

    oracle, rng = Oracle(values, budget), random.Random(seed)
    population: deque = deque()
    try:
        while len(population) < 20:
            a = random_arch(rng)
            population.append((a, oracle.query(a)))
        while True:
            parent = max(rng.sample(list(population), 5), key=lambda p: p[1])[0]
            nbrs = [parent.with_op(p, o) for p in range(6) for o in range(5) if o != parent.ops[p]]
            child = rng.choice(nbrs)
            population.append((child, oracle.query(child)))
            population.popleft()
    except BudgetExhausted:
        return [u for u, _ in oracle.history]


@pytest.mark.parametrize("seed", [0, 3])
def test_fast_regularised_evolution_is_the_plain_algorithm(seed: int) -> None:
    """The code-based loop queries exactly what the plain Arch version queries, in order."""
    v = landscape(5)
    assert run_search("re", v, budget=400, seed=seed).queried == _reference_re(v, 400, seed)


def test_mutate_draws_like_choice_over_neighbours() -> None:
    import random

    from robnas.search.evolution import mutate_code

    for index in (0, 6111, 15624, 777):
        a = Arch.from_index(index)
        r1, r2, r3 = random.Random(index), random.Random(index), random.Random(index)
        for _ in range(30):
            expected = r1.choice(a.neighbours())
            assert a.mutate(r2) == expected
            assert mutate_code(a.code, r3) == expected.code


def test_stall_is_counted_in_a_row() -> None:
    """A search that only revisits known classes stops after max_repeats repeats in a row."""
    from robnas.search import BudgetExhausted

    oracle = Oracle(landscape(2), budget=10, max_repeats=5)
    a = Arch.from_index(6111)
    oracle.query(a)
    for _ in range(5):
        oracle.query(a)
    oracle.query(Arch.from_index(0) if Arch.from_index(0).uid != a.uid else Arch.from_index(1))
    for _ in range(5):  # the count restarts after a new class
        oracle.query(a)
    with pytest.raises(BudgetExhausted, match="in a row"):
        oracle.query(a)
    assert oracle.stalled and oracle.used == 2
