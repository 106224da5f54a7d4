"""Certified-bound rules for the NB201 search cell, beside the cells (the DARTS search cell
describes itself by ``node_terms`` and is walked by :mod:`robnas.measures.bounds` directly).

``MixedOp(x) = sum_o w_o op_o(x)`` with ``w = softmax(alpha) >= 0``. Interval rule: each
operation maps the input box to ``[l_o, u_o]``; the weights being non-negative,
``[sum_o w_o l_o, sum_o w_o u_o]`` encloses the output. Linear (CROWN) rule: a lower bound
``A . out`` of the mixed output is the ``w``-weighted sum of the operations' lower bounds of
``A . op_o`` (each obtained by passing ``w_o A`` back through ``op_o``; a positive scale keeps the
signs that choose the ReLU relaxations). The weights of a cell are read from
``BoundState.cell_weights`` (set by :func:`robnas.dnas.robustness.bound_state`), never from an
attribute of the cell. The cell walks the 4-node graph through ``NB201SearchCell.sources``.
Everything is differentiable in ``w``.
"""

from __future__ import annotations

from torch import Tensor

from robnas.dnas.supernet import MixedOp, NB201SearchCell
from robnas.errors import ConfigError
from robnas.measures.bounds import (
    BoundState,
    interval_forward,
    linear_backward,
    register_interval_rule,
    register_linear_rule,
)
from robnas.spaces.nb201 import EDGES, NUM_NODES


def _weights(m: NB201SearchCell, state: BoundState) -> Tensor:
    w = state.cell_weights.get(id(m))
    if w is None:
        raise ConfigError("an NB201 search cell needs its architecture weights (BoundState.cell_weights)")
    return w


def mixed_interval(m: MixedOp, weights: Tensor, lower: Tensor, upper: Tensor, state: BoundState):
    lo = hi = None
    for w, op in zip(weights, m.ops, strict=True):
        a, b = interval_forward(op, lower, upper, state)
        lo = w * a if lo is None else lo + w * a
        hi = w * b if hi is None else hi + w * b
    return lo, hi


def mixed_backward(m: MixedOp, weights: Tensor, A: Tensor, state: BoundState):
    a_in = bias = None
    for w, op in zip(weights, m.ops, strict=True):
        a, b = linear_backward(op, w * A, state)
        a_in = a if a_in is None else a_in + a
        bias = b if bias is None else bias + b
    return a_in, bias


@register_interval_rule(NB201SearchCell)
def _cell_interval(m: NB201SearchCell, lower: Tensor, upper: Tensor, state: BoundState):
    weights = _weights(m, state)
    nodes = [(lower, upper)]
    for j in range(1, NUM_NODES):
        lo = hi = None
        for i in m.sources(j):
            k = EDGES.index((i, j))
            edge: MixedOp = m.edges[f"{i}_{j}"]  # type: ignore[assignment]
            a, b = mixed_interval(edge, weights[k], nodes[i][0], nodes[i][1], state)
            lo, hi = (a, b) if lo is None else (lo + a, hi + b)
        nodes.append((lo, hi))  # type: ignore[arg-type]
    return nodes[-1]


@register_linear_rule(NB201SearchCell)
def _cell_backward(m: NB201SearchCell, A: Tensor, state: BoundState):
    weights = _weights(m, state)
    coeffs = {NUM_NODES - 1: A}
    bias = A.new_zeros(A.shape[:2])
    for j in range(NUM_NODES - 1, 0, -1):
        for i in m.sources(j):
            k = EDGES.index((i, j))
            edge: MixedOp = m.edges[f"{i}_{j}"]  # type: ignore[assignment]
            a_i, b = mixed_backward(edge, weights[k], coeffs[j], state)
            coeffs[i] = coeffs[i] + a_i if i in coeffs else a_i
            bias = bias + b
    return coeffs[0], bias
