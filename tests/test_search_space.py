"""Discrete search over any DiscreteSpace with an evaluator: DARTS genotypes, NB201, a live build."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from robnas.errors import ConfigError
from robnas.search import DARTS, NB201, DiscreteSpace, run_search, search_space
from robnas.search.evaluators import build_evaluator, table_evaluator
from robnas.spaces.darts import STEPS, Genotype

# DARTS' own result (DARTS_V2 in the authors' genotypes.py), the optimum of the toy objective
TARGET = Genotype(
    normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
    normal_concat=(2, 3, 4, 5),
    reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
    reduce_concat=(2, 3, 4, 5),
)  # fmt: skip


def matches(g: Genotype) -> float:
    """Per node, the inputs and the (operation, input) edges shared with TARGET (edges of a node
    as an unordered pair): 32 at TARGET only, and every other genotype has a neighbour scoring more."""
    total = 0
    for mine, theirs in ((g.normal, TARGET.normal), (g.reduce, TARGET.reduce)):
        for k in range(STEPS):
            a, b = mine[2 * k : 2 * k + 2], theirs[2 * k : 2 * k + 2]
            total += len({s for _, s in a} & {s for _, s in b}) + len(set(a) & set(b))
    return float(total)


def test_darts_space_moves_stay_in_the_space():
    rng = random.Random(0)
    assert isinstance(DARTS, DiscreteSpace) and isinstance(NB201, DiscreteSpace)
    for _ in range(20):
        g = DARTS.sample(rng)  # Genotype validates itself
        assert all(op != "none" for op, _ in g.normal + g.reduce)
        for cell in (g.normal, g.reduce):
            assert all(cell[2 * k][1] != cell[2 * k + 1][1] for k in range(STEPS))  # distinct inputs
        ns = DARTS.neighbours(g)
        assert (
            len(ns) == 120
            and len({DARTS.key(n) for n in ns}) == 120
            and DARTS.key(g) not in {DARTS.key(n) for n in ns}
        )
        assert all(
            sum(x != y for x, y in zip(g.normal + g.reduce, n.normal + n.reduce, strict=True)) == 1
            for n in ns
        )
        assert DARTS.key(DARTS.mutate(g, rng)) in {DARTS.key(n) for n in ns}
        h = DARTS.sample(rng)
        child = DARTS.crossover(g, h, rng)
        for k in range(STEPS):
            node = child.normal[2 * k : 2 * k + 2]
            assert node in (g.normal[2 * k : 2 * k + 2], h.normal[2 * k : 2 * k + 2])
    swapped = Genotype(
        tuple(e for k in range(STEPS) for e in reversed(TARGET.normal[2 * k : 2 * k + 2])),
        TARGET.normal_concat,
        TARGET.reduce,
        TARGET.reduce_concat,
    )
    assert swapped != TARGET and DARTS.key(swapped) == DARTS.key(TARGET)  # a node's edges are summed


@pytest.mark.parametrize(
    ("algorithm", "options"),
    # regularised evolution with Real et al.'s population (100) and sample (25): the NB201
    # defaults (20, 5) are tuned to budgets of a few hundred and fine-tune slowly here
    [("RE", {"population_size": 100, "sample_size": 25}), ("ls", {})],
)
def test_search_over_darts_genotypes_finds_the_optimum_of_a_toy_evaluator(algorithm, options):
    result = search_space(DARTS, matches, algorithm, budget=3000, seed=0, **options)
    assert result.best_value == 32.0 and DARTS.key(result.best) == DARTS.key(TARGET)
    assert result.algorithm == algorithm.lower()
    assert len(result.evaluated) == len(result.trajectory) <= 3000
    assert np.all(np.diff(result.trajectory) >= 0)
    # each architecture (up to a node's edge order) was evaluated once
    assert len({DARTS.key(a) for a, _ in result.evaluated}) == len(result.evaluated)


@pytest.mark.parametrize("algorithm", ["rs", "re", "ls"])
def test_nb201_through_the_evaluator_seam_matches_the_table_path(algorithm):
    values = np.random.default_rng(3).random(15625)
    table = run_search(algorithm, values, budget=60, seed=7)
    seam = search_space(NB201, table_evaluator(values), algorithm, budget=60, seed=7)
    assert np.array_equal(table.trajectory, seam.trajectory)
    assert table.best_value == seam.best_value and table.best_uid == seam.best.uid


def test_multi_objective_search_over_darts_returns_a_front():
    def two(g: Genotype) -> tuple[float, float]:
        skips = sum(op == "skip_connect" for op, _ in g.normal)
        return matches(g), float(skips)

    result = search_space(DARTS, two, "nsga2", budget=200, seed=1, names=("match", "skips"))
    pts = np.array([v for _, v in result.evaluated])
    assert result.pareto_front and result.objectives == ("match", "skips")
    front = {DARTS.key(a) for a in result.pareto_front}
    for a, v in result.evaluated:  # nothing evaluated dominates a member of the front
        if DARTS.key(a) in front:
            assert not np.any(np.all(pts >= v, axis=1) & np.any(pts > v, axis=1))


def test_bad_search_input_is_a_config_error():
    with pytest.raises(ConfigError, match="has no option population"):
        search_space(DARTS, matches, "re", budget=5, population=3)
    with pytest.raises(ConfigError, match="return one number per objective"):
        search_space(DARTS, lambda g: (1.0, 2.0), "rs", budget=5)
    with pytest.raises(ConfigError, match="unknown search algorithm 'evolutoin'"):
        search_space(DARTS, matches, "evolutoin", budget=5)


def test_a_bug_in_an_algorithm_is_not_reported_as_bad_input(monkeypatch):
    from robnas.search.registry import ALGORITHMS

    spec = ALGORITHMS.get("rs")

    def broken(oracle, rng):
        raise TypeError("a bug")

    monkeypatch.setitem(ALGORITHMS, "rs", dataclasses.replace(spec, run=broken))
    with pytest.raises(TypeError, match="a bug") as exc:
        search_space(DARTS, matches, "rs", budget=5)
    assert not isinstance(exc.value, ConfigError)


def test_a_live_build_serves_as_an_evaluator(tmp_path):
    from robnas.runner import load_config
    from robnas.store import StoreSource

    cfg = load_config(
        {"kind": "synthetic", "dataset": "digits", "seeds": [0], "attacks": {"pgd": [8]},
         "synthetic": {"sleep": 0.0}, "output": str(tmp_path / "b.sqlite")}
    )  # fmt: skip
    evaluate = build_evaluator(cfg, ["digits/pgd@8"])
    result = search_space(NB201, evaluate, "rs", budget=2, seed=0)
    stored = StoreSource(tmp_path / "b.sqlite").values("digits/pgd@8")
    assert len(result.evaluated) == 2
    for arch, value in result.evaluated:
        assert value[0] == stored[arch.index] and np.isfinite(value[0])
