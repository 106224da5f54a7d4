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
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.errors import ConfigError
from robnas.measures.registry import MeasureContext, MeasureWarning, register_measure
from robnas.models.darts import DARTSMacro
from robnas.models.darts_ops import DilConv, SepConv
from robnas.models.nb201 import OUTPUT, NB201Cell, NB201Network
from robnas.models.ops import FactorizedReduce, Normalize, Pooling, ReLUConvBN, ResidualBlock, Zero
from robnas.spaces.nb201 import NUM_NODES


@dataclass
class BoundState:
    """What a bound computation carries and records on its way.

    Given by the caller (optional):

    * ``bn_stats``: ``{id(batchnorm): (mean, var)}``, statistics that BatchNorms use instead of
      their running ones (e.g. the batch statistics of a train-mode forward pass, so that a bound
      sees the same function as a loss computed in train mode; they may carry gradients);
    * ``cell_weights``: ``{id(cell): weights}``, the architecture weights of search cells
      (``softmax(alpha)``), read by the rules of cells with mixed operations.

    Recorded: ReLU pre-activation bounds, max-pooling input bounds, input shapes.
    """

    relu_bounds: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    in_shapes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    pool_bounds: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    bn_stats: dict[int, tuple[Tensor, Tensor]] = field(default_factory=dict)
    cell_weights: dict[int, Tensor] = field(default_factory=dict)


IntervalRule = Callable[..., tuple[Tensor, Tensor]]
"""``rule(module, lower, upper, state) -> (lower, upper)`` (``module`` of the registered type)."""
LinearRule = Callable[..., tuple[Tensor, Tensor]]
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


register_linear_rule(nn.Conv2d, nn.Linear, nn.AvgPool2d, nn.AdaptiveAvgPool2d, Normalize, nn.Flatten)(
    _affine_backward
)


@register_interval_rule(nn.Conv2d)
def _conv_interval(m: nn.Conv2d, lower: Tensor, upper: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    def abs_fn(r: Tensor) -> Tensor:
        return F.conv2d(r, m.weight.abs(), None, m.stride, m.padding, m.dilation, m.groups)

    return _affine_interval(m, lower, upper, abs_fn)


@register_interval_rule(nn.Linear)
def _linear_interval(m: nn.Linear, lower: Tensor, upper: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    return _affine_interval(m, lower, upper, lambda r: F.linear(r, m.weight.abs()))


def _bn_affine(m: nn.BatchNorm2d, state: BoundState | None) -> tuple[Tensor, Tensor]:
    """``(scale, shift)`` per channel of the BatchNorm as the affine map ``x * scale + shift``: with
    the statistics given in ``state.bn_stats`` if any, else its running statistics (eval mode)."""
    stats = state.bn_stats.get(id(m)) if state is not None else None
    if stats is None:
        if m.training or m.running_var is None or m.running_mean is None:
            raise ConfigError(
                "bound propagation needs BatchNorm in eval mode with running statistics (call "
                "model.eval() or robnas.measures.calibrate_bn first), or statistics in BoundState.bn_stats"
            )
        mean, var = m.running_mean, m.running_var
    else:
        mean, var = stats
    scale = torch.rsqrt(var + m.eps)
    if m.weight is not None:
        scale = scale * m.weight
    shift = -mean * scale
    if m.bias is not None:
        shift = shift + m.bias
    return scale, shift


def _bn_scale(m: nn.BatchNorm2d, state: BoundState | None = None) -> Tensor:
    return _bn_affine(m, state)[0]


def _bn_apply(m: nn.BatchNorm2d, x: Tensor, state: BoundState | None) -> Tensor:
    scale, shift = _bn_affine(m, state)
    return x * scale.view(1, -1, 1, 1) + shift.view(1, -1, 1, 1)


@register_interval_rule(nn.BatchNorm2d)
def _bn_interval(m: nn.BatchNorm2d, lower: Tensor, upper: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    scale, _ = _bn_affine(m, state)
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    c = _bn_apply(m, mid, state)
    r = rad * scale.abs().view(1, -1, 1, 1)
    return c - r, c + r


@register_linear_rule(nn.BatchNorm2d)
def _bn_backward(m: nn.BatchNorm2d, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    scale, shift = _bn_affine(m, state)
    view = (1, 1, -1, 1, 1)
    return A * scale.view(view), (A * shift.view(view)).flatten(2).sum(2)


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


# ---------------------------------------------------------------- max pooling


def _pool_args(m: nn.MaxPool2d) -> dict:
    return dict(
        kernel_size=m.kernel_size,
        stride=m.stride,
        padding=m.padding,
        dilation=m.dilation,
        ceil_mode=m.ceil_mode,
    )


@register_interval_rule(nn.MaxPool2d)
def _maxpool_interval(m: nn.MaxPool2d, lower: Tensor, upper: Tensor, state: BoundState):
    """Max is monotone in every input: the pooled bounds enclose the output."""
    state.pool_bounds[id(m)] = (lower, upper)
    return m(lower), m(upper)


@register_linear_rule(nn.MaxPool2d)
def _maxpool_backward(m: nn.MaxPool2d, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    """Linear relaxation of a max over a window: ``max_k x_k >= x_k*`` with ``k*`` the position of
    the largest lower bound (exact when it dominates the window), and ``max_k x_k <= max_k u_k``
    (a constant). Positive coefficients take the lower relaxation, negative ones the upper."""
    lower, upper = state.pool_bounds[id(m)]
    _, idx = F.max_pool2d(lower, return_indices=True, **_pool_args(m))
    u_out = F.max_pool2d(upper, **_pool_args(m))
    pos, neg = A.clamp_min(0), A.clamp_max(0)
    b, s = A.shape[:2]
    _, c, h, w = lower.shape
    index = idx.unsqueeze(1).expand(b, s, *idx.shape[1:]).flatten(3)
    a_in = A.new_zeros((b, s, c, h * w)).scatter_add(3, index, pos.flatten(3))
    bias = (neg * u_out.unsqueeze(1)).flatten(2).sum(2)
    return a_in.view(b, s, c, h, w), bias


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


@register_interval_rule(ReLUConvBN, SepConv, DilConv)
def _rcb_interval(m: Any, lower: Tensor, upper: Tensor, state: BoundState):
    """Modules whose forward pass is their ``op`` (a Sequential)."""
    return interval_forward(m.op, lower, upper, state)


@register_linear_rule(ReLUConvBN, SepConv, DilConv)
def _rcb_backward(m: Any, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
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

    def __init__(self, fr: FactorizedReduce, state: BoundState | None = None) -> None:
        super().__init__()
        self.fr = fr
        self.state = state

    def forward(self, x: Tensor) -> Tensor:
        fr = self.fr
        if fr.stride == 2:
            shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
            out = torch.cat([fr.convs[0](x), fr.convs[1](shifted)], dim=1)
        else:
            out = fr.conv(x)
        return _bn_apply(fr.bn, out, self.state)


@register_interval_rule(FactorizedReduce)
def _fr_interval(m: FactorizedReduce, lower: Tensor, upper: Tensor, state: BoundState):
    lower, upper = interval_forward(m.relu, lower, upper, state)
    lin = _FRLinear(m, state)
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
    r = r * _bn_scale(m.bn, state).abs().view(1, -1, 1, 1)
    return center - r, center + r


@register_linear_rule(FactorizedReduce)
def _fr_backward(m: FactorizedReduce, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    lin = _FRLinear(m, state)
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


# ---------------------------------------------------------------- DARTS space


def _darts_cell_interval(cell: Any, in0, in1, state: BoundState):
    """Interval through a two-input DARTS cell described by ``node_terms`` (evaluation or search
    cell; a search cell's weights come from ``state.cell_weights``, all non-negative)."""
    s0 = interval_forward(cell.preprocess0, in0[0], in0[1], state)
    s1 = interval_forward(cell.preprocess1, in1[0], in1[1], state)
    states = [s0, s1]
    for terms in cell.node_terms(state.cell_weights.get(id(cell))):
        lo: Tensor | None = None
        hi: Tensor | None = None
        for op, src, w in terms:
            a, b = interval_forward(op, states[src][0], states[src][1], state)
            if w is not None:
                a, b = w * a, w * b
            lo, hi = (a, b) if lo is None or hi is None else (lo + a, hi + b)
        assert lo is not None and hi is not None
        states.append((lo, hi))
    state.in_shapes[id(cell)] = tuple(states[2][0].shape[1:])  # shape of one node
    concat = list(cell.concat)
    return torch.cat([states[i][0] for i in concat], 1), torch.cat([states[i][1] for i in concat], 1)


def _darts_cell_backward(cell: Any, A: Tensor, state: BoundState):
    """``(A_s0, A_s1, bias)``: the cell's output coefficients passed back to its two inputs."""
    concat = list(cell.concat)
    chunks = A.chunk(len(concat), dim=2)
    coeffs: dict[int, Tensor] = {}
    for i, a in zip(concat, chunks, strict=True):
        coeffs[i] = coeffs[i] + a if i in coeffs else a
    bias = A.new_zeros(A.shape[:2])
    terms = cell.node_terms(state.cell_weights.get(id(cell)))
    for j in range(len(terms) + 1, 1, -1):
        if j not in coeffs:
            continue
        for op, src, w in terms[j - 2]:
            a_j = coeffs[j] if w is None else w * coeffs[j]
            a_i, b = linear_backward(op, a_j, state)
            coeffs[src] = coeffs[src] + a_i if src in coeffs else a_i
            bias = bias + b
    out: list[Tensor | None] = []
    for k, pre in ((0, cell.preprocess0), (1, cell.preprocess1)):
        if k in coeffs:
            a_k, b = linear_backward(pre, coeffs[k], state)
            bias = bias + b
            out.append(a_k)
        else:
            out.append(None)
    return out[0], out[1], bias


class _DARTSCellStack(nn.Module):
    """The cells of a :class:`~robnas.models.darts.DARTSMacro` as one module for the bound walk:
    cell ``k`` reads the outputs of cells ``k-2`` and ``k-1`` (the stem's output before the first)."""

    def __init__(self, macro: DARTSMacro) -> None:
        super().__init__()
        self.macro = macro

    def inputs(self, k: int) -> tuple[int, int]:
        """State indices read by cell ``k`` (1-based; state 0 is the stem's output)."""
        return max(k - 2, 0), k - 1


@register_interval_rule(_DARTSCellStack)
def _stack_interval(m: _DARTSCellStack, lower: Tensor, upper: Tensor, state: BoundState):
    states = [(lower, upper)]
    for k, cell in enumerate(m.macro.cells, start=1):
        i0, i1 = m.inputs(k)
        states.append(_darts_cell_interval(cell, states[i0], states[i1], state))
    return states[-1]


@register_linear_rule(_DARTSCellStack)
def _stack_backward(m: _DARTSCellStack, A: Tensor, state: BoundState) -> tuple[Tensor, Tensor]:
    cells = list(m.macro.cells)
    coeffs: dict[int, Tensor] = {len(cells): A}
    bias = A.new_zeros(A.shape[:2])
    for k in range(len(cells), 0, -1):
        if k not in coeffs:
            continue
        a0, a1, b = _darts_cell_backward(cells[k - 1], coeffs.pop(k), state)
        bias = bias + b
        for i, a in zip(m.inputs(k), (a0, a1), strict=True):
            if a is not None:
                coeffs[i] = coeffs[i] + a if i in coeffs else a
    if 0 not in coeffs:
        return A.new_zeros((*A.shape[:2], *state.in_shapes[id(m)])), bias
    return coeffs[0], bias


def _darts_parts(m: DARTSMacro) -> list[nn.Module]:
    head = [m.normalize] if m.normalize is not None else []
    return [*head, m.stem, _DARTSCellStack(m), m.global_pooling, nn.Flatten(1)]


def _network_parts(m: NB201Network) -> list[nn.Module]:
    head = [m.normalize] if m.normalize is not None else []
    return [*head, m.stem, m.cells, m.lastact, m.global_pooling, nn.Flatten(1)]


def _features_interval(m: nn.Module, lower: Tensor, upper: Tensor, state: BoundState):
    if isinstance(m, NB201Network):
        parts = _network_parts(m)
    elif isinstance(m, DARTSMacro):
        parts = _darts_parts(m)
    else:
        raise ConfigError(
            f"margin bounds support NB201 and DARTS networks and supernets, got {type(m).__name__}"
        )
    state.in_shapes[id(m)] = tuple(lower.shape[1:])
    return _sequence_interval(parts, lower, upper, state), parts, m.classifier


@register_interval_rule(NB201Network, DARTSMacro)
def _net_interval(m: nn.Module, lower: Tensor, upper: Tensor, state: BoundState):
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


def margin_bounds(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    method: str = "ibp",
    state: BoundState | None = None,
) -> Tensor:
    """Lower bounds on ``z_y - z_j`` (``[B, K - 1]``) over the L-inf ball of radius ``eps``.

    ``method`` is ``"ibp"`` (Gowal et al. 2018) or ``"crown_ibp"`` (Zhang et al., ICLR 2020).
    The model must be in eval mode, unless ``state.bn_stats`` gives the statistics of every
    BatchNorm. ``state`` may also carry search cells' architecture weights (see
    :class:`BoundState`); it is not reused between calls. The bound of sample ``i`` is the
    minimum over its row.
    """
    if method not in ("ibp", "crown_ibp"):
        raise ConfigError(f"unknown bound method {method!r}; choose ibp or crown_ibp")
    given = state if state is not None else BoundState()
    state = BoundState(bn_stats=given.bn_stats, cell_weights=given.cell_weights)  # fresh records
    if model.training and not state.bn_stats:
        raise ConfigError("bounds need the model in eval mode (BatchNorm with fixed statistics)")
    lower, upper = input_box(x, eps)
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
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    method: str = "ibp",
    state: BoundState | None = None,
) -> Tensor:
    """Per-sample lower bound on the margin ``z_y - max_{j != y} z_j`` in the eps-ball (``[B]``)."""
    return margin_bounds(model, x, y, eps, method, state).min(dim=1).values


def interval_linear_regime(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    bn_stats: dict[int, tuple[Tensor, Tensor]] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """IBP in its linear regime, in closed form: ``(m, K, eps_lin)``.

    For ``eps`` small enough that no ReLU changes state and no max-pooling window changes its
    maximum, IBP's margin lower bound is exactly linear in ``eps``: ``g_j(eps) = m_j - eps K_j``
    with ``m_j`` the clean margin ``z_y - z_j`` (``[B, K - 1]``) and ``K_j`` the interval growth
    constant: the unit input radius pushed through ``|W|`` (convolutions, linear layers), ``|scale|``
    (BatchNorm), the stable ReLUs' 0/1 masks and the pooling maxima. ``eps_lin`` (``[B]``) is where
    that regime provably ends (the first ReLU pre-activation interval ``c +- eps r`` to reach 0,
    or the first pooling window whose maximum may change). So every ``eps <= eps_lin`` with
    ``m_j > eps K_j`` for all ``j`` is certified, and ``min(min_j m_j / K_j, eps_lin)`` is a
    certified radius; everything is computed by one forward pass of the centre and the radius as
    one stacked batch (no intervals ``x +- eps``, so no float round-off at tiny ``eps``), and is
    differentiable. Supports networks whose non-linearities are ``nn.ReLU`` / ``nn.MaxPool2d``
    modules and whose other operations are sums, concatenations, non-negative scalings and
    the modules handled here (the NB201 and DARTS networks and supernets).

    ``bn_stats`` as in :class:`BoundState`; without them the model's running statistics are used.
    """
    b = x.shape[0]
    regime = [x.new_full((b,), float("inf"))]
    feats: list[tuple[Tensor, Tensor]] = []
    state = BoundState(bn_stats=dict(bn_stats or {}))

    def split(t: Tensor) -> tuple[Tensor, Tensor]:
        return t[:b], t[b:]

    def limit(values: Tensor) -> None:
        regime[0] = torch.minimum(regime[0], values.flatten(1).min(1).values)

    def conv_hook(m: nn.Conv2d, inp, out):
        _, r = split(inp[0])
        r_out = F.conv2d(r, m.weight.abs(), None, m.stride, m.padding, m.dilation, m.groups)
        return torch.cat([out[:b], r_out])

    def bn_hook(m: nn.BatchNorm2d, inp, out):
        c, r = split(inp[0])
        scale, _ = _bn_affine(m, state)
        return torch.cat([_bn_apply(m, c, state), r * scale.abs().view(1, -1, 1, 1)])

    def relu_hook(m: nn.ReLU, inp, out):
        c, r = split(inp[0])
        moving = r > 0
        ratio = torch.where(
            moving, c.abs() / torch.where(moving, r, torch.ones_like(r)), torch.full_like(c, float("inf"))
        )
        limit(ratio)
        return torch.cat([c.clamp_min(0), r * (c > 0).to(r.dtype)])

    def pool_hook(m: nn.MaxPool2d, inp, out):
        c, r = split(inp[0])
        k, s, p = m.kernel_size, m.stride, m.padding
        k = k if isinstance(k, int) else k[0]
        s = s if isinstance(s, int) else s[0]
        p = p if isinstance(p, int) else p[0]
        n, ch = c.shape[:2]
        cw = F.unfold(F.pad(c, (p, p, p, p), value=float("-inf")), k, stride=s).view(n, ch, k * k, -1)
        rw = F.unfold(F.pad(r, (p, p, p, p)), k, stride=s).view(n, ch, k * k, -1)
        top, arg = cw.max(dim=2, keepdim=True)
        r_top = rw.gather(2, arg)
        gap = (top - cw) / (r_top + rw).clamp_min(1e-30)
        others = torch.ones_like(gap, dtype=torch.bool).scatter(2, arg, False) & torch.isfinite(cw)
        limit(torch.where(others, gap, torch.full_like(gap, float("inf"))))
        return torch.cat([out[:b], r_top.view_as(out[:b])])

    def norm_hook(m: Normalize, inp, out):
        _, r = split(inp[0])
        return torch.cat([out[:b], r / m.std])

    def head_hook(m: nn.Linear, inp):
        feats.append(split(inp[0]))

    handles = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.BatchNorm2d):
            handles.append(mod.register_forward_hook(bn_hook))
        elif isinstance(mod, nn.ReLU):
            handles.append(mod.register_forward_hook(relu_hook))
        elif isinstance(mod, nn.MaxPool2d):
            handles.append(mod.register_forward_hook(pool_hook))
        elif isinstance(mod, Normalize):
            handles.append(mod.register_forward_hook(norm_hook))
    head = getattr(model, "classifier", None)
    if not isinstance(head, nn.Linear):
        raise ConfigError(
            f"linear-regime bounds need a network with a linear classifier, got {type(model).__name__}"
        )
    handles.append(head.register_forward_pre_hook(head_hook))
    was_training = model.training
    model.eval()
    try:
        model(torch.cat([x, torch.ones_like(x)]))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    c_h, r_h = feats[-1]
    spec = margin_spec(y, head.out_features).to(x.dtype)
    w = spec @ head.weight
    bias = spec @ head.bias if head.bias is not None else 0.0
    m = (w @ c_h.unsqueeze(2)).squeeze(2) + bias
    k_const = (w.abs() @ r_h.unsqueeze(2)).squeeze(2)
    return m, k_const, regime[0]


def linear_regime_radius(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    bn_stats: dict[int, tuple[Tensor, Tensor]] | None = None,
) -> tuple[Tensor, Tensor]:
    """``(certified, extrapolated)`` radii per sample from :func:`interval_linear_regime`:
    ``min_j m_j / K_j`` clipped at ``eps_lin`` (certified) and unclipped (IBP's first-order radius,
    the smooth quantity a search can follow). 0 where the clean margin is not positive."""
    m, k_const, eps_lin = interval_linear_regime(model, x, y, bn_stats)
    ratio = (m.clamp_min(0) / k_const.clamp_min(1e-30)).min(dim=1).values
    return torch.minimum(ratio, eps_lin), ratio


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


class BoundWarning(MeasureWarning):
    """A certified bound is numerically meaningless (vacuous, non-finite or at the search floor)."""


VACUOUS = 1e6
"""A margin lower bound below ``-VACUOUS`` times the largest clean logit magnitude is flagged as
vacuous: it certifies nothing and its value mostly measures interval growth."""


def _float64(ctx: MeasureContext) -> tuple[nn.Module, Tensor, Tensor]:
    """A float64 copy of the measured network and batch (cached): bounds of C=16, N=5 networks at
    initialisation reach 1e24 and radii 1e-12, beyond float32's range of useful values."""
    import copy

    if "bounds:float64" not in ctx.cache:
        model = copy.deepcopy(ctx.model).double().eval()
        ctx.cache["bounds:float64"] = (model, ctx.x.double(), ctx.y)
    return ctx.cache["bounds:float64"]


def _flag(name: str, values: Tensor, scale: float) -> float:
    mean = float(values.mean())
    if not math.isfinite(mean):
        warnings.warn(
            f"{name}: the bound is not finite ({mean}); it certifies nothing", BoundWarning, stacklevel=3
        )
    elif mean < -VACUOUS * max(scale, 1.0):
        warnings.warn(
            f"{name}: the bound ({mean:.3g}) is vacuous, {-mean / max(scale, 1.0):.2g} times the "
            "logit scale; it measures interval growth, not robustness (certified_radius is scale-free)",
            BoundWarning,
            stacklevel=3,
        )
    return mean


def _margin_measure(ctx: MeasureContext, eps: float, method: str) -> float:
    model, x, y = _float64(ctx)
    with torch.no_grad():
        bound = certified_lower_bound(model, x, y, eps, method)
        scale = float(model(x).abs().max())
    return _flag(method, bound, scale)


@register_measure(
    "ibp", help="IBP lower bound on the logit margin at eps=1/255 (mean)", paper="Gowal et al., 2018"
)
def ibp(ctx: MeasureContext, eps: float = 1 / 255) -> float:
    """Mean over the batch of the IBP lower bound on the margin in the eps-ball (float64; a
    :class:`BoundWarning` flags a vacuous or non-finite value)."""
    return _margin_measure(ctx, eps, "ibp")


@register_measure(
    "crown_ibp",
    help="CROWN-IBP lower bound on the logit margin at eps=1/255 (mean)",
    paper="Zhang et al., ICLR 2020",
)
def crown_ibp(ctx: MeasureContext, eps: float = 1 / 255) -> float:
    """Mean over the batch of the CROWN-IBP lower bound on the margin in the eps-ball (float64;
    a :class:`BoundWarning` flags a vacuous or non-finite value)."""
    return _margin_measure(ctx, eps, "crown_ibp")


@register_measure(
    "certified_radius",
    help="mean log10 certified L-inf radius of the prediction from IBP (pixels; scale-free)",
    paper="Gowal et al., 2018; DSRNA",
)
def certified_radius_measure(
    ctx: MeasureContext, method: str = "ibp", target: str = "prediction", steps: int = 20
) -> float:
    """Mean over the batch of ``log10`` of the certified L-inf radius (pixel units) of the
    prediction (default) or of the label (``target="label"``).

    Scale-free: at initialisation IBP's interval growth makes radii of C=16, N=5 networks about
    1e-40, far below what a bisection on boxes ``x +- eps`` can resolve even in float64, so the
    radius is the larger of two certified values: the closed form of IBP in its linear regime
    (:func:`linear_regime_radius`, exact whatever the scale) and, when that is above ``1e-12``,
    the float64 bisection of :func:`certified_radius` (tighter beyond the linear regime).
    Radii of 0 (misclassified labels) count as ``1e-300`` and are flagged by a
    :class:`BoundWarning`. Radii are capped at 1, the whole pixel range: a box of that radius
    already holds every image, so the score is at most 0 (reached by a network whose output does
    not depend on its input, e.g. a cell whose paths from the input are all ``none``)."""
    if target not in ("prediction", "label"):
        raise ConfigError(f"target must be prediction or label, got {target!r}")
    model, x, y_true = _float64(ctx)
    with torch.no_grad():
        pred = model(x).argmax(1)
        y = y_true if target == "label" else pred
        r, _ = linear_regime_radius(model, x, y)
        r = torch.where(y == pred, r, torch.zeros_like(r))
        if float(r.max()) > 1e-12:
            r = torch.maximum(r, certified_radius(model, x, y, method, eps_min=1e-12, steps=steps))
        r = r.clamp_max(1.0)
    zero = int((r <= 0).sum())
    if zero:
        warnings.warn(
            f"certified_radius: {zero} of {r.numel()} points have radius 0 (misclassified); "
            "their log10 is counted as -300",
            BoundWarning,
            stacklevel=2,
        )
    return float(r.clamp_min(1e-300).log10().mean())
