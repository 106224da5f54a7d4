"""The empirical neural tangent kernel family of Wu et al. (ICLR 2024) and TE-NAS's scores.

Wu, Liu, Simon-Gabriel, Chrysos and Cevher, "Robust NAS under adversarial training: benchmark,
theory, and beyond", ICLR 2024, bound the clean and robust generalisation of a network trained
with the multi-objective loss ``(1 - beta) * L(x) + beta * L(x~)`` (``x~`` adversarial) by the
minimum eigenvalue of mixed NTKs. With ``G`` the matrix of per-sample parameter gradients:

* ``K  = G(X) G(X)^T``   (clean inputs),
* ``K~ = G(X~) G(X~)^T`` (perturbed inputs ``X~ = attack(X)``, FGSM or PGD at ``eps``),
* ``K- = G(X) G(X~)^T``  (the cross kernel; not symmetric),
* ``K_all = (1-beta)^2 K + beta (1-beta) (K- + K-^T) + beta^2 K~`` (clean accuracy),
* its robust counterpart ``K*_all`` with ``(X, X~)`` replaced by ``(X~, X~~)``, where
  ``X~~ = attack(X~)`` is the twice-perturbed batch (the same attack run again from ``X~``, so
  within ``2 eps`` of ``X``) (robust accuracy).

Note that ``K_all = M M^T`` with ``M = (1-beta) G(X) + beta G(X~)``, so it is symmetric PSD;
``beta = 0`` gives ``K`` and ``beta = 1`` gives ``K~``.

Choices (the paper leaves them open, or they follow TE-NAS):

* The network output is reduced to a scalar, the sum of the logits, as TE-NAS does (Chen, Gong and
  Wang, "Neural architecture search on ImageNet in four GPU hours: a theoretically inspired
  perspective", ICLR 2021), so kernels are ``B x B``.
* BatchNorm is calibrated on the clean batch and then frozen (see
  :mod:`robnas.measures.registry`), so per-sample gradients are well defined; TE-NAS backpropagates
  through batch statistics instead.
* Scores, as TE-NAS: the minimum eigenvalue ``lmin`` and the condition number
  ``cond = lmax / lmin`` (a non-positive ``lmin`` gives ``cond = inf``, reported as ``nan``).
* Perturbations come from :mod:`robnas.attacks` at ``eps = 8/255`` (NAS-RobBench-201's training
  radius), FGSM by default, computed on the same network at initialisation with the true labels.
* Default ``beta = 0.5``.

Per-sample gradients are computed batched with :func:`torch.func.vmap` of :func:`torch.func.grad`
over :func:`torch.func.functional_call`, ``chunk`` samples at a time to bound the memory of the
vectorised backward pass; :func:`per_sample_grads_loop` is the reference (one backward per sample,
as TE-NAS) used by the tests and ``benchmarks/bench_measures.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from robnas.errors import ConfigError
from robnas.measures.registry import MeasureContext, register_measure


def _param_dict(model: nn.Module) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    return params, buffers


def per_sample_grads(model: nn.Module, x: Tensor, chunk: int = 32) -> Tensor:
    """Gradients of ``sum(logits(x_i))`` w.r.t. all parameters, one row per sample: ``[B, P]``.

    Batched with ``vmap(grad(functional_call))``, ``chunk`` samples per vectorised pass (peak
    memory grows with ``chunk``, not with ``B``). The model must be in eval mode (samples must not
    interact through BatchNorm statistics).
    """
    if chunk < 1:
        raise ConfigError(f"chunk must be at least 1, got {chunk}")
    if model.training:
        raise ConfigError("per-sample gradients need the model in eval mode (BatchNorm frozen)")
    params, buffers = _param_dict(model)

    def f(p: dict[str, Tensor], xi: Tensor) -> Tensor:
        return functional_call(model, (p, buffers), (xi.unsqueeze(0),)).sum()

    g = vmap(grad(f), in_dims=(None, 0))
    rows = []
    for start in range(0, x.shape[0], chunk):
        grads = g(params, x[start : start + chunk].detach())
        rows.append(torch.cat([grads[k].flatten(1) for k in params], dim=1))
    return torch.cat(rows, dim=0)


def per_sample_grads_loop(model: nn.Module, x: Tensor) -> Tensor:
    """Reference: the same ``[B, P]`` matrix with one forward and backward pass per sample."""
    params = [p for p in model.parameters()]
    rows = []
    for i in range(x.shape[0]):
        with torch.enable_grad():
            out = model(x[i : i + 1].detach()).sum()
            grads = torch.autograd.grad(out, params, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (g if g is not None else torch.zeros_like(p)).flatten()
                    for g, p in zip(grads, params, strict=True)
                ]
            )
        )
    return torch.stack(rows)


def kernel_scores(k: Tensor) -> dict[str, float]:
    """TE-NAS scores of a symmetric kernel: ``lmin``, ``lmax`` and ``cond = lmax / lmin``."""
    ev = torch.linalg.eigvalsh(k.double())
    lmin, lmax = float(ev[0]), float(ev[-1])
    cond = lmax / lmin if lmin > 0 else float("nan")
    return {"lmin": lmin, "cond": cond}


def mixed_kernel(k: Tensor, k_cross: Tensor, k_adv: Tensor, beta: float) -> Tensor:
    """``(1-beta)^2 K + beta (1-beta) (K- + K-^T) + beta^2 K~`` (Wu et al., ICLR 2024)."""
    if not 0.0 <= beta <= 1.0:
        raise ConfigError(f"beta must lie in [0, 1], got {beta}")
    return (1 - beta) ** 2 * k + beta * (1 - beta) * (k_cross + k_cross.T) + beta**2 * k_adv


def perturb(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attack: str = "fgsm",
    eps: float = 8 / 255,
    seed: int = 0,
    **kw: Any,
) -> Tensor:
    """Adversarial inputs from :mod:`robnas.attacks` (``attack`` at ``eps``, pixels in [0, 1])."""
    from robnas.attacks import get_attack

    if attack not in ("fgsm", "pgd"):
        raise ConfigError(f"the NTK perturbation is fgsm or pgd, got {attack!r}")
    if attack == "pgd":
        kw.setdefault("steps", 10)
        kw.setdefault("early_stop", False)
    # a network whose output ignores its input (a cell of only `none` paths) has a zero input
    # gradient: the attack then returns the clean batch (FGSM) or its random start (PGD)
    return get_attack(attack, eps=eps, seed=seed, **kw)(model, x, y).detach()


def ntk_gradients(
    ctx: MeasureContext, attack: str = "fgsm", eps: float = 8 / 255, chunk: int = 32
) -> tuple[Tensor, Tensor, Tensor]:
    """``(G(X), G(X~), G(X~~))`` for the context's batch, cached for the other NTK measures."""
    key = ("ntk_grads", ctx.bn, attack, float(eps), chunk)
    if key not in ctx.cache:
        x1 = perturb(ctx.model, ctx.x, ctx.y, attack, eps, ctx.seed)
        x2 = perturb(ctx.model, x1, ctx.y, attack, eps, ctx.seed + 1)
        xs = torch.cat([ctx.x, x1, x2])
        g = per_sample_grads(ctx.model, xs, chunk)
        b = ctx.x.shape[0]
        ctx.cache[key] = (g[:b], g[b : 2 * b], g[2 * b :])
    return ctx.cache[key]


@register_measure("ntk", help="clean empirical NTK: minimum eigenvalue and condition number", paper="TE-NAS")
def ntk(ctx: MeasureContext, chunk: int = 32) -> dict[str, float]:
    """Scores of ``K = G(X) G(X)^T`` (Chen et al., ICLR 2021)."""
    key = ("ntk_clean", ctx.bn, chunk)
    if key not in ctx.cache:
        ctx.cache[key] = per_sample_grads(ctx.model, ctx.x, chunk)
    g = ctx.cache[key]
    return kernel_scores(g @ g.T)


@register_measure(
    "ntk_adv", help="NTK on perturbed inputs K~ (FGSM/PGD at eps)", paper="Wu et al., ICLR 2024"
)
def ntk_adv(
    ctx: MeasureContext, attack: str = "fgsm", eps: float = 8 / 255, chunk: int = 32
) -> dict[str, float]:
    """Scores of ``K~ = G(X~) G(X~)^T``."""
    _, g1, _ = ntk_gradients(ctx, attack, eps, chunk)
    return kernel_scores(g1 @ g1.T)


@register_measure(
    "ntk_cross",
    help="cross kernel K- = G(X) G(X~)^T: smallest singular value and sigma_max / sigma_min",
    paper="Wu et al., ICLR 2024",
)
def ntk_cross(
    ctx: MeasureContext, attack: str = "fgsm", eps: float = 8 / 255, chunk: int = 32
) -> dict[str, float]:
    """The cross kernel is not symmetric: we score its singular values (``smin``, ``cond``)."""
    g0, g1, _ = ntk_gradients(ctx, attack, eps, chunk)
    s = torch.linalg.svdvals((g0 @ g1.T).double())
    smin, smax = float(s[-1]), float(s[0])
    return {"smin": smin, "cond": smax / smin if smin > 0 else float("nan")}


@register_measure(
    "ntk_mixed",
    help="mixed kernel K_all of the beta-weighted clean+adversarial loss (clean accuracy)",
    paper="Wu et al., ICLR 2024",
)
def ntk_mixed(
    ctx: MeasureContext, beta: float = 0.5, attack: str = "fgsm", eps: float = 8 / 255, chunk: int = 32
) -> dict[str, float]:
    """Scores of ``K_all = (1-b)^2 K + b(1-b)(K- + K-^T) + b^2 K~``."""
    g0, g1, _ = ntk_gradients(ctx, attack, eps, chunk)
    return kernel_scores(mixed_kernel(g0 @ g0.T, g0 @ g1.T, g1 @ g1.T, beta))


@register_measure(
    "ntk_mixed_robust",
    help="robust mixed kernel on (X~, X~~), twice-perturbed inputs (robust accuracy)",
    paper="Wu et al., ICLR 2024",
)
def ntk_mixed_robust(
    ctx: MeasureContext, beta: float = 0.5, attack: str = "fgsm", eps: float = 8 / 255, chunk: int = 32
) -> dict[str, float]:
    """Scores of ``(1-b)^2 K~ + b(1-b)(K~- + K~-^T) + b^2 K~~`` with ``K~- = G(X~) G(X~~)^T``."""
    _, g1, g2 = ntk_gradients(ctx, attack, eps, chunk)
    return kernel_scores(mixed_kernel(g1 @ g1.T, g1 @ g2.T, g2 @ g2.T, beta))
