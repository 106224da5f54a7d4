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


def register_mixed_op_rule() -> None:
    """Teach the measures package's interval propagation the :class:`MixedOp`.

    ``MixedOp(x) = sum_o w_o op_o(x)`` with ``w = softmax(alpha) >= 0``: for an input box
    ``[l, u]`` each operation gives a box ``[l_o, u_o]`` and, the weights being non-negative,
    ``[sum_o w_o l_o, sum_o w_o u_o]`` encloses the output; the rule is differentiable in ``w``.
    """
    mod = _bounds_module()
    if mod is None:
        return
    from robnas.dnas.supernet import MixedOp

    register = getattr(mod, "register_interval_rule", None)
    if register is None or getattr(mod, "_dnas_mixed_rule", False):
        return

    def mixed_rule(module: MixedOp, lower: Tensor, upper: Tensor, propagate, weights: Tensor):  # type: ignore[no-untyped-def]
        lo = hi = None
        for w, op in zip(weights, module.ops, strict=True):
            l_o, u_o = propagate(op, lower, upper)
            lo = w * l_o if lo is None else lo + w * l_o
            hi = w * u_o if hi is None else hi + w * u_o
        return lo, hi

    register(MixedOp, mixed_rule)
    mod._dnas_mixed_rule = True


def certified_margin_bound(model: nn.Module, x: Tensor, y: Tensor, eps: float, method: str = "ibp") -> Tensor:
    """Per-sample certified lower bound of the logit margin of ``model`` within ``eps`` of ``x``."""
    mod = _bounds_module()
    if mod is None:
        raise ConfigError(
            "dsrna-cb needs the certified bounds of robnas.measures (IBP / CROWN-IBP), which are not "
            "installed in this version; use dsrna-jacobian, or update robnas"
        )
    register_mixed_op_rule()
    fn = mod.margin_lower_bound
    return fn(model, x, y, eps, method=method)
