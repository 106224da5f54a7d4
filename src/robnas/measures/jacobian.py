"""Input-output Jacobian norms at initialisation.

The Jacobian ``J(x) = d f(x) / d x`` is taken of the logits with respect to the *pixels* (the
model's input in [0, 1]; normalisation is inside the model), per sample; the BatchNorm layers are
calibrated on the batch and frozen (see :mod:`robnas.measures.registry`), so samples do not
interact and the Jacobian of the batch is block diagonal. Every measure reports the mean over the
batch of the per-sample value.

* ``jacobian``: the exact Frobenius norm ``||J(x)||_F``, one vector-Jacobian product per class
  (one backward pass of the shared forward graph per class), as benchmarked by Jung, Lukasik and
  Keuper, "Neural architecture design and robustness: a dataset", ICLR 2023.
* ``jacobian_proj``: the random-projection estimator of Hoffman, Roberts and Yaida, "Robust
  learning with Jacobian regularization", 2019: ``||J||_F^2 = C * E_v ||v^T J||^2`` for ``v``
  uniform on the unit sphere of the ``C`` logits, averaged over ``n_proj`` projections (unbiased for
  the squared norm; we report its square root, as ``jacobian`` reports the norm).
* ``jacobian_top``: the L2 norm of the gradient of the *top* (largest) logit with respect to the
  input, the Jacobian-norm term DSRNA uses (Hosseini, Yang and Xie, "DSRNA: Differentiable search
  of robust neural architectures", CVPR 2021).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import vjp, vmap

from robnas.errors import ConfigError
from robnas.measures.registry import MeasureContext, register_measure


def input_jacobian(model: nn.Module, x: Tensor) -> Tensor:
    """The per-sample Jacobian of the logits w.r.t. the input: ``[B, num_classes, *x.shape[1:]]``.

    Exact: one vector-Jacobian product per class (the graph of one forward pass is reused). The
    model must treat samples independently (eval mode).
    """
    xr = x.detach().requires_grad_(True)
    rows = []
    with torch.enable_grad():
        logits = model(xr)
        for k in range(logits.shape[1]):
            (g,) = torch.autograd.grad(logits[:, k].sum(), xr, retain_graph=True, allow_unused=True)
            rows.append(torch.zeros_like(x) if g is None else g)
    return torch.stack(rows, dim=1).detach()


def jacobian_frobenius(model: nn.Module, x: Tensor) -> Tensor:
    """Exact per-sample Frobenius norms ``||J(x_i)||_F`` (``[B]``)."""
    jac = input_jacobian(model, x)
    return jac.flatten(1).norm(dim=1)


def jacobian_projection(
    model: nn.Module, x: Tensor, n_proj: int = 1, generator: torch.Generator | None = None
) -> Tensor:
    """Hoffman et al. (2019) estimate of the per-sample squared Frobenius norm (``[B]``).

    ``C / n_proj * sum_v ||v^T J||^2`` with ``v`` uniform on the unit sphere of ``R^C``: unbiased
    for ``||J||_F^2``, at the cost of ``n_proj`` backward passes instead of ``C``.
    """
    if n_proj < 1:
        raise ConfigError(f"n_proj must be at least 1, got {n_proj}")
    logits, pullback = vjp(model, x.detach())[:2]  # (output, pull-back function)
    b, k = logits.shape
    v = torch.randn((n_proj, b, k), generator=generator, device="cpu", dtype=logits.dtype).to(x.device)
    v = v / v.norm(dim=2, keepdim=True)
    (rows,) = vmap(pullback)(v)  # [n_proj, B, *x]
    return (k * rows.flatten(2).pow(2).sum(2).mean(0)).detach()


def top_logit_gradient_norm(model: nn.Module, x: Tensor, create_graph: bool = False) -> Tensor:
    """Per-sample ``||d max_k f_k(x) / d x||_2`` (``[B]``), DSRNA's Jacobian term.

    With ``create_graph=True`` the result keeps its graph (double backward), so it can be
    differentiated with respect to the model's parameters, e.g. the architecture parameters of a
    DSRNA supernet; otherwise it is detached. A network whose output ignores its input gives zeros.
    """
    xr = x.detach().requires_grad_(True)
    with torch.enable_grad():
        top = model(xr).max(dim=1).values
        g = None
        if top.requires_grad:
            (g,) = torch.autograd.grad(top.sum(), xr, create_graph=create_graph, allow_unused=True)
        if g is None:  # the output does not depend on the input
            return x.new_zeros(x.shape[0])
        norm = g.flatten(1).norm(dim=1)
    return norm if create_graph else norm.detach()


def cached_jacobian(ctx: MeasureContext) -> Tensor:
    """The exact per-sample input Jacobian of the context's network and batch, computed once per
    :func:`~robnas.measures.compute_measures` call and BatchNorm mode (``jacobian``,
    ``jacobian_top`` and ``hessian`` share it)."""
    key = ("input_jacobian", ctx.bn)
    if key not in ctx.cache:
        ctx.cache[key] = input_jacobian(ctx.model, ctx.x)
    return ctx.cache[key]


@register_measure(
    "jacobian",
    help="exact Frobenius norm of the input-output Jacobian (mean over the batch)",
    paper="Jung et al., ICLR 2023 (trained networks; at init: a trainability proxy)",
)
def jacobian(ctx: MeasureContext) -> float:
    """Mean exact ``||d logits / d pixels||_F`` over the batch.

    Jung, Lukasik and Keuper evaluate this quantity on the *trained* networks of their dataset
    (measure a checkpoint with ``bn="as-is"``). Taken at initialisation it is a different thing, a
    trainability / signal-propagation proxy, and is reported under the ``@init`` metric names.
    """
    return float(cached_jacobian(ctx).flatten(1).norm(dim=1).mean())


@register_measure(
    "jacobian_proj",
    help="random-projection estimate of the Jacobian Frobenius norm (n_proj=1)",
    paper="Hoffman, Roberts and Yaida, 2019",
)
def jacobian_proj(ctx: MeasureContext, n_proj: int = 1) -> float:
    """Square root of the mean (over the batch) Hoffman et al. estimate of ``||J||_F^2``."""
    gen = torch.Generator().manual_seed(ctx.seed)
    return float(jacobian_projection(ctx.model, ctx.x, n_proj, gen).mean().sqrt())


@register_measure(
    "jacobian_top",
    help="L2 norm of the gradient of the top logit w.r.t. the input (DSRNA)",
    paper="Hosseini, Yang and Xie, CVPR 2021",
)
def jacobian_top(ctx: MeasureContext) -> float:
    """Mean over the batch of ``||grad_x max_k f_k(x)||_2`` (the row of the top logit of the
    cached Jacobian: the same value as :func:`top_logit_gradient_norm`, without another pass)."""
    jac = cached_jacobian(ctx)
    with torch.no_grad():
        top = ctx.model(ctx.x).argmax(dim=1)
    rows = jac[torch.arange(jac.shape[0], device=jac.device), top]
    return float(rows.flatten(1).norm(dim=1).mean())
