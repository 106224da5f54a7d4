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

Defaults: Wu et al.'s protocol for NAS-RobBench-201 (the benchmark these scores are compared
with), not TE-NAS's:

* **the perturbation of the benchmark's training**: NAS-RobBench-201 trains with PGD-7 at
  ``eps = 8/255``, step ``2/255``, random start, on adversarial examples only (``beta = 1``). The
  perturbed batches ``X~`` and ``X~~`` are therefore PGD-7 (step 2/255, no early stop) at 8/255
  from :mod:`robnas.attacks`, computed on the network being scored with the true labels, and
  ``beta = 1`` by default (``beta`` is an option: 0 gives the clean kernel). At ``beta = 1``,
  ``K_all = K~`` (``ntk_mixed`` equals ``ntk_adv``) and ``K*_all = K~~``.
* **several initialisations**: every score is the mean over ``n_init = 3`` random
  initialisations (seeds ``seed + 1_000_003 * i``, disjoint between seeds; see
  :meth:`~robnas.measures.registry.MeasureContext.init_seed`). A trained network (``bn="as-is"``)
  has one set of weights and is scored once.
* **a batch of at least 64 images** (the CLI and the measure job default to 64).
* **the output reduction** (``reduction``): ``"sum"`` (default) differentiates the sum of the
  logits, as TE-NAS (Chen, Gong and Wang, ICLR 2021), giving ``B x B`` kernels; ``"trace"`` sums
  the per-logit kernels, ``K = sum_k G_k G_k^T`` (the trace over outputs of the full kernel);
  ``"full"`` is the full empirical NTK, ``(B*C) x (B*C)`` with ``C`` classes (its memory grows as
  ``B * C * parameters``: for small batches and networks). ``benchmarks/bench_measures.py`` reports
  how the three rank architectures.
* BatchNorm is calibrated on the clean batch and then frozen (see
  :mod:`robnas.measures.registry`), so per-sample gradients are well defined; TE-NAS
  backpropagates through batch statistics instead.
* Scores, as TE-NAS: the minimum eigenvalue ``lmin`` and the condition number
  ``cond = lmax / lmin`` (a non-positive ``lmin`` gives ``cond = inf``, reported as ``nan``); the
  mean over initialisations of each.

Kernels (:func:`gram_matrix`) come from per-sample gradients: batched with
``vmap(grad(functional_call))`` (:func:`per_sample_grads`) for the sum of the logits, or, for the
per-logit and full kernels, per layer from one forward and one backward pass per logit (the
gradient of a convolution for sample ``i`` is its output gradient times its unfolded input, as in
BackPACK or Opacus), summed layer by layer into the kernel. :func:`per_sample_grads_loop` (one
backward per sample) is the reference of the tests; ``benchmarks/bench_measures.py`` times them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
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


REDUCTIONS = ("sum", "trace", "full")
"""How the network output is reduced before differentiating (see the module docstring)."""

PGD_STEPS = 7
PGD_STEP_SIZE = 2 / 255
"""NAS-RobBench-201's training attack: PGD-7, step 2/255 (at eps 8/255)."""


def perturb(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attack: str = "pgd",
    eps: float = 8 / 255,
    seed: int = 0,
    **kw: Any,
) -> Tensor:
    """Adversarial inputs from :mod:`robnas.attacks` (``attack`` at ``eps``, pixels in [0, 1]).

    PGD defaults to NAS-RobBench-201's training attack: 7 steps of 2/255 (scaled with ``eps`` as
    ``eps / 4``), random start, no early stop.
    """
    from robnas.attacks import get_attack

    if attack not in ("fgsm", "pgd"):
        raise ConfigError(f"the NTK perturbation is fgsm or pgd, got {attack!r}")
    if attack == "pgd":
        kw.setdefault("steps", PGD_STEPS)
        kw.setdefault("step_size", eps / 4)
        kw.setdefault("early_stop", False)
    # a network whose output ignores its input (a cell of only `none` paths) has a zero input
    # gradient: the attack then returns the clean batch (FGSM) or its random start (PGD)
    return get_attack(attack, eps=eps, seed=seed, **kw)(model, x, y).detach()


# ------------------------------------------------------------------ per-sample gradients, fast
_HOOKED = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)


def _hookable(model: nn.Module) -> bool:
    """Every parameter sits in a plain conv / linear / eval-mode BatchNorm layer we can hook."""
    owned: set[int] = set()
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                return False
        elif isinstance(m, nn.BatchNorm2d):
            if m.training or not m.track_running_stats:
                return False
        elif not isinstance(m, _HOOKED):
            continue
        owned.update(id(p) for p in m.parameters(recurse=False))
    return all(id(p) in owned for p in model.parameters())


def _layer_grads(m: nn.Module, a: Tensor, d: Tensor) -> list[Tensor]:
    """Per-sample gradients ``[n, p]`` of one layer's parameters from its input and output gradient."""
    n = a.shape[0]
    out: list[Tensor] = []
    if isinstance(m, nn.Linear):
        out.append(torch.einsum("no,ni->noi", d, a).reshape(n, -1))
        if m.bias is not None:
            out.append(d)
    elif isinstance(m, nn.Conv2d):
        if m.kernel_size == (1, 1) and m.padding == (0, 0):  # no im2col needed for a 1x1 conv
            u = a[:, :, :: m.stride[0], :: m.stride[1]].reshape(n, a.shape[1], -1)
        else:
            pad = m.padding if isinstance(m.padding, tuple) else 0  # a string padding is refused by _hookable
            u = F.unfold(a, m.kernel_size, dilation=m.dilation, padding=pad, stride=m.stride)
        dd = d.reshape(n, d.shape[1], -1)
        out.append(torch.einsum("nol,nkl->nok", dd, u).reshape(n, -1))
        if m.bias is not None:
            out.append(dd.sum(2))
    else:  # BatchNorm2d in eval mode: y = weight * xhat + bias
        assert isinstance(m, nn.BatchNorm2d) and m.running_mean is not None and m.running_var is not None
        if m.weight is not None:
            xhat = (a - m.running_mean.view(1, -1, 1, 1)) / torch.sqrt(
                m.running_var.view(1, -1, 1, 1) + m.eps
            )
            out.append((d * xhat).sum((2, 3)))
        if m.bias is not None:
            out.append(d.sum((2, 3)))
    return out


def _grad_blocks(model: nn.Module, x: Tensor, weights: list[Tensor]) -> Any:
    """For each output weighting ``w`` (``[C]``): the per-layer per-sample gradients of
    ``sum_k w_k f_k(x_i)``, yielded as lists of ``[n, p_l]`` blocks (one forward pass in all)."""
    inputs: dict[int, Tensor] = {}
    grads: dict[int, Tensor] = {}
    calls: dict[int, int] = {}
    layers = {
        id(m): m
        for m in model.modules()
        if isinstance(m, _HOOKED) and any(True for _ in m.parameters(recurse=False))
    }

    def fwd(m: nn.Module, inp: tuple[Tensor, ...], outp: Tensor) -> None:
        key = id(m)
        calls[key] = calls.get(key, 0) + 1
        inputs[key] = inp[0].detach()
        if outp.requires_grad:
            outp.register_hook(lambda g, key=key: grads.__setitem__(key, g.detach()))

    handles = [m.register_forward_hook(fwd) for m in layers.values()]
    try:
        with torch.enable_grad():
            out = model(x.detach())
    finally:
        for h in handles:
            h.remove()
    if any(c != 1 for c in calls.values()):
        raise ConfigError("a layer is used more than once per forward pass; use per_sample_grads")
    for j, w in enumerate(weights):
        grads.clear()
        with torch.enable_grad():
            torch.autograd.backward(out, w.to(out).expand_as(out), retain_graph=j < len(weights) - 1)
        blocks = []
        for key, m in layers.items():
            if key in inputs and key in grads:
                blocks.extend(_layer_grads(m, inputs[key], grads[key]))
            elif key in inputs:  # the layer's output does not reach the logits
                blocks.extend(
                    torch.zeros(x.shape[0], p.numel(), device=x.device) for p in m.parameters(recurse=False)
                )
        yield blocks


def gram_matrix(
    model: nn.Module, x: Tensor, reduction: str = "sum", chunk: int = 64, method: str = "auto"
) -> Tensor:
    """The empirical NTK of ``model`` on the batch ``x`` (float64), under ``reduction``.

    ``"sum"`` and ``"trace"``: ``[n, n]``; ``"full"``: ``[n*C, n*C]`` with rows ordered
    ``(sample, logit)``. The model must be in eval mode (BatchNorm frozen).

    ``method``: ``"vmap"`` (:func:`per_sample_grads`, ``"sum"`` only), ``"layers"`` (per-layer
    per-sample gradients from one forward and one backward pass per logit weighting; plain networks
    of conv, linear and BatchNorm layers, each used once) or ``"auto"``: vmap for ``"sum"``, which
    ``benchmarks/bench_measures.py`` measured faster on CPU (the per-layer path materialises an
    im2col copy of every 3x3 convolution's input), layers for ``"trace"`` and ``"full"``, which
    vmap would need ``C`` times the memory for. ``chunk`` bounds the samples per pass.
    """
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown NTK reduction {reduction!r}; choose {', '.join(REDUCTIONS)}")
    if method not in ("auto", "vmap", "layers"):
        raise ConfigError(f"unknown NTK method {method!r}; choose auto, vmap or layers")
    if model.training:
        raise ConfigError("the NTK needs the model in eval mode (BatchNorm frozen)")
    if method == "auto":
        method = "vmap" if reduction == "sum" else "layers"
    if method == "layers" and not _hookable(model):
        if reduction != "sum":
            raise ConfigError(f"reduction {reduction!r} needs a network of conv, linear and BatchNorm layers")
        method = "vmap"
    if method == "vmap":
        if reduction != "sum":
            raise ConfigError(f"reduction {reduction!r} needs method='layers'")
        g = per_sample_grads(model, x, min(chunk, 32))
        return (g @ g.T).double()
    with torch.no_grad():
        n_out = model(x[:1]).shape[1]
    eye = torch.eye(n_out, device=x.device)
    weights = [torch.ones(n_out, device=x.device)] if reduction == "sum" else list(eye)
    n = x.shape[0]
    size = n * n_out if reduction == "full" else n
    if reduction == "full" and size * sum(p.numel() for p in model.parameters()) > 2**28:
        raise ConfigError(
            f"the full eNTK of {n} samples x {n_out} logits needs more than 1 GiB of gradients; "
            "use a smaller batch or reduction='trace'"
        )
    k = torch.zeros(size, size, dtype=torch.float64, device=x.device)
    if reduction == "full":
        per_logit = [torch.cat(b, dim=1) for b in _grad_blocks(model, x, weights)]  # C x [n, P]
        g = torch.stack(per_logit, dim=1).reshape(n * n_out, -1).double()
        return g @ g.T
    starts = list(range(0, n, chunk))
    # blocks of rows; the kernel needs every pair of chunks, so we keep one chunk's gradients per
    # pass and pair it with the others (chunk = n, the default for batches <= 64, is one pass)
    if len(starts) == 1:
        for blocks in _grad_blocks(model, x, weights):
            for b in blocks:
                k += (b @ b.T).double()
        return k
    parts = [list(_grad_blocks(model, x[s : s + chunk], weights)) for s in starts]
    for i, si in enumerate(starts):
        for j, sj in enumerate(starts[: i + 1]):
            acc = sum(
                (bi @ bj.T).double()
                for wi, wj in zip(parts[i], parts[j], strict=True)
                for bi, bj in zip(wi, wj, strict=True)
            )
            k[si : si + chunk, sj : sj + chunk] = acc
            k[sj : sj + chunk, si : si + chunk] = acc.T if i != j else acc
    return k


LAYOUTS = ("channels_last", "contiguous")


def channels_last(model: nn.Module, x: Tensor, layout: str = "channels_last") -> tuple[nn.Module, Tensor]:
    """``model`` (in place) and ``x`` in the memory ``layout`` (``"contiguous"``: unchanged).

    Channels-last (NHWC) lets oneDNN run convolutions without reordering their inputs: same
    values up to float32 rounding, fewer copies."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown memory layout {layout!r}; choose {' or '.join(LAYOUTS)}")
    if layout == "contiguous" or x.dim() != 4:
        return model, x
    return model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)  # type: ignore[call-overload]


# ------------------------------------------------------------------ the kernels of Wu et al.
def _opts(attack: str, eps: float, n_init: int, reduction: str) -> None:
    if n_init < 1:
        raise ConfigError(f"n_init must be at least 1, got {n_init}")
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown NTK reduction {reduction!r}; choose {', '.join(REDUCTIONS)}")
    if not 0 <= eps <= 1:
        raise ConfigError(f"eps is a fraction of the pixel range (8/255 = 0.031), got {eps}")


def ntk_kernels(
    ctx: MeasureContext,
    attack: str = "pgd",
    eps: float = 8 / 255,
    n_init: int = 3,
    reduction: str = "sum",
    need_perturbed: bool = True,
    layout: str = "channels_last",
) -> list[dict[str, Tensor]]:
    """Per initialisation, the kernel blocks on ``(X, X~, X~~)``: keys ``"00"`` (K), ``"01"`` (K-),
    ``"11"`` (K~), ``"12"`` (K~- of the robust kernel), ``"22"`` (K~~). Cached in the context.

    ``layout``: the memory layout of the network and batches, ``"channels_last"`` (default: one
    initialisation is 1.0-1.6x faster on CPU, see ``benchmarks/bench_measures.py`` section 6) or
    ``"contiguous"``. The clean kernel agrees between layouts to float32 rounding; the perturbed
    ones do not, because PGD at initialisation is chaotic (rounding differences in the input
    gradient flip sign steps): values of ``K~`` are reproducible with the same layout, library and
    hardware, rankings across them."""
    _opts(attack, eps, n_init, reduction)
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown memory layout {layout!r}; choose {' or '.join(LAYOUTS)}")
    n_init = 1 if ctx.bn == "as-is" else n_init
    out = []
    for i in range(n_init):
        key = ("ntk", ctx.bn, attack, float(eps), reduction, i, need_perturbed)
        full_key = ("ntk", ctx.bn, attack, float(eps), reduction, i, True)
        if full_key in ctx.cache:
            out.append(ctx.cache[full_key])
            continue
        if key not in ctx.cache:
            net, x = channels_last(ctx.init_model(i), ctx.x, layout)
            b = x.shape[0]
            if need_perturbed:
                s = ctx.init_seed(i)
                x1 = perturb(net, x, ctx.y, attack, eps, s)
                x2 = perturb(net, x1, ctx.y, attack, eps, s + 1)
                xs = torch.cat([x, x1, x2])
            else:
                xs = x
            k = gram_matrix(net, xs, reduction)
            m = k.shape[0] // xs.shape[0]  # logits per sample in the full eNTK, else 1
            bb = b * m

            def blk(p: int, q: int, k: Tensor = k, bb: int = bb) -> Tensor:
                return k[p * bb : (p + 1) * bb, q * bb : (q + 1) * bb]

            blocks = {"00": blk(0, 0)}
            if need_perturbed:
                blocks.update({"01": blk(0, 1), "11": blk(1, 1), "12": blk(1, 2), "22": blk(2, 2)})
            ctx.cache[key] = blocks
        out.append(ctx.cache[key])
    return out


def _mean_scores(scores: list[dict[str, float]]) -> dict[str, float]:
    keys = scores[0].keys()
    return {k: float(sum(s[k] for s in scores) / len(scores)) for k in keys}


@register_measure(
    "ntk",
    help="clean empirical NTK K: minimum eigenvalue and condition number (mean over n_init=3 inits)",
    paper="Chen et al. (TE-NAS), ICLR 2021",
)
def ntk(ctx: MeasureContext, n_init: int = 3, reduction: str = "sum") -> dict[str, float]:
    """Scores of ``K = G(X) G(X)^T``, mean over initialisations."""
    # the clean kernel reuses the perturbed pass when another NTK measure already made it
    kernels = ntk_kernels(ctx, n_init=n_init, reduction=reduction, need_perturbed=False)
    return _mean_scores([kernel_scores(k["00"]) for k in kernels])


@register_measure(
    "ntk_adv",
    help="NTK on PGD-7 inputs at 8/255, K~ (= K_all at beta=1; mean over 3 inits)",
    paper="Wu et al., ICLR 2024",
)
def ntk_adv(
    ctx: MeasureContext, attack: str = "pgd", eps: float = 8 / 255, n_init: int = 3, reduction: str = "sum"
) -> dict[str, float]:
    """Scores of ``K~ = G(X~) G(X~)^T``."""
    kernels = ntk_kernels(ctx, attack, eps, n_init, reduction)
    return _mean_scores([kernel_scores(k["11"]) for k in kernels])


@register_measure(
    "ntk_cross",
    help="cross kernel K- = G(X) G(X~)^T: smallest singular value and sigma_max / sigma_min",
    paper="Wu et al., ICLR 2024",
)
def ntk_cross(
    ctx: MeasureContext, attack: str = "pgd", eps: float = 8 / 255, n_init: int = 3, reduction: str = "sum"
) -> dict[str, float]:
    """The cross kernel is not symmetric: we score its singular values (``smin``, ``cond``)."""
    scores = []
    for k in ntk_kernels(ctx, attack, eps, n_init, reduction):
        s = torch.linalg.svdvals(k["01"])
        smin, smax = float(s[-1]), float(s[0])
        scores.append({"smin": smin, "cond": smax / smin if smin > 0 else float("nan")})
    return _mean_scores(scores)


@register_measure(
    "ntk_mixed",
    help="mixed kernel K_all of the beta-weighted clean+adversarial loss (clean accuracy; beta=1)",
    paper="Wu et al., ICLR 2024",
)
def ntk_mixed(
    ctx: MeasureContext,
    beta: float = 1.0,
    attack: str = "pgd",
    eps: float = 8 / 255,
    n_init: int = 3,
    reduction: str = "sum",
) -> dict[str, float]:
    """Scores of ``K_all = (1-b)^2 K + b(1-b)(K- + K-^T) + b^2 K~``."""
    kernels = ntk_kernels(ctx, attack, eps, n_init, reduction)
    return _mean_scores([kernel_scores(mixed_kernel(k["00"], k["01"], k["11"], beta)) for k in kernels])


@register_measure(
    "ntk_mixed_robust",
    help="robust mixed kernel on (X~, X~~), twice-perturbed inputs (robust accuracy; beta=1)",
    paper="Wu et al., ICLR 2024",
)
def ntk_mixed_robust(
    ctx: MeasureContext,
    beta: float = 1.0,
    attack: str = "pgd",
    eps: float = 8 / 255,
    n_init: int = 3,
    reduction: str = "sum",
) -> dict[str, float]:
    """Scores of ``(1-b)^2 K~ + b(1-b)(K~- + K~-^T) + b^2 K~~`` with ``K~- = G(X~) G(X~~)^T``."""
    kernels = ntk_kernels(ctx, attack, eps, n_init, reduction)
    return _mean_scores([kernel_scores(mixed_kernel(k["11"], k["12"], k["22"], beta)) for k in kernels])
