"""Statistics of a measure study: does a measure rank architectures beyond their size?

All correlations are Kendall's tau-b (:func:`scipy.stats.kendalltau`) over the architectures
where both values are finite.

* :func:`partial_tau`: Kendall's partial tau of ``x`` and ``y`` given ``z`` (Kendall 1942):
  ``(t_xy - t_xz t_yz) / sqrt((1 - t_xz^2)(1 - t_yz^2))``; with ``z`` the parameter count it asks
  whether a measure ranks robustness beyond size. It is descriptive: two variables that depend
  on size only through independent noise keep a partial tau well above zero (about a third of
  their raw tau in ``tests/test_measures_stats.py``), hence the two checks below.
* :func:`within_group_tau`: tau computed inside each group of equal ``z`` (architectures with
  the same parameter count), averaged with weights ``n_g (n_g - 1) / 2`` (the pairs compared);
  groups of one architecture carry no pair.
* :func:`cv_tau`: a cross-validated "params + measure" predictor: ordinary least squares on the
  *ranks* of the features (so that heavy-tailed measures do not dominate), fitted on ``k - 1``
  folds and predicting the held-out fold; the tau of the out-of-fold predictions with ``y``.
  Compare ``cv_tau([params], y)`` with ``cv_tau([params, measure], y)``.
* :func:`bootstrap_ci`: percentile bootstrap over architectures (resampling with replacement) of
  any statistic of aligned arrays; :func:`paired_difference_ci` bootstraps the difference of two
  statistics on the same resamples (a paired test: is measure A a better predictor than B?).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


def _finite(*arrays: np.ndarray) -> np.ndarray:
    mask = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        mask &= np.isfinite(np.asarray(a, dtype=np.float64))
    return mask


def tau(x: ArrayLike, y: ArrayLike) -> float:
    """Kendall's tau-b over the finite pairs (nan with fewer than 3 pairs or a constant column)."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    m = _finite(a, b)
    if m.sum() < 3 or np.ptp(a[m]) == 0 or np.ptp(b[m]) == 0:
        return float("nan")
    return float(stats.kendalltau(a[m], b[m]).statistic)


def partial_tau(x: ArrayLike, y: ArrayLike, z: ArrayLike) -> float:
    """Kendall's partial tau of ``x`` and ``y`` given ``z``."""
    a, b, c = (np.asarray(v, dtype=np.float64) for v in (x, y, z))
    m = _finite(a, b, c)
    a, b, c = a[m], b[m], c[m]
    txy, txz, tyz = tau(a, b), tau(a, c), tau(b, c)
    den = np.sqrt((1 - txz**2) * (1 - tyz**2))
    return float((txy - txz * tyz) / den) if den > 0 else float("nan")


def within_group_tau(x: ArrayLike, y: ArrayLike, groups: ArrayLike) -> tuple[float, int]:
    """``(pair-weighted mean tau within groups of equal value of groups, architectures used)``."""
    a, b, g = (np.asarray(v, dtype=np.float64) for v in (x, y, groups))
    m = _finite(a, b, g)
    a, b, g = a[m], b[m], g[m]
    total, weight, used = 0.0, 0, 0
    for value in np.unique(g):
        sel = g == value
        n = int(sel.sum())
        t = tau(a[sel], b[sel]) if n >= 3 else float("nan")
        if np.isfinite(t):
            w = n * (n - 1) // 2
            total += w * t
            weight += w
            used += n
    return (total / weight if weight else float("nan")), used


def _ranks(a: np.ndarray) -> np.ndarray:
    return stats.rankdata(a) / len(a)


def cv_tau(features: Sequence[ArrayLike], y: ArrayLike, folds: int = 5, seed: int = 0) -> float:
    """Tau of out-of-fold least-squares predictions of ``y`` from the ranks of ``features``."""
    cols = [np.asarray(f, dtype=np.float64) for f in features]
    yy = np.asarray(y, dtype=np.float64)
    m = _finite(yy, *cols)
    n = int(m.sum())
    if n < 2 * folds:
        return float("nan")
    design = np.column_stack([np.ones(n)] + [_ranks(c[m]) for c in cols])
    target = yy[m]
    order = np.random.default_rng(seed).permutation(n)
    pred = np.empty(n)
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        coef, *_ = np.linalg.lstsq(design[train], target[train], rcond=None)
        pred[test] = design[test] @ coef
    return tau(pred, target)


def bootstrap_ci(
    statistic: Callable[..., float],
    arrays: Sequence[ArrayLike],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*arrays)`` over resampled architectures."""
    arrs = [np.asarray(a, dtype=np.float64) for a in arrays]
    n = len(arrs[0])
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        v = statistic(*(a[idx] for a in arrs))
        if np.isfinite(v):
            values.append(v)
    if not values:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def paired_difference_ci(
    a: ArrayLike,
    b: ArrayLike,
    y: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """``(tau(a, y) - tau(b, y), lo, hi)``: the difference and its paired bootstrap interval
    (both taus on the same resampled architectures)."""
    p, q, t = (np.asarray(v, dtype=np.float64) for v in (a, b, y))
    m = _finite(p, q, t)
    p, q, t = p[m], q[m], t[m]
    diff = tau(p, t) - tau(q, t)
    lo, hi = bootstrap_ci(lambda u, v, w: tau(u, w) - tau(v, w), [p, q, t], n_boot, seed, level)
    return float(diff), lo, hi
