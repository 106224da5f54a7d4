"""The dominant eigenvalue of the Hessian of the loss with respect to the input.

Jung, Lukasik and Keuper ("Neural architecture design and robustness: a dataset", ICLR 2023)
relate robustness to the curvature of the loss around the inputs: the largest eigenvalue of
``H(x) = d^2 loss(f(x), y) / d x^2``. We compute it per sample by power iteration with
Hessian-vector products (double backward, never forming ``H``), for the whole batch at once: with
BatchNorm frozen the batch Hessian of the summed loss is block diagonal, so one HVP of the summed
loss gives every sample's HVP. Iteration stops when every sample's Rayleigh quotient changes by
less than ``tol`` (relative) between two iterations, or after ``max_iter`` iterations.

For a ReLU network the input Hessian of the cross-entropy is ``J^T (diag(p) - p p^T) J``, positive
semi-definite, so the dominant (largest-magnitude) eigenvalue is the largest one. The measure
reports the mean over the batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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


@register_measure(
    "hessian",
    help="dominant eigenvalue of the input Hessian of the loss (power iteration, mean over batch)",
    paper="Jung et al., ICLR 2023",
)
def hessian(ctx: MeasureContext, max_iter: int = 20, tol: float = 1e-3) -> float:
    """Mean over the batch of the per-sample dominant input-Hessian eigenvalue."""
    gen = torch.Generator().manual_seed(ctx.seed)
    lam, _ = hessian_top_eigenvalue(ctx.model, ctx.x, ctx.y, ctx.loss, max_iter, tol, gen)
    return float(lam.mean())
