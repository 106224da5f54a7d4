"""Architecture measures: one registry (Jacobian, Hessian, NTK family, certified bounds,
zero-cost proxies), at initialisation or on trained networks.

``compute_measures(["jacobian", "ntk_adv"], model_or_factory, x, y, seed=0)`` returns a dict of
values at initialisation; ``measure_trained(names, checkpoint_or_model, x, y)`` takes them on a
trained network with its own BatchNorm statistics (``bn="as-is"``); ``measure_batch(dataset, n,
seed)`` is the batch they are taken on. :func:`register_measure` adds a measure;
:func:`available_measures` lists them. See :mod:`robnas.measures.registry` for the policy and each
module for its paper and choices.
"""

from robnas.measures.bounds import (
    BoundState,
    certified_lower_bound,
    certified_radius,
    interval_forward,
    linear_backward,
    margin_bounds,
    margin_spec,
    register_interval_rule,
    register_linear_rule,
    relu_relaxation,
    spec_linear_interval,
)
from robnas.measures.hessian import hessian_top_eigenvalue, input_hvp
from robnas.measures.jacobian import (
    input_jacobian,
    jacobian_frobenius,
    jacobian_projection,
    top_logit_gradient_norm,
)
from robnas.measures.ntk import (
    kernel_scores,
    mixed_kernel,
    per_sample_grads,
    per_sample_grads_loop,
    perturb,
)
from robnas.measures.proxies import jacov_score
from robnas.measures.registry import (
    DEFAULT_MEASURES,
    MeasureContext,
    MeasureSpec,
    available_measures,
    calibrate_bn,
    compute_measures,
    get_measure,
    measure_table,
    parse_measures,
    prepare_model,
    register_measure,
)
from robnas.measures.trained import load_trained, measure_batch, measure_trained

__all__ = [
    "DEFAULT_MEASURES",
    "BoundState",
    "MeasureContext",
    "MeasureSpec",
    "available_measures",
    "calibrate_bn",
    "certified_lower_bound",
    "certified_radius",
    "compute_measures",
    "get_measure",
    "hessian_top_eigenvalue",
    "input_hvp",
    "input_jacobian",
    "interval_forward",
    "jacobian_frobenius",
    "jacobian_projection",
    "jacov_score",
    "kernel_scores",
    "load_trained",
    "measure_batch",
    "measure_trained",
    "linear_backward",
    "margin_bounds",
    "margin_spec",
    "measure_table",
    "mixed_kernel",
    "parse_measures",
    "per_sample_grads",
    "per_sample_grads_loop",
    "perturb",
    "prepare_model",
    "register_interval_rule",
    "register_linear_rule",
    "register_measure",
    "relu_relaxation",
    "spec_linear_interval",
    "top_logit_gradient_norm",
]
