"""Pareto fronts of points to be maximised: front ranks, the non-dominated set, crowding distance.

One implementation serves the oracles' reported front (:func:`non_dominated`) and NSGA-II's
selection (:func:`nondominated_ranks`, :func:`crowding_distance`; Deb et al., IEEE TEVC 2002).
A point dominates another if it is at least as good in every objective and better in one.
"""

from __future__ import annotations

import numpy as np


def nondominated_ranks(points: np.ndarray) -> np.ndarray:
    """Front number of each row (0 = non-dominated), all objectives maximised."""
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    ge = np.all(pts[:, None, :] >= pts[None, :, :], axis=2)
    gt = np.any(pts[:, None, :] > pts[None, :, :], axis=2)
    dominates = ge & gt  # dominates[i, j]: i dominates j
    dominated_by = dominates.sum(axis=0)
    ranks = np.full(n, -1, dtype=np.int64)
    front = np.flatnonzero(dominated_by == 0)
    r = 0
    while front.size:
        ranks[front] = r
        dominated_by = dominated_by - dominates[front].sum(axis=0)
        dominated_by[ranks >= 0] = -1
        front = np.flatnonzero(dominated_by == 0)
        r += 1
    return ranks


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """Crowding distance of each row within one front (boundary points get +inf)."""
    pts = np.asarray(points, dtype=np.float64)
    n, k = pts.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for m in range(k):
        order = np.argsort(pts[:, m], kind="stable")
        lo, hi = pts[order[0], m], pts[order[-1], m]
        dist[order[0]] = dist[order[-1]] = np.inf
        span = hi - lo
        if not np.isfinite(span) or span <= 0:
            continue
        dist[order[1:-1]] += (pts[order[2:], m] - pts[order[:-2], m]) / span
    return dist


def non_dominated(points: np.ndarray) -> list[int]:
    """Indices of the rows of ``points`` (to be maximised) that no other row dominates."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 0:
        return []
    return [int(i) for i in np.flatnonzero(nondominated_ranks(pts.reshape(len(pts), -1)) == 0)]


__all__ = ["crowding_distance", "non_dominated", "nondominated_ranks"]
