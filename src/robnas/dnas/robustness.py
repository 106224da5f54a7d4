"""Differentiable robustness terms for DSRNA, taken from :mod:`robnas.measures`.

DSRNA (Hosseini, Yang and Xie, CVPR 2021) adds to the upper-level loss a robustness metric that
is *maximised*: a certified lower bound of the logit margin under an L-inf perturbation of
radius ``eps`` (from a linear relaxation of the network), or a bound built on the Jacobian norm.
The bounds and Jacobians are computed by the measures package; this module only adapts them to
the search, where they must stay differentiable with respect to the architecture parameters:

* :func:`certified_margin_bound` -- per-sample lower bound of ``z_y - max_{j != y} z_j`` over
  the eps-ball, from the measures package's interval (IBP) / CROWN-IBP bound propagation, with a
  rule for :class:`~robnas.dnas.supernet.MixedOp` registered by :func:`register_mixed_op_rule`;
* :func:`jacobian_norm` -- per-sample ``||d max_k f_k(x) / d x||_2``, DSRNA's top-logit Jacobian
  term (``robnas.measures.jacobian.top_logit_gradient_norm``), with the graph kept for the
  architecture gradient.
"""

from __future__ import annotations

import importlib
import inspect

import torch
from torch import Tensor, nn

from robnas.errors import ConfigError


def jacobian_norm(model: nn.Module, x: Tensor) -> Tensor:
    """Per-sample top-logit Jacobian norm, differentiable in the model's parameters.

    Uses ``robnas.measures.jacobian.top_logit_gradient_norm`` when it accepts ``create_graph``;
    the released version detaches its result, so until it does the same definition
    (L2 norm of the input gradient of the largest logit) is evaluated here with the graph kept.
    """
    try:
        from robnas.measures.jacobian import top_logit_gradient_norm
    except ImportError:  # pragma: no cover - the measures package is part of robnas
        top_logit_gradient_norm = None
    if (
        top_logit_gradient_norm is not None
        and "create_graph" in inspect.signature(top_logit_gradient_norm).parameters
    ):
        return top_logit_gradient_norm(model, x, create_graph=True)  # type: ignore[call-arg]
    xr = x.detach().requires_grad_(True)
    with torch.enable_grad():
        top = model(xr).max(dim=1).values
        (g,) = torch.autograd.grad(top.sum(), xr, create_graph=True)
    return g.flatten(1).norm(dim=1)


_BOUND_MODULE = "robnas.measures.bounds"


def _bounds_module():  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(_BOUND_MODULE)
    except ImportError:
        return None


def bounds_available() -> bool:
    """Whether the measures package provides certified bounds (needed by ``dsrna-cb``)."""
    return _bounds_module() is not None


_RULES_REGISTERED = False


def register_bound_rules() -> None:
    """Teach the measures package's bound propagation (IBP and CROWN-IBP) the NB201 search cell.

    ``MixedOp(x) = sum_o w_o op_o(x)`` with ``w = softmax(alpha) >= 0``. Interval rule: each
    operation maps the input box to ``[l_o, u_o]``; the weights being non-negative,
    ``[sum_o w_o l_o, sum_o w_o u_o]`` encloses the output. Linear (CROWN) rule: a lower bound
    ``A . out`` of the mixed output is the ``w``-weighted sum of the operations' lower bounds of
    ``A . op_o`` (each obtained by passing ``w_o A`` back through ``op_o``; a positive scale keeps
    the signs that choose the ReLU relaxations). The cell rules walk the 4-node DAG like the
    measures package's ``NB201Cell`` rules. Both are differentiable in ``w``. The weights of the
    cell are those set by :func:`certified_margin_bound` (``cell.bound_weights``).
    """
    global _RULES_REGISTERED
    mod = _bounds_module()
    if mod is None or _RULES_REGISTERED:
        return
    from robnas.dnas.supernet import NB201SearchCell
    from robnas.spaces.nb201 import EDGES, NUM_NODES

    def mixed_interval(m, weights, lower, upper, state):  # type: ignore[no-untyped-def]
        lo = hi = None
        for w, op in zip(weights, m.ops, strict=True):
            a, b = mod.interval_forward(op, lower, upper, state)
            lo = w * a if lo is None else lo + w * a
            hi = w * b if hi is None else hi + w * b
        return lo, hi

    def mixed_backward(m, weights, A, state):  # type: ignore[no-untyped-def]
        a_in = bias = None
        for w, op in zip(weights, m.ops, strict=True):
            a, b = mod.linear_backward(op, w * A, state)
            a_in = a if a_in is None else a_in + a
            bias = b if bias is None else bias + b
        return a_in, bias

    @mod.register_interval_rule(NB201SearchCell)
    def _cell_interval(m, lower, upper, state):  # type: ignore[no-untyped-def]
        weights = m.bound_weights
        nodes = [(lower, upper)]
        for j in range(1, NUM_NODES):
            lo = hi = None
            for i in range(j):
                k = EDGES.index((i, j))
                state.in_shapes[id(m.edges[f"{i}_{j}"])] = tuple(nodes[i][0].shape[1:])
                a, b = mixed_interval(m.edges[f"{i}_{j}"], weights[k], nodes[i][0], nodes[i][1], state)
                lo, hi = (a, b) if lo is None else (lo + a, hi + b)
            nodes.append((lo, hi))
        return nodes[-1]

    @mod.register_linear_rule(NB201SearchCell)
    def _cell_backward(m, A, state):  # type: ignore[no-untyped-def]
        weights = m.bound_weights
        coeffs = {NUM_NODES - 1: A}
        bias = A.new_zeros(A.shape[:2])
        for j in range(NUM_NODES - 1, 0, -1):
            for i in range(j):
                k = EDGES.index((i, j))
                a_i, b = mixed_backward(m.edges[f"{i}_{j}"], weights[k], coeffs[j], state)
                coeffs[i] = coeffs[i] + a_i if i in coeffs else a_i
                bias = bias + b
        return coeffs[0], bias

    _RULES_REGISTERED = True


def certified_margin_bound(model: nn.Module, x: Tensor, y: Tensor, eps: float, method: str = "ibp") -> Tensor:
    """Per-sample certified lower bound of the logit margin of the NB201 supernet within ``eps``.

    Computed by ``robnas.measures.bounds.certified_lower_bound`` (IBP, or ``crown_ibp``) with the
    supernet in eval mode (BatchNorm running statistics, as the measures package requires), the
    mode restored afterwards; differentiable in the weights and in alpha.
    """
    mod = _bounds_module()
    if mod is None:
        raise ConfigError(
            "dsrna-cb needs the certified bounds of robnas.measures (IBP / CROWN-IBP), which are not "
            "installed in this version; use dsrna-jacobian, or update robnas"
        )
    from robnas.dnas.supernet import NB201SearchCell, NB201Supernet

    if not isinstance(model, NB201Supernet):
        raise ConfigError(
            "dsrna-cb certifies the NB201 supernet only: the measures package has no bound rules for "
            "the DARTS space's operations (separable and dilated convolutions, max pooling)"
        )
    register_bound_rules()
    method = method.replace("-", "_")
    (weights,) = model.arch_weights()
    cells = [c for c in model.cells if isinstance(c, NB201SearchCell)]
    was_training = model.training
    model.eval()
    try:
        for c in cells:
            c.bound_weights = weights
        return mod.certified_lower_bound(model, x, y, eps, method)
    finally:
        for c in cells:
            c.bound_weights = None
        model.train(was_training)
