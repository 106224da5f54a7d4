"""The study statistics of robnas.measures.stats on small synthetic data with known answers."""

from __future__ import annotations

import math

import numpy as np

from robnas.measures.stats import (
    bootstrap_ci,
    cv_tau,
    paired_difference_ci,
    partial_tau,
    tau,
    within_group_tau,
)


def test_tau_known_values_and_missing_values() -> None:
    assert tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert tau([1, 2, np.nan, 4, 5], [1, 2, 3, 4, 5]) == 1.0  # the nan pair is left out
    assert math.isnan(tau([1, 1, 1], [1, 2, 3]))  # a constant column


def test_partial_tau_formula_and_a_pure_size_effect() -> None:
    # Kendall's formula on hand-made taus
    x, y, z = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5], [1, 3, 2, 5, 4]
    txy, txz, tyz = tau(x, y), tau(x, z), tau(y, z)
    want = (txy - txz * tyz) / math.sqrt((1 - txz**2) * (1 - tyz**2))
    assert math.isclose(partial_tau(x, y, z), want)
    # a measure that is size plus noise, a target that is size plus other noise: the partial tau
    # given size is far below the raw tau (not zero: Kendall's partial tau is descriptive); a
    # measure that carries the target's own information keeps a high partial tau
    rng = np.random.default_rng(0)
    size, own = rng.normal(size=400), rng.normal(size=400)
    m, t = size + 0.3 * rng.normal(size=400), size + 0.3 * rng.normal(size=400)
    assert tau(m, t) > 0.6 and partial_tau(m, t, size) < tau(m, t) / 2
    assert partial_tau(size + own, size + own + 0.1 * rng.normal(size=400), size) > 0.6


def test_within_group_tau_weights_pairs_and_ignores_singletons() -> None:
    x = [1, 2, 3, 1, 2, 3, 9]
    y = [1, 2, 3, 3, 2, 1, 0]
    g = [0, 0, 0, 1, 1, 1, 2]  # group 0: tau +1, group 1: tau -1, group 2: one architecture
    value, used = within_group_tau(x, y, g)
    assert value == 0.0 and used == 6
    value, used = within_group_tau([1, 2, 3, 4], [1, 2, 3, 5], [0, 0, 0, 1])
    assert value == 1.0 and used == 3


def test_cv_tau_rewards_a_measure_that_adds_information() -> None:
    rng = np.random.default_rng(1)
    size, extra = rng.normal(size=300), rng.normal(size=300)
    target = size + extra
    base = cv_tau([size], target)
    assert cv_tau([size, extra], target) > base + 0.2
    assert cv_tau([size, rng.normal(size=300)], target) < base + 0.05  # noise adds nothing
    assert math.isnan(cv_tau([size[:6]], target[:6]))  # too few for five folds


def test_bootstrap_intervals_cover_the_estimate_and_paired_difference_of_a_copy_is_zero() -> None:
    rng = np.random.default_rng(2)
    a = rng.normal(size=200)
    y = a + rng.normal(size=200)
    t = tau(a, y)
    lo, hi = bootstrap_ci(tau, [a, y], n_boot=200)
    assert lo < t < hi and hi - lo < 0.3
    assert paired_difference_ci(a, a.copy(), y, n_boot=50) == (0.0, 0.0, 0.0)
    d, lo, hi = paired_difference_ci(y, a, y, n_boot=200)  # y predicts itself perfectly
    assert d > 0 and lo > 0
