"""Classic zero-cost proxies, as baselines (Abdelfattah, Mehrotra, Dudziak and Lane, "Zero-cost
proxies for lightweight NAS", ICLR 2021, and NASLib's implementations of them).

Conventions follow NASLib's ``zc_nasbench201.json`` so that scores can be compared with it:

* ``params``: parameters in millions; ``flops``: FLOPs in millions with NASLib's counting rules
  (:func:`robnas.models.count_flops`, convention ``"naslib"``).
* ``synflow`` (Tanaka, Kunin, Yamins and Ganguli, "Pruning neural networks without any data by
  iteratively conserving synaptic flow", NeurIPS 2020): BatchNorm neutral (eval mode with the
  initial statistics, the identity), all parameters replaced by their absolute values, float64,
  an all-ones input; ``R = sum(f(1))`` and the score is ``sum |theta * dR/dtheta|`` over the weights
  of convolutions and linear layers.
* ``snip`` (Lee, Ajanthan and Torr, "SNIP: single-shot network pruning based on connection
  sensitivity", ICLR 2019): ``sum |theta * dL/dtheta|`` over conv/linear weights, cross-entropy on
  the batch, train mode.
* ``grad_norm``: sum over conv/linear layers of ``||dL/dW||_2``, train mode.
* ``jacov`` (Mellor, Turner, Storkey and Crowley, "Neural architecture search without training",
  arXiv v1, 2020): the correlation matrix ``Sigma`` of the per-sample input gradients of the summed
  output; score ``-sum_i (log(s_i + k) + 1 / (s_i + k))`` over its eigenvalues, ``k = 1e-5``.
* ``naswot`` (Mellor et al., ICML 2021): binary ReLU activation codes ``c_i`` of each sample (at
  the input of every ReLU); ``K = C C^T + (1 - C)(1 - C)^T``; score ``log |det K|``, train mode.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from robnas.measures.registry import MeasureContext, register_measure
from robnas.models.sizes import count_flops, count_params

_LAYERS = (nn.Conv2d, nn.Linear)


def _layers(model: nn.Module) -> list[nn.Conv2d | nn.Linear]:
    return [m for m in model.modules() if isinstance(m, _LAYERS)]


@register_measure("params", bn="eval", help="parameters (millions)", paper="NASLib", needs_data=False)
def params(ctx: MeasureContext) -> float:
    """Number of parameters in millions (as NASLib's ``params``)."""
    return count_params(ctx.model) / 1e6


@register_measure(
    "flops", bn="eval", help="FLOPs (millions, NASLib's rules)", paper="NASLib", needs_data=False
)
def flops(ctx: MeasureContext) -> float:
    """FLOPs of one image of the batch's size, in millions (as NASLib's ``flops``)."""
    return count_flops(ctx.model, tuple(ctx.x.shape[1:])) / 1e6


@register_measure(
    "synflow",
    bn="eval",
    help="synaptic flow, data-free",
    paper="Tanaka et al., NeurIPS 2020",
    needs_data=False,
)
def synflow(ctx: MeasureContext) -> float:
    """``sum |theta * dR/dtheta|`` with ``R`` the summed output for an all-ones input (float64)."""
    net = copy.deepcopy(ctx.model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad()
    ones = torch.ones((1, *ctx.x.shape[1:]), dtype=torch.float64, device=ctx.device)
    with torch.enable_grad():
        net(ones).sum().backward()
    score = 0.0
    for layer in _layers(net):
        if layer.weight.grad is not None:
            score += float((layer.weight.detach() * layer.weight.grad).abs().sum())
    return score


def _loss_grads(ctx: MeasureContext) -> nn.Module:
    net = ctx.model
    net.zero_grad()
    with torch.enable_grad():
        ctx.loss(net(ctx.x), ctx.y).backward()
    return net


@register_measure(
    "snip", bn="train", help="connection sensitivity sum |w * dL/dw|", paper="Lee et al., ICLR 2019"
)
def snip(ctx: MeasureContext) -> float:
    """``sum |w * dL/dw|`` over conv and linear weights (train mode)."""
    net = _loss_grads(ctx)
    score = 0.0
    for m in _layers(net):
        if m.weight.grad is not None:
            score += float((m.weight.detach() * m.weight.grad).abs().sum())
    return score


@register_measure(
    "grad_norm", bn="train", help="sum of per-layer gradient norms", paper="Abdelfattah et al., ICLR 2021"
)
def grad_norm(ctx: MeasureContext) -> float:
    """Sum over conv and linear layers of ``||dL/dW||_2`` (train mode)."""
    net = _loss_grads(ctx)
    score = 0.0
    for m in _layers(net):
        if m.weight.grad is not None:
            score += float(m.weight.grad.norm())
    return score


def jacov_score(jac: np.ndarray, k: float = 1e-5) -> float:
    """Mellor et al. (v1): ``-sum(log(s + k) + 1/(s + k))`` over the eigenvalues of ``corrcoef(jac)``."""
    with np.errstate(invalid="ignore", divide="ignore"):  # constant rows (zero gradients): nan -> 0
        corr = np.corrcoef(jac)
    corr = np.nan_to_num(corr, nan=0.0)
    s = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(s + k) + 1.0 / (s + k)))


@register_measure("jacov", bn="train", help="Jacobian covariance (NASWOT v1)", paper="Mellor et al., 2020")
def jacov(ctx: MeasureContext) -> float:
    """Score of the correlation of per-sample input gradients of the summed output (train mode)."""
    x = ctx.x.detach().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(ctx.model(x).sum(), x, allow_unused=True)
    if g is None:  # the output ignores the input
        g = torch.zeros_like(x)
    return jacov_score(g.flatten(1).double().cpu().numpy())


@register_measure(
    "naswot", bn="train", help="log-determinant of the ReLU code kernel", paper="Mellor et al., ICML 2021"
)
def naswot(ctx: MeasureContext) -> float:
    """``slogdet(C C^T + (1-C)(1-C)^T)`` of the binary codes at the inputs of all ReLUs."""
    b = ctx.x.shape[0]
    kernel = torch.zeros((b, b), dtype=torch.float64, device=ctx.device)

    def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        c = (inp[0].detach().reshape(b, -1) > 0).double()
        kernel.add_(c @ c.T).add_((1 - c) @ (1 - c).T)

    handles = [m.register_forward_hook(hook) for m in ctx.model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            ctx.model(ctx.x)
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(kernel).logabsdet)
