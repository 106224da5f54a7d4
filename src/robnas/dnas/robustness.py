"""Differentiable robustness terms for DSRNA (Hosseini, Yang and Xie, CVPR 2021) and the
adapters that let the measures package's bounds run on supernets.

* :func:`linear_bound_radius` -- DSRNA's certified-bound metric: a certified lower bound of the
  minimal L-inf distortion (a radius) from linear bounds, in their linear regime (see there for
  the choices), with BatchNorm using the CE term's batch statistics;
* :func:`certified_margin_bound` -- per-sample IBP / CROWN-IBP lower bound of the margin at a
  fixed ``eps`` (:mod:`robnas.measures.bounds`) for a supernet of either space: the search cells'
  architecture weights and, optionally, BatchNorm statistics travel in the bound state
  (:func:`bound_state`, :func:`forward_with_bn_stats`);
* :func:`jacobian_frobenius` -- ``||J||_F^2`` by random projections, DSRNA's Jacobian metric;
  :func:`jacobian_norm` -- the top-logit input-gradient norm (kept for callers).
"""

from __future__ import annotations

import importlib
import inspect

import torch
from torch import Tensor, nn


def jacobian_norm(model: nn.Module, x: Tensor) -> Tensor:
    """Per-sample top-logit Jacobian norm, differentiable in the model's parameters.

    Uses ``robnas.measures.jacobian.top_logit_gradient_norm`` when it accepts ``create_graph``;
    the released version detaches its result, so until it does the same definition
    (L2 norm of the input gradient of the largest logit) is evaluated here with the graph kept.
    """
    try:
        from robnas.measures.jacobian import top_logit_gradient_norm
    except ImportError:  # pragma: no cover - the measures package is part of robnas
        top_logit_gradient_norm = None  # type: ignore[assignment]
    if (
        top_logit_gradient_norm is not None
        and "create_graph" in inspect.signature(top_logit_gradient_norm).parameters
    ):
        return top_logit_gradient_norm(model, x, create_graph=True)
    xr = x.detach().requires_grad_(True)
    with torch.enable_grad():
        top = model(xr).max(dim=1).values
        (g,) = torch.autograd.grad(top.sum(), xr, create_graph=True)
    return g.flatten(1).norm(dim=1)


def jacobian_frobenius(logits: Tensor, x: Tensor, projections: int = 1, seed: int = 0) -> Tensor:
    """Batch mean of ``||d logits / d x||_F^2`` per sample, by random projections (Hoffman, Roberts
    and Yaida, "Robust learning with Jacobian regularization", 2019): with ``v`` uniform on the unit
    sphere of the ``C`` logits, ``C E ||v^T J||^2 = ||J||_F^2``. ``x`` must require grad and
    ``logits`` come from it; the graph is kept (the result is differentiable in the parameters)."""
    b, c = logits.shape
    gen = torch.Generator(device="cpu").manual_seed(int(seed) + 17)
    total = logits.new_zeros(())
    for _ in range(max(projections, 1)):
        v = torch.randn((b, c), generator=gen, dtype=logits.dtype).to(logits.device)
        v = v / v.norm(dim=1, keepdim=True)
        (g,) = torch.autograd.grad((logits * v).sum(), x, create_graph=True)
        total = total + c * (g * g).sum() / b
    return total / max(projections, 1)


def bounds_available() -> bool:
    """Whether the measures package provides certified bounds (needed by ``dsrna-cb``)."""
    try:
        importlib.import_module("robnas.measures.bounds")
    except ImportError:  # pragma: no cover - the measures package is part of robnas
        return False
    return True


def forward_with_bn_stats(model: nn.Module, x: Tensor) -> tuple[Tensor, dict[int, tuple[Tensor, Tensor]]]:
    """``model(x)`` and the batch statistics ``{id(bn): (mean, var)}`` each BatchNorm normalised
    with, as the differentiable tensors of this forward pass (train mode; biased variance, as
    BatchNorm normalises). Bounds given these statistics see the function the loss sees."""
    stats: dict[int, tuple[Tensor, Tensor]] = {}

    def hook(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        (h,) = inputs
        if module.training or getattr(module, "running_mean", None) is None:
            stats[id(module)] = (h.mean(dim=(0, 2, 3)), h.var(dim=(0, 2, 3), unbiased=False))

    handles = [m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, stats


def bound_state(model: nn.Module, bn_stats: dict[int, tuple[Tensor, Tensor]] | None = None):
    """A :class:`robnas.measures.bounds.BoundState` carrying the supernet's architecture weights to
    its search cells (and ``bn_stats`` if given); registers the search cells' rules."""
    from robnas.dnas import bounds as _rules  # noqa: F401  (registers the NB201 search cell's rules)
    from robnas.dnas.supernet import DARTSSearchCell, NB201SearchCell
    from robnas.measures.bounds import BoundState

    weights: dict[int, Tensor] = {}
    arch = getattr(model, "arch_weights", None)
    if arch is not None:
        ws = arch()
        for cell in model.modules():
            if isinstance(cell, NB201SearchCell):
                weights[id(cell)] = ws[0]
            elif isinstance(cell, DARTSSearchCell):
                weights[id(cell)] = ws[1] if cell.reduction else ws[0]
    return BoundState(bn_stats=dict(bn_stats or {}), cell_weights=weights)


def certified_margin_bound(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    method: str = "ibp",
    bn_stats: dict[int, tuple[Tensor, Tensor]] | None = None,
) -> Tensor:
    """Per-sample certified lower bound of the logit margin ``z_y - max_{j != y} z_j`` within
    ``eps`` (IBP, or CROWN-IBP with ``method="crown_ibp"``), for a supernet of either space or a
    plain network; differentiable in the weights and in alpha.

    BatchNorm uses ``bn_stats`` when given (see :func:`forward_with_bn_stats`); otherwise the
    model must be in eval mode (running statistics)."""
    from robnas.measures.bounds import certified_lower_bound

    return certified_lower_bound(model, x, y, eps, method.replace("-", "_"), bound_state(model, bn_stats))


def forward_fixed_bn(model: nn.Module, x: Tensor, bn_stats: dict[int, tuple[Tensor, Tensor]]) -> Tensor:
    """``model(x)`` with every BatchNorm normalising by the given statistics (fixed with respect
    to ``x``, still functions of the weights): the train-mode function of a batch, made per-sample."""
    from robnas.measures.bounds import BoundState, _bn_apply

    state = BoundState(bn_stats=bn_stats)

    def hook(m: nn.Module, inp, out):
        return _bn_apply(m, inp[0], state)  # type: ignore[arg-type]

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d) and id(m) in bn_stats
    ]
    was_training = model.training
    model.eval()
    try:
        return model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)


def linear_bound_radius(
    model: nn.Module, x: Tensor, bn_stats: dict[int, tuple[Tensor, Tensor]], floor: float = 1e-12
) -> tuple[Tensor, Tensor]:
    """DSRNA's certified-bound metric in its linear regime: per sample, the L-inf radius
    ``m / ||grad_x m||_1`` of the margin ``m = z_pred - z_runner-up`` of the network's own
    prediction, and the prediction.

    For a ReLU network whose neurons keep their state in the ball (the linear regime), the linear
    (CROWN / Fast-Lin) relaxations are exact and the certified margin lower bound at radius
    ``eps`` is ``m - eps ||grad_x m||_1`` (Hoelder, L1 the dual of L-inf), hence this radius.
    *Chosen where DSRNA is vague*: (i) the linear regime rather than a bisection over relaxed
    bounds: at this scale interval bounds are vacuous (IBP's growth constant is about 1e13 for an
    NB201 C=8 supernet and 1e29 for a DARTS C=4 one at initialisation, see
    :func:`robnas.measures.bounds.interval_linear_regime`) and the gradient of ``log K`` favours
    parameter-free operations, the collapse the review found; (ii) the runner-up class only (one
    double-backward pass instead of one per class); (iii) BatchNorm uses ``bn_stats``, the batch
    statistics of the CE term's train-mode pass, held fixed with respect to the input so that the
    radius is per sample. Radii are floored at ``floor`` (no gradient there).
    """
    xr = x.detach().requires_grad_(True)
    with torch.enable_grad():
        z = forward_fixed_bn(model, xr, bn_stats)
        top2 = z.topk(2, dim=1)
        m = top2.values[:, 0] - top2.values[:, 1]
        (g,) = torch.autograd.grad(m.sum(), xr, create_graph=True)
    dual = g.flatten(1).abs().sum(1)
    r = m / dual.clamp_min(1e-30)
    return r.clamp_min(floor), top2.indices[:, 0]
