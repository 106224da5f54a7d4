"""The dominant eigenvalue of the Hessian of the loss with respect to the input.

Jung, Lukasik and Keuper ("Neural architecture design and robustness: a dataset", ICLR 2023)
relate robustness to the curvature of the loss around the inputs: the largest eigenvalue of
``H(x) = d^2 loss(f(x), y) / d x^2``. We compute it per sample by power iteration with
Hessian-vector products (double backward, never forming ``H``), for the whole batch at once: with
BatchNorm frozen the batch Hessian of the summed loss is block diagonal, so one HVP of the summed
loss gives every sample's HVP. Iteration stops when every sample's Rayleigh quotient changes by
less than ``tol`` (relative) between two iterations, or after ``max_iter`` iterations.

Two methods (option ``method``):

* ``"gauss-newton"`` (default): for a network whose logits are *piecewise linear* in the input
  (ReLU, convolutions, linear layers, average and max pooling, BatchNorm in eval mode: every
  NAS-Bench-201 network), the second derivative of the logits vanishes almost everywhere, so the
  input Hessian of the cross-entropy is exactly ``H = J^T (diag(p) - p p^T) J`` with ``J`` the
  ``C x D`` input Jacobian and ``p`` the softmax. Its non-zero eigenvalues are those of the
  ``C x C`` matrix ``A^{1/2} J J^T A^{1/2}`` (``A = diag(p) - p p^T``), so the dominant eigenvalue
  is exact from the Jacobian (shared with the ``jacobian`` measure): no power iteration at all.
  A network with a smooth non-linearity, or a loss other than the cross-entropy, falls back to
  power iteration.
* ``"power"``: power iteration with Hessian-vector products (the reference), as described above.

``H`` is positive semi-definite in both cases, so the dominant (largest-magnitude) eigenvalue is
the largest one. The measure reports the mean over the batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.errors import ConfigError
from robnas.measures.registry import MeasureContext, register_measure


def input_hvp(
    model: nn.Module, x: Tensor, y: Tensor, v: Tensor, loss: Callable[[Tensor, Tensor], Tensor] | None = None
) -> Tensor:
    """Hessian-vector products of the summed per-sample loss w.r.t. the input (``v`` like ``x``)."""
    xr = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(xr)
        total = _summed_loss(logits, y, loss)
        (g,) = torch.autograd.grad(total, xr, create_graph=True, allow_unused=True)
        if g is None or not g.requires_grad:  # the output does not depend on the input
            return torch.zeros_like(x)
        (hv,) = torch.autograd.grad(g, xr, grad_outputs=v, allow_unused=True)
    return torch.zeros_like(x) if hv is None else hv


def _summed_loss(logits: Tensor, y: Tensor, loss: Callable[[Tensor, Tensor], Tensor] | None) -> Tensor:
    if loss is None or loss is F.cross_entropy:
        return F.cross_entropy(logits, y, reduction="sum")
    return loss(logits, y) * logits.shape[0]  # a mean loss, rescaled to the per-sample sum


def hessian_top_eigenvalue(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss: Callable[[Tensor, Tensor], Tensor] | None = None,
    max_iter: int = 20,
    tol: float = 1e-3,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, int]:
    """Per-sample dominant eigenvalue of the input Hessian by power iteration.

    Returns ``(eigenvalues [B], iterations used)``.
    """
    b = x.shape[0]
    v = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    v = v / v.flatten(1).norm(dim=1).view(b, *([1] * (x.dim() - 1)))
    lam = torch.zeros(b, device=x.device, dtype=x.dtype)
    it = 0
    for it in range(1, max_iter + 1):
        hv = input_hvp(model, x, y, v, loss)
        new = (hv * v).flatten(1).sum(1)  # Rayleigh quotient (v has unit norm)
        norm = hv.flatten(1).norm(dim=1)
        done = ((new - lam).abs() <= tol * new.abs().clamp_min(1e-12)).all()
        lam = new
        if bool((norm == 0).all()):
            break
        v = hv / norm.clamp_min(1e-30).view(b, *([1] * (x.dim() - 1)))
        if done and it > 1:
            break
    return lam.detach(), it


_PIECEWISE_LINEAR = (
    nn.Conv2d,
    nn.Linear,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.AvgPool2d,
    nn.MaxPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Identity,
    nn.Flatten,
)


def piecewise_linear(model: nn.Module) -> bool:
    """True if every leaf module is piecewise linear in its input (BatchNorm in eval mode).

    Leaves of robnas's own linear operations (``Zero``, ``Normalize``) are accepted by name;
    functional calls inside ``forward`` (padding, slicing, concatenation) are assumed linear.
    """
    for m in model.modules():
        if any(True for _ in m.children()):
            continue
        if isinstance(m, nn.BatchNorm2d) and m.training:
            return False
        if not isinstance(m, _PIECEWISE_LINEAR) and type(m).__name__ not in ("Zero", "Normalize"):
            return False
    return True


def gauss_newton_top_eigenvalue(jac: Tensor, logits: Tensor) -> Tensor:
    """Per-sample top eigenvalue of ``J^T (diag(p) - p p^T) J`` (``jac``: ``[B, C, *x]``)."""
    j = jac.flatten(2).double()  # [B, C, D]
    p = torch.softmax(logits.double(), dim=1)
    a = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
    ev, vec = torch.linalg.eigh(a)
    half = vec @ torch.diag_embed(ev.clamp_min(0).sqrt()) @ vec.transpose(1, 2)
    m = half @ (j @ j.transpose(1, 2)) @ half
    return torch.linalg.eigvalsh(m)[:, -1].to(jac.dtype)


@register_measure(
    "hessian",
    help="dominant eigenvalue of the input Hessian of the loss (exact Gauss-Newton form, mean)",
    paper="Jung et al., ICLR 2023 (trained networks; at init: a trainability proxy)",
)
def hessian(
    ctx: MeasureContext, method: str = "gauss-newton", max_iter: int = 20, tol: float = 1e-3
) -> float:
    """Mean over the batch of the per-sample dominant input-Hessian eigenvalue.

    ``method="gauss-newton"`` (exact for piecewise-linear networks and the cross-entropy, see the
    module docstring) or ``"power"`` (power iteration, ``max_iter`` and relative ``tol``). Jung et
    al. evaluate it on trained networks (``bn="as-is"``); at initialisation it is a proxy.
    """
    if method not in ("gauss-newton", "power"):
        raise ConfigError(f"hessian method is gauss-newton or power, got {method!r}")
    exact_form = ctx.loss is F.cross_entropy and piecewise_linear(ctx.model)
    if method == "gauss-newton" and exact_form:
        from robnas.measures.jacobian import cached_jacobian

        jac = cached_jacobian(ctx)
        with torch.no_grad():
            logits = ctx.model(ctx.x)
        return float(gauss_newton_top_eigenvalue(jac, logits).mean())
    gen = torch.Generator().manual_seed(ctx.seed)
    lam, _ = hessian_top_eigenvalue(ctx.model, ctx.x, ctx.y, ctx.loss, max_iter, tol, gen)
    return float(lam.mean())
