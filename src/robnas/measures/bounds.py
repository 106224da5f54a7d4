"""Certified lower bounds on the logit margin: IBP and CROWN-IBP, and the certified radius.

* IBP (Gowal et al., "On the effectiveness of interval bound propagation for training verifiably
  robust models", 2018): an interval ``[l, u]`` is pushed through the network, one rule per module
  type (:func:`interval_forward`). An affine module maps the centre ``m = (l + u) / 2`` through
  itself and the radius ``r = (u - l) / 2`` through its absolute value (``|W|`` for convolutions
  and linear layers, ``|gamma / sigma|`` for BatchNorm in eval mode, itself for averaging), ReLU is
  monotone. The last linear layer is merged with the margin specification ``c = e_y - e_j``
  (Gowal et al.'s elision), which is tighter than subtracting logit intervals.
* CROWN-IBP (Zhang et al., "Towards stable and efficient training of verifiably robust neural
  networks", ICLR 2020): intermediate pre-activation bounds from IBP, then one backward pass of
  linear relaxations from the margin specification to the input (CROWN, Zhang et al. 2018): every
  affine module passes the coefficient matrix ``A`` back through its transpose (a vector-Jacobian
  product), each ReLU with pre-activation bounds ``l < 0 < u`` is bounded above by the chord
  ``u (z - l) / (u - l)`` and below by ``alpha z`` with the adaptive ``alpha = 1 if u > -l else 0``,
  and the input box gives ``min_x A x = A+ l_x + A- u_x``.
* ``certified_radius``: per sample, the largest ``eps`` whose lower margin bound is positive, by
  bisection (0 when the clean point is misclassified).

Both are modular: one interval rule and one linear (backward) rule per module type, looked up in
two registries through the module's class hierarchy. Composite modules (``Sequential``, the
NAS-Bench-201 cell, residual block and network) have rules that walk their structure. Another
package (e.g. a supernet with mixed operations) adds its modules with
:func:`register_interval_rule` and :func:`register_linear_rule`; everything is plain torch, so the
bounds are differentiable with respect to the parameters (for certified training or search).
BatchNorm must be in eval mode (fixed statistics); the measures calibrate it on the batch first.
Inputs are pixels in [0, 1]: the box ``[x - eps, x + eps]`` is intersected with [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.errors import ConfigError
from robnas.measures.registry import MeasureContext, register_measure
from robnas.models.nb201 import OUTPUT, NB201Cell, NB201Network
from robnas.models.ops import FactorizedReduce, Normalize, Pooling, ReLUConvBN, ResidualBlock, Zero
from robnas.spaces.nb201 import NUM_NODES


@dataclass
class BoundState:
    """What a bound computation records on its way: ReLU pre-activation bounds, input shapes."""

    relu_bounds: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    in_shapes: dict[int, tuple[int, ...]] = field(default_factory=dict)


IntervalRule = Callable[[nn.Module, Tensor, Tensor, BoundState], tuple[Tensor, Tensor]]
LinearRule = Callable[[nn.Module, Tensor, BoundState], tuple[Tensor, Tensor]]
"""``rule(module, A, state) -> (A_in, bias)``: ``A`` is ``[B, S, *out_shape]``, the coefficients of a
lower bound ``sum(A * out) + const`` on ``S`` specifications; the rule returns the coefficients
with respect to the module's input and the constant it adds (``[B, S]``)."""

_INTERVAL: dict[type, IntervalRule] = {}
_LINEAR: dict[type, LinearRule] = {}
# a rule is written for its own module class (a subclass of nn.Module): typed by the decorator's
# argument, so that its first parameter may be that class
_I = TypeVar("_I", bound=Callable[..., Any])
_L = TypeVar("_L", bound=Callable[..., Any])


def register_interval_rule(*types: type) -> Callable[[_I], _I]:
    """Decorator: ``rule(module, lower, upper, state) -> (lower, upper)`` for modules of ``types``."""

    def deco(rule: _I) -> _I:
        for t in types:
            _INTERVAL[t] = rule
        return rule

    return deco


def register_linear_rule(*types: type) -> Callable[[_L], _L]:
    """Decorator: the CROWN backward rule ``rule(module, A, state) -> (A_in, bias)`` for ``types``."""

    def deco(rule: _L) -> _L:
        for t in types:
            _LINEAR[t] = rule
        return rule

    return deco


def _lookup(table: dict[type, Callable], module: nn.Module, what: str) -> Callable:
    for cls in type(module).__mro__:
        if cls in table:
            return table[cls]
    raise ConfigError(
        f"no {what} rule for {type(module).__name__}; register one with "
        f"robnas.measures.bounds.register_{what}_rule({type(module).__name__})"
    )


def interval_forward(
    module: nn.Module, lower: Tensor, upper: Tensor, state: BoundState | None = None
) -> tuple[Tensor, Tensor]:
    """Propagate the interval ``[lower, upper]`` (batched like the module's input) through ``module``."""
    state = state if state is not None else BoundState()
    state.in_shapes[id(module)] = tuple(lower.shape[1:])
    return _lookup(_INTERVAL, module, "interval")(module, lower, upper, state)


def linear_backward(module: nn.Module, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    """Pass lower-bound coefficients ``A`` ``[B, S, *out]`` back through ``module`` (CROWN)."""
    return _lookup(_LINEAR, module, "linear")(module, A, state)


# ---------------------------------------------------------------- affine leaves


def _affine_interval(module: nn.Module, lower: Tensor, upper: Tensor, abs_fn: Callable[[Tensor], Tensor]):
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    m, r = module(mid), abs_fn(rad)
    return m - r, m + r


def _affine_backward(module: nn.Module, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    """Generic rule for an affine module ``h(z) = L z + c``: ``A L`` by autograd, ``bias = A c``."""
    in_shape = state.in_shapes[id(module)]
    b, s = A.shape[:2]
    keep = torch.is_grad_enabled()
    with torch.enable_grad():
        z = torch.zeros((b * s, *in_shape), dtype=A.dtype, device=A.device, requires_grad=True)
        out = module(z)
        (a_in,) = torch.autograd.grad(out, z, A.reshape(b * s, *A.shape[2:]), create_graph=keep)
    const = out if keep else out.detach()
    bias = (A.reshape(b * s, -1) * const.reshape(b * s, -1)).sum(1).view(b, s)
    return a_in.view(b, s, *in_shape), bias


register_linear_rule(
    nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, Normalize, nn.Flatten
)(_affine_backward)


@register_interval_rule(nn.Conv2d)
def _conv_interval(m: nn.Conv2d, lower: Tensor, upper: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    def abs_fn(r: Tensor) -> Tensor:
        return F.conv2d(r, m.weight.abs(), None, m.stride, m.padding, m.dilation, m.groups)

    return _affine_interval(m, lower, upper, abs_fn)


@register_interval_rule(nn.Linear)
def _linear_interval(m: nn.Linear, lower: Tensor, upper: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    return _affine_interval(m, lower, upper, lambda r: F.linear(r, m.weight.abs()))


def _bn_scale(m: nn.BatchNorm2d) -> Tensor:
    if m.training or m.running_var is None:
        raise ConfigError(
            "bound propagation needs BatchNorm in eval mode with running statistics; call model.eval() "
            "(or robnas.measures.calibrate_bn) first"
        )
    scale = torch.rsqrt(m.running_var + m.eps)
    if m.weight is not None:
        scale = scale * m.weight
    return scale


@register_interval_rule(nn.BatchNorm2d)
def _bn_interval(m: nn.BatchNorm2d, lower: Tensor, upper: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    scale = _bn_scale(m).abs().view(1, -1, 1, 1)
    return _affine_interval(m, lower, upper, lambda r: r * scale)


@register_interval_rule(nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity)
def _monotone_linear_interval(m: nn.Module, lower: Tensor, upper: Tensor, state: BoundState):
    """Linear maps with non-negative coefficients (averaging, reshaping): bounds map through."""
    return m(lower), m(upper)


@register_interval_rule(Normalize)
def _normalize_interval(m: Normalize, lower: Tensor, upper: Tensor, state: BoundState):
    return m(lower), m(upper)  # std > 0: increasing


@register_linear_rule(nn.Identity)
def _identity_backward(m: nn.Module, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    return A, A.new_zeros(A.shape[:2])


@register_interval_rule(Zero)
def _zero_interval(m: Zero, lower: Tensor, upper: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    z = m(lower)
    return z, z


@register_linear_rule(Zero)
def _zero_backward(m: Zero, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    shape = state.in_shapes[id(m)]
    return A.new_zeros((*A.shape[:2], *shape)), A.new_zeros(A.shape[:2])


# ---------------------------------------------------------------- ReLU


@register_interval_rule(nn.ReLU)
def _relu_interval(m: nn.ReLU, lower: Tensor, upper: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    if id(m) in state.relu_bounds:
        raise ConfigError("a ReLU module is used twice in one forward pass; bounds need one module per use")
    state.relu_bounds[id(m)] = (lower, upper)
    return lower.clamp_min(0), upper.clamp_min(0)


def relu_relaxation(lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """CROWN's linear relaxation: ``(alpha, slope, intercept)`` with
    ``alpha z <= relu(z) <= slope z + intercept`` on ``[lower, upper]`` (adaptive ``alpha``)."""
    active = (lower >= 0).to(lower.dtype)
    unstable = (lower < 0) & (upper > 0)
    denom = torch.where(unstable, upper - lower, torch.ones_like(upper))
    slope = torch.where(unstable, upper / denom, active)
    intercept = torch.where(unstable, -slope * lower, torch.zeros_like(lower))
    alpha = torch.where(unstable, (upper > -lower).to(lower.dtype), active)
    return alpha, slope, intercept


@register_linear_rule(nn.ReLU)
def _relu_backward(m: nn.ReLU, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    lower, upper = state.relu_bounds[id(m)]
    alpha, slope, intercept = (t.unsqueeze(1) for t in relu_relaxation(lower, upper))
    pos, neg = A.clamp_min(0), A.clamp_max(0)
    a_in = pos * alpha + neg * slope
    bias = (neg * intercept).flatten(2).sum(2)
    return a_in, bias


# ---------------------------------------------------------------- composites


def _sequence_interval(children: list[nn.Module], lower: Tensor, upper: Tensor, state: BoundState):
    for child in children:
        lower, upper = interval_forward(child, lower, upper, state)
    return lower, upper


def _sequence_backward(children: list[nn.Module], A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    bias = A.new_zeros(A.shape[:2])
    for child in reversed(children):
        A, b = linear_backward(child, A, state)
        bias = bias + b
    return A, bias


@register_interval_rule(nn.Sequential)
def _seq_interval(m: nn.Sequential, lower: Tensor, upper: Tensor, state: BoundState):
    return _sequence_interval(list(m), lower, upper, state)


@register_linear_rule(nn.Sequential)
def _seq_backward(m: nn.Sequential, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    return _sequence_backward(list(m), A, state)


@register_interval_rule(ReLUConvBN)
def _rcb_interval(m: ReLUConvBN, lower: Tensor, upper: Tensor, state: BoundState):
    return interval_forward(m.op, lower, upper, state)


@register_linear_rule(ReLUConvBN)
def _rcb_backward(m: ReLUConvBN, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    return linear_backward(m.op, A, state)


def _pooling_parts(m: Pooling) -> list[nn.Module]:
    return ([m.preprocess] if m.preprocess is not None else []) + [m.pool]


@register_interval_rule(Pooling)
def _pooling_interval(m: Pooling, lower: Tensor, upper: Tensor, state: BoundState):
    return _sequence_interval(_pooling_parts(m), lower, upper, state)


@register_linear_rule(Pooling)
def _pooling_backward(m: Pooling, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    return _sequence_backward(_pooling_parts(m), A, state)


class _FRLinear(nn.Module):
    """The affine part of a :class:`FactorizedReduce` (everything after its ReLU)."""

    def __init__(self, fr: FactorizedReduce) -> None:
        super().__init__()
        self.fr = fr

    def forward(self, x: Tensor) -> Tensor:
        fr = self.fr
        if fr.stride == 2:
            shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
            out = torch.cat([fr.convs[0](x), fr.convs[1](shifted)], dim=1)
        else:
            out = fr.conv(x)
        return fr.bn(out)


@register_interval_rule(FactorizedReduce)
def _fr_interval(m: FactorizedReduce, lower: Tensor, upper: Tensor, state: BoundState):
    lower, upper = interval_forward(m.relu, lower, upper, state)
    lin = _FRLinear(m)
    state.in_shapes[id(m)] = tuple(lower.shape[1:])  # input shape of the affine part
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    center = lin(mid)
    if m.stride == 2:
        shifted = F.pad(rad, (0, 1, 0, 1))[:, :, 1:, 1:]
        r = torch.cat(
            [
                F.conv2d(rad, cast(nn.Conv2d, m.convs[0]).weight.abs(), stride=2),
                F.conv2d(shifted, cast(nn.Conv2d, m.convs[1]).weight.abs(), stride=2),
            ],
            dim=1,
        )
    else:
        r = F.conv2d(rad, m.conv.weight.abs())
    r = r * _bn_scale(m.bn).abs().view(1, -1, 1, 1)
    return center - r, center + r


@register_linear_rule(FactorizedReduce)
def _fr_backward(m: FactorizedReduce, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    lin = _FRLinear(m)
    state.in_shapes[id(lin)] = state.in_shapes[id(m)]
    A, bias = _affine_backward(lin, A, state)
    A, b2 = linear_backward(m.relu, A, state)
    return A, bias + b2


@register_interval_rule(ResidualBlock)
def _res_interval(m: ResidualBlock, lower: Tensor, upper: Tensor, state: BoundState):
    l_main, u_main = _sequence_interval([m.conv_a, m.conv_b], lower, upper, state)
    if m.downsample is None:
        l_sc, u_sc = lower, upper
    else:
        l_sc, u_sc = interval_forward(m.downsample, lower, upper, state)
    return l_main + l_sc, u_main + u_sc


@register_linear_rule(ResidualBlock)
def _res_backward(m: ResidualBlock, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    a_main, b_main = _sequence_backward([m.conv_a, m.conv_b], A, state)
    if m.downsample is None:
        return a_main + A, b_main
    a_sc, b_sc = linear_backward(m.downsample, A, state)
    return a_main + a_sc, b_main + b_sc


def _cell_sources(cell: NB201Cell, j: int) -> list[int] | None:
    """Sources summed into node ``j`` as the cell's forward pass does; ``None``: node not computed;
    ``[]``: the node is the zero tensor (every incoming edge is ``none``)."""
    if cell.prune:
        if j not in cell._live:
            return None
        return list(cell._active[j])
    return list(range(j))


@register_interval_rule(NB201Cell)
def _cell_interval(m: NB201Cell, lower: Tensor, upper: Tensor, state: BoundState):
    nodes: list[tuple[Tensor, Tensor] | None] = [(lower, upper)]
    for j in range(1, NUM_NODES):
        srcs = _cell_sources(m, j)
        if srcs is None:
            nodes.append(None)
            continue
        if not srcs:
            z = m.ops[f"0_{j}"](lower)
            nodes.append((z, z))
            continue
        lo: Tensor | None = None
        hi: Tensor | None = None
        for i in srcs:
            src = nodes[i]
            assert src is not None
            a, b = interval_forward(m.ops[f"{i}_{j}"], src[0], src[1], state)
            lo, hi = (a, b) if lo is None or hi is None else (lo + a, hi + b)
        assert lo is not None and hi is not None
        nodes.append((lo, hi))
    out = nodes[OUTPUT]
    assert out is not None
    return out


@register_linear_rule(NB201Cell)
def _cell_backward(m: NB201Cell, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    coeffs: dict[int, Tensor] = {OUTPUT: A}
    bias = A.new_zeros(A.shape[:2])
    for j in range(NUM_NODES - 1, 0, -1):
        if j not in coeffs:
            continue
        srcs = _cell_sources(m, j) or []
        for i in srcs:
            a_i, b = linear_backward(m.ops[f"{i}_{j}"], coeffs[j], state)
            coeffs[i] = coeffs[i] + a_i if i in coeffs else a_i
            bias = bias + b
    if 0 not in coeffs:  # the output does not depend on the input (a zero cell)
        shape = state.in_shapes[id(m)]
        return A.new_zeros((*A.shape[:2], *shape)), bias
    return coeffs[0], bias


def _network_parts(m: NB201Network) -> list[nn.Module]:
    head = [m.normalize] if m.normalize is not None else []
    return [*head, m.stem, m.cells, m.lastact, m.global_pooling, nn.Flatten(1)]


def _features_interval(m: nn.Module, lower: Tensor, upper: Tensor, state: BoundState):
    if isinstance(m, NB201Network):
        parts = _network_parts(m)
        state.in_shapes[id(m)] = tuple(lower.shape[1:])
        return _sequence_interval(parts, lower, upper, state), parts, m.classifier
    raise ConfigError(f"margin bounds support NB201Network, got {type(m).__name__}")


@register_interval_rule(NB201Network)
def _net_interval(m: NB201Network, lower: Tensor, upper: Tensor, state: BoundState):
    (lo, hi), _, head = _features_interval(m, lower, upper, state)
    return interval_forward(head, lo, hi, state)


def margin_spec(y: Tensor, num_classes: int) -> Tensor:
    """Specification rows ``e_y - e_j`` for all ``j != y``: ``[B, K - 1, K]``."""
    b = y.shape[0]
    eye = torch.eye(num_classes, device=y.device)
    c = eye[y].unsqueeze(1) - eye.unsqueeze(0)  # [B, K, K]: row j is e_y - e_j
    keep = ~F.one_hot(y, num_classes).bool()
    return c[keep].view(b, num_classes - 1, num_classes)


def spec_linear_interval(linear: nn.Linear, lower: Tensor, upper: Tensor, spec: Tensor) -> Tensor:
    """Lower bound of ``spec @ linear(h)`` for ``h`` in ``[lower, upper]`` (Gowal et al.'s elision)."""
    w = spec @ linear.weight  # [B, S, F]
    bias = spec @ linear.bias if linear.bias is not None else 0.0
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    return (w @ mid.unsqueeze(2)).squeeze(2) - (w.abs() @ rad.unsqueeze(2)).squeeze(2) + bias


def input_box(x: Tensor, eps: float | Tensor) -> tuple[Tensor, Tensor]:
    """The L-inf box of radius ``eps`` (a float or ``[B]``) around ``x``, intersected with [0, 1]."""
    if isinstance(eps, Tensor):
        eps = eps.view(-1, *([1] * (x.dim() - 1)))
    return (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)


def margin_bounds(model: nn.Module, x: Tensor, y: Tensor, eps: float | Tensor, method: str = "ibp") -> Tensor:
    """Lower bounds on ``z_y - z_j`` (``[B, K - 1]``) over the L-inf ball of radius ``eps``.

    ``method`` is ``"ibp"`` (Gowal et al. 2018) or ``"crown_ibp"`` (Zhang et al., ICLR 2020).
    The model must be in eval mode. The bound of sample ``i`` is the minimum over its row.
    """
    if method not in ("ibp", "crown_ibp"):
        raise ConfigError(f"unknown bound method {method!r}; choose ibp or crown_ibp")
    if model.training:
        raise ConfigError("bounds need the model in eval mode (BatchNorm with fixed statistics)")
    lower, upper = input_box(x, eps)
    state = BoundState()
    (lo, hi), parts, head = _features_interval(model, lower, upper, state)
    spec = margin_spec(y, head.out_features).to(x.dtype)
    if method == "ibp":
        return spec_linear_interval(head, lo, hi, spec)
    state.in_shapes[id(head)] = tuple(lo.shape[1:])
    A, bias = linear_backward(head, spec, state)
    A, b2 = _sequence_backward(parts, A, state)
    flat = A.flatten(2)
    bound = (flat.clamp_min(0) * lower.flatten(1).unsqueeze(1)).sum(2)
    bound = bound + (flat.clamp_max(0) * upper.flatten(1).unsqueeze(1)).sum(2)
    return bound + bias + b2


def certified_lower_bound(
    model: nn.Module, x: Tensor, y: Tensor, eps: float | Tensor, method: str = "ibp"
) -> Tensor:
    """Per-sample lower bound on the margin ``z_y - max_{j != y} z_j`` in the eps-ball (``[B]``)."""
    return margin_bounds(model, x, y, eps, method).min(dim=1).values


@torch.no_grad()
def certified_radius(
    model: nn.Module,
    x: Tensor,
    y: Tensor | None = None,
    method: str = "ibp",
    eps_min: float = 1e-12,
    eps_max: float = 16 / 255,
    steps: int = 16,
) -> Tensor:
    """Per-sample certified L-inf radius (pixel units) by bisection.

    The radius is the largest ``eps`` found whose lower margin bound is positive. ``y=None``
    certifies the network's own prediction (the useful question at initialisation, where labels
    are predicted at chance); with labels, a misclassified point has radius 0. Bisection runs on
    ``log(eps)`` between ``eps_min`` (below it: radius 0) and ``eps_max`` (certified there: radius
    ``eps_max``), since radii at initialisation span orders of magnitude; ``steps`` steps give a
    relative precision of ``(eps_max / eps_min) ** (1 / 2**steps)``. The bound is monotone in
    ``eps`` for IBP (nested boxes give nested intervals), hence so is the radius.

    At initialisation IBP is very loose (the interval width grows geometrically with depth: by
    about 1e8 per unit of eps for a C=4, N=1 network and far more for C=16, N=5), so radii are tiny;
    below about 1e-7 relative to the pixel values they are under float32 resolution: use float64.
    """
    if not 0 < eps_min < eps_max:
        raise ConfigError(f"need 0 < eps_min < eps_max, got {eps_min} and {eps_max}")
    if y is None:
        y = model(x).argmax(dim=1)
    b = x.shape[0]
    lo = torch.full((b,), math.log(eps_min), device=x.device, dtype=x.dtype)
    hi = torch.full((b,), math.log(eps_max), device=x.device, dtype=x.dtype)
    ok_min = certified_lower_bound(model, x, y, lo.exp(), method) > 0
    ok_max = certified_lower_bound(model, x, y, hi.exp(), method) > 0
    for _ in range(steps):
        mid = (lo + hi) / 2
        ok = certified_lower_bound(model, x, y, mid.exp(), method) > 0
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
    radius = torch.where(ok_max, torch.full_like(lo, float(eps_max)), lo.exp())
    return torch.where(ok_min, radius, torch.zeros_like(lo))


@register_measure(
    "ibp", help="IBP lower bound on the logit margin at eps=1/255 (mean)", paper="Gowal et al., 2018"
)
def ibp(ctx: MeasureContext, eps: float = 1 / 255) -> float:
    """Mean over the batch of the IBP lower bound on the margin in the eps-ball."""
    with torch.no_grad():
        return float(certified_lower_bound(ctx.model, ctx.x, ctx.y, eps, "ibp").mean())


@register_measure(
    "crown_ibp",
    help="CROWN-IBP lower bound on the logit margin at eps=1/255 (mean)",
    paper="Zhang et al., ICLR 2020",
)
def crown_ibp(ctx: MeasureContext, eps: float = 1 / 255) -> float:
    """Mean over the batch of the CROWN-IBP lower bound on the margin in the eps-ball."""
    with torch.no_grad():
        return float(certified_lower_bound(ctx.model, ctx.x, ctx.y, eps, "crown_ibp").mean())


@register_measure(
    "certified_radius",
    help="mean certified L-inf radius of the prediction, bisection on the IBP bound (pixels)",
    paper="Gowal et al., 2018; DSRNA",
)
def certified_radius_measure(
    ctx: MeasureContext, method: str = "ibp", target: str = "prediction", steps: int = 16
) -> float:
    """Mean over the batch of the certified radius (pixel units) of the prediction (default) or
    of the label (``target="label"``: 0 for misclassified points)."""
    if target not in ("prediction", "label"):
        raise ConfigError(f"target must be prediction or label, got {target!r}")
    y = ctx.y if target == "label" else None
    return float(certified_radius(ctx.model, ctx.x, y, method, steps=steps).mean())
