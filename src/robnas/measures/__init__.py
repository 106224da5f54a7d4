"""Architecture measures: one registry (Jacobian, Hessian, NTK family, certified bounds,
zero-cost proxies), at initialisation or on trained networks.

``compute_measures(["jacobian", "ntk_adv"], model_or_factory, x, y, seed=0)`` returns a dict of
values at initialisation; ``measure_trained(names, checkpoint_or_model, x, y)`` takes them on a
trained network with its own BatchNorm statistics (``bn="as-is"``); ``measure_batch(dataset, n,
seed)`` is the batch they are taken on. :func:`register_measure` adds a measure;
:func:`available_measures` lists them. See :mod:`robnas.measures.registry` for the policy and each
module for its paper and choices.
"""

from typing import TYPE_CHECKING

from robnas._lazy import lazy_attributes
from robnas.measures.registry import (
    DEFAULT_MEASURES,
    MEASURES,
    MeasureContext,
    MeasureSpec,
    MeasureWarning,
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

if TYPE_CHECKING:
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

# the measures themselves are imported when first used (the registry lists them without importing)
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "BoundState": "robnas.measures.bounds",
        "certified_lower_bound": "robnas.measures.bounds",
        "certified_radius": "robnas.measures.bounds",
        "interval_forward": "robnas.measures.bounds",
        "linear_backward": "robnas.measures.bounds",
        "margin_bounds": "robnas.measures.bounds",
        "margin_spec": "robnas.measures.bounds",
        "register_interval_rule": "robnas.measures.bounds",
        "register_linear_rule": "robnas.measures.bounds",
        "relu_relaxation": "robnas.measures.bounds",
        "spec_linear_interval": "robnas.measures.bounds",
        "hessian_top_eigenvalue": "robnas.measures.hessian",
        "input_hvp": "robnas.measures.hessian",
        "input_jacobian": "robnas.measures.jacobian",
        "jacobian_frobenius": "robnas.measures.jacobian",
        "jacobian_projection": "robnas.measures.jacobian",
        "top_logit_gradient_norm": "robnas.measures.jacobian",
        "kernel_scores": "robnas.measures.ntk",
        "mixed_kernel": "robnas.measures.ntk",
        "per_sample_grads": "robnas.measures.ntk",
        "per_sample_grads_loop": "robnas.measures.ntk",
        "perturb": "robnas.measures.ntk",
        "jacov_score": "robnas.measures.proxies",
    },
)

__all__ = [
    "MEASURES",
    "DEFAULT_MEASURES",
    "BoundState",
    "MeasureContext",
    "MeasureSpec",
    "MeasureWarning",
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
