"""Minimum-norm points of convex hulls of gradients: the MGDA step (Désidéri 2012; Sener and
Koltun, "Multi-task learning as multi-objective optimization", NeurIPS 2018).

Given objective gradients ``g_1 .. g_k`` (rows of ``G``), MGDA looks for weights ``w`` on the
simplex minimising ``||sum_i w_i g_i||^2``. The result ``d = sum_i w_i g_i`` is a common descent
direction of every objective (``<d, g_i> >= ||d||^2``), or zero at a Pareto-stationary point.

* :func:`min_norm_2` -- the exact closed form for two gradients (Sener and Koltun, Algorithm 1);
* :func:`frank_wolfe` -- their Frank-Wolfe solver for any number of gradients (Algorithm 2),
  started, as in their code, from the best pair found by :func:`min_norm_2`;
* :func:`min_norm_exact` -- an exact active-set enumeration for a few gradients (used as a
  reference; cost grows as ``2^k``);
* :func:`min_norm_weights` -- picks the closed form for ``k = 2`` and Frank-Wolfe otherwise.

Everything works on the Gram matrix ``M = G G^T`` only, so gradients of any size cost one
``k x k`` matrix product.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from robnas.errors import ConfigError


def _pair(m11: float, m12: float, m22: float) -> tuple[float, float]:
    """``gamma`` minimising ``||gamma a + (1 - gamma) b||^2`` from ``a.a, a.b, b.b``; and the value."""
    if m12 >= m11:  # a is inside: the minimum is at a
        return 1.0, m11
    if m12 >= m22:  # b is inside
        return 0.0, m22
    gamma = (m22 - m12) / (m11 + m22 - 2 * m12)
    value = gamma * gamma * m11 + 2 * gamma * (1 - gamma) * m12 + (1 - gamma) ** 2 * m22
    return float(gamma), float(value)


def gram(grads: Tensor | list[Tensor]) -> Tensor:
    """``M = G G^T`` (float64) of gradients given as rows of a tensor or as a list of tensors."""
    if isinstance(grads, list):
        grads = torch.stack([g.detach().reshape(-1) for g in grads])
    g = grads.detach().reshape(grads.shape[0], -1).double()
    return g @ g.T


def min_norm_2(g1: Tensor, g2: Tensor) -> Tensor:
    """Exact weights ``(gamma, 1 - gamma)`` of the min-norm point of the segment ``[g1, g2]``."""
    m = gram([g1, g2])
    gamma, _ = _pair(float(m[0, 0]), float(m[0, 1]), float(m[1, 1]))
    return torch.tensor([gamma, 1.0 - gamma], dtype=torch.float64)


def frank_wolfe(
    grads: Tensor | list[Tensor], max_iter: int = 250, tol: float = 1e-7, gram_matrix: Tensor | None = None
) -> Tensor:
    """Weights on the simplex of the min-norm point of the convex hull of ``grads`` (Frank-Wolfe).

    Sener and Koltun's Algorithm 2: start at the best pair's min-norm point, then repeatedly move
    towards the vertex ``t = argmin_r (M w)_r`` with the exact line search of :func:`_pair`,
    until the step changes ``w`` by less than ``tol``.
    """
    m = gram(grads) if gram_matrix is None else gram_matrix.double()
    k = m.shape[0]
    if k == 1:
        return torch.ones(1, dtype=torch.float64)
    # initialisation: best of the pairwise solutions
    best = (float("inf"), 0, 1, 0.5)
    for i, j in itertools.combinations(range(k), 2):
        gamma, value = _pair(float(m[i, i]), float(m[i, j]), float(m[j, j]))
        if value < best[0]:
            best = (value, i, j, gamma)
    w = torch.zeros(k, dtype=torch.float64)
    w[best[1]], w[best[2]] = best[3], 1 - best[3]
    for _ in range(max_iter):
        mw = m @ w
        t = int(torch.argmin(mw))
        v11 = float(w @ mw)  # <theta, theta>
        v12 = float(mw[t])  # <theta, g_t>
        v22 = float(m[t, t])
        gamma, _ = _pair(v11, v12, v22)  # weight on theta
        new = gamma * w
        new[t] += 1 - gamma
        if float((new - w).abs().sum()) < tol:
            w = new
            break
        w = new
    return w


def min_norm_exact(grads: Tensor | list[Tensor], gram_matrix: Tensor | None = None) -> Tensor:
    """Exact min-norm weights by enumerating supports (KKT of the equality-constrained QP).

    For every non-empty support ``S`` solve ``M_SS w_S = lambda 1, 1^T w_S = 1``; keep feasible
    (``w_S >= 0``) solutions and return the one of least norm. Exponential in ``k``: a reference
    for tests and for a handful of objectives.
    """
    m = gram(grads) if gram_matrix is None else gram_matrix.double()
    k = m.shape[0]
    best_w, best_v = None, float("inf")
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            idx = list(support)
            a = torch.zeros(size + 1, size + 1, dtype=torch.float64)
            a[:size, :size] = m[idx][:, idx]
            a[:size, size] = -1.0
            a[size, :size] = 1.0
            b = torch.zeros(size + 1, dtype=torch.float64)
            b[size] = 1.0
            sol = torch.linalg.lstsq(a, b.unsqueeze(1)).solution.squeeze(1)
            ws = sol[:size]
            if bool((ws < -1e-10).any()) or abs(float(ws.sum()) - 1) > 1e-8:
                continue
            w = torch.zeros(k, dtype=torch.float64)
            w[idx] = ws.clamp_min(0)
            w = w / w.sum()
            v = float(w @ m @ w)
            if v < best_v - 1e-15:
                best_w, best_v = w, v
    assert best_w is not None  # single vertices are always feasible
    return best_w


def min_norm_weights(grads: Tensor | list[Tensor], max_iter: int = 250, tol: float = 1e-7) -> Tensor:
    """MGDA weights: closed form for two gradients, Frank-Wolfe for more."""
    m = gram(grads)
    if m.shape[0] == 2:
        gamma, _ = _pair(float(m[0, 0]), float(m[0, 1]), float(m[1, 1]))
        return torch.tensor([gamma, 1.0 - gamma], dtype=torch.float64)
    return frank_wolfe(grads, max_iter=max_iter, tol=tol, gram_matrix=m)


def normalise_gradients(grads: list[Tensor], losses: list[Tensor] | None, mode: str) -> list[Tensor]:
    """Gradient normalisation of Sener and Koltun (Section 3.2 of their code): ``none``, ``l2``
    (unit norm), ``loss`` (divide by the loss value) or ``loss+`` (by loss times norm)."""
    if mode == "none":
        return grads
    out = []
    for i, g in enumerate(grads):
        n = g.norm().clamp_min(1e-12)
        if mode == "l2":
            out.append(g / n)
        elif mode in ("loss", "loss+"):
            if losses is None:
                raise ValueError(f"gradient normalisation {mode!r} needs the loss values")
            scale = losses[i].detach().abs().clamp_min(1e-12)
            out.append(g / scale if mode == "loss" else g / (scale * n))
        else:
            raise ConfigError(f"unknown gradient normalisation {mode!r}; choose none, l2, loss or loss+")
    return out
