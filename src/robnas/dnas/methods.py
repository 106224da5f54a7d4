"""Search methods: what each one minimises in the lower and upper levels of the bi-level loop.

Every method shares the loop of :mod:`robnas.dnas.search` (Liu et al., DARTS, ICLR 2019):
weights ``w`` minimise the *lower* loss on the training half, architecture parameters ``alpha``
minimise the *upper* loss on the validation half. A method gives

* ``lower_loss(model, x, y, seed)`` -- a scalar (default: cross-entropy);
* ``upper_objectives(model, x, y, seed)`` -- named scalars;
* ``combine(objectives, alphas)`` -- the coefficients of the objectives in the architecture
  step (default: fixed coefficients), plus what to record.

Registered methods (:func:`get_method`):

* ``darts``: upper = CE on validation data.
* ``dsrna-cb`` (Hosseini, Yang and Xie, CVPR 2021): upper = CE - gamma * mean certified lower
  bound of the margin at ``eps`` (IBP or CROWN-IBP from :mod:`robnas.measures`). *Vague in the
  paper and chosen here*: the bound is averaged over the validation batch; it is taken for the
  supernet itself (mixed operations included), not a derived network; ``eps = 2/255`` and
  ``gamma = 0.01`` (uncertified supernets have very negative bounds, a larger gamma drowns the
  CE term at this scale); the bound enters the upper level only (the weights are trained on CE).
* ``dsrna-jacobian`` (same paper): upper = CE + gamma * mean top-logit Jacobian norm, i.e. the
  Jacobian-norm robustness metric, maximised as its negative. *Chosen*: ``gamma = 0.1``, the
  L2 norm with respect to pixels in [0, 1], averaged over the batch.
* ``e2rnas`` (Yue, Lin, Huang and Zhang, "Effective, efficient and robust neural architecture
  search", 2020): three upper objectives, accuracy (validation CE), robustness (CE on PGD
  examples of the validation batch) and size (expected parameter count against a target),
  combined with MGDA's min-norm weights of their alpha-gradients (Désidéri 2012; Sener and
  Koltun 2018; :mod:`robnas.dnas.mgda`). *Chosen where the paper is vague*: the size term is
  ``((E[params] - T) / (P_max - P_min))^2`` with ``T = P_min + size_target (P_max - P_min)``
  (``size_target = 0.5``), ``E[params]`` summing ``softmax(alpha)``-weighted parameter counts of
  the operations; PGD with ``eps = 8/255``, 3 steps of ``eps/2`` (paper scale: more steps);
  gradients normalised to unit L2 norm before the min-norm problem (``normalise="l2"``, one of
  Sener and Koltun's options): the size term is in other units than the losses, and without
  normalisation its tiny gradient takes nearly all the weight and the step vanishes (seen in
  trial runs); ``normalise="none"`` is plain MGDA;
  the weights are computed on the first-order alpha-gradients, also in second-order runs.
* ``darts-at``: DARTS with PGD adversarial training of the weights (lower level = CE on PGD
  examples, via :class:`robnas.training.PGDAT`), clean validation CE in the upper level.
  *Chosen*: PGD-3, ``eps = 8/255``, step ``eps/2`` at CPU scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.dnas.mgda import min_norm_weights, normalise_gradients
from robnas.dnas.robustness import certified_margin_bound, jacobian_norm
from robnas.errors import ConfigError
from robnas.registry import Registry

METHODS: Registry[type[SearchMethod]] = Registry(
    "search method",
    builtin=dict.fromkeys(
        ("darts", "darts-at", "dsrna-cb", "dsrna-jacobian", "e2rnas"), "robnas.dnas.methods"
    ),
)
"""The dnas method registry (the built-in methods are defined in this module)."""
M = TypeVar("M", bound="type[SearchMethod]")


def register_method(name: str) -> Callable[[M], M]:
    """Class decorator: register a search method under ``name``."""

    def deco(cls: M) -> M:
        cls.name = name
        METHODS.register(name, cls)
        return cls

    return deco


def available_methods() -> list[str]:
    return METHODS.names()


def get_method(name: str, **options: Any) -> SearchMethod:
    """Build the method ``name`` with ``options`` (unknown options are an error)."""
    key = METHODS.canonical(name)
    cls = METHODS.get(key)
    bad = sorted(set(options) - set(cls.defaults))
    if bad:
        raise ConfigError(
            f"{key} has no option {', '.join(bad)}; its options are {', '.join(cls.defaults) or 'none'}"
        )
    return cls(**{**cls.defaults, **options})


class SearchMethod:
    """Base class: CE in both levels (DARTS)."""

    name: ClassVar[str] = "method"
    defaults: ClassVar[dict[str, Any]] = {}
    coefficients: ClassVar[dict[str, float]] = {"ce": 1.0}

    def __init__(self, **options: Any) -> None:
        self.options = dict(options)
        for k, v in options.items():
            setattr(self, k, v)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}

    def lower_loss(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
        return F.cross_entropy(model(x), y)

    def upper_objectives(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        return {"ce": F.cross_entropy(model(x), y)}

    def combine(
        self, objectives: dict[str, Tensor], alphas: list[Tensor]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """``(coefficients, record)``: the weights of the objectives and extra values to log."""
        return dict(self.coefficients), {}


@register_method("darts")
class DARTS(SearchMethod):
    """Liu et al. (2019): cross-entropy in both levels."""


@register_method("dsrna-cb")
class DSRNACertified(SearchMethod):
    """Hosseini et al. (2021): CE minus gamma times the certified lower bound of the margin."""

    defaults: ClassVar[dict[str, Any]] = {"gamma": 0.01, "eps": 2 / 255, "bound": "ibp"}

    def upper_objectives(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        ce = F.cross_entropy(model(x), y)
        bound = certified_margin_bound(model, x, y, self.options["eps"], self.options["bound"]).mean()
        return {"ce": ce, "neg_bound": -bound}

    def combine(self, objectives, alphas):  # type: ignore[no-untyped-def]
        return {"ce": 1.0, "neg_bound": float(self.options["gamma"])}, {}


@register_method("dsrna-jacobian")
class DSRNAJacobian(SearchMethod):
    """Hosseini et al. (2021): CE plus gamma times the top-logit Jacobian norm."""

    defaults: ClassVar[dict[str, Any]] = {"gamma": 0.1}

    def upper_objectives(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        ce = F.cross_entropy(model(x), y)
        return {"ce": ce, "jacobian": jacobian_norm(model, x).mean()}

    def combine(self, objectives, alphas):  # type: ignore[no-untyped-def]
        return {"ce": 1.0, "jacobian": float(self.options["gamma"])}, {}


def _pgd_ce(options: dict[str, Any], model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
    """CE on PGD examples (``options``: eps, steps; step eps/2): training's PGD-AT objective."""
    from robnas.training import PGDAT

    objective = PGDAT(eps=options["eps"], step_size=options["eps"] / 2, steps=options["steps"])
    return objective(model, x, y, seed).loss


@register_method("e2rnas")
class E2RNAS(SearchMethod):
    """Yue et al. (2020): MGDA over accuracy, robustness and size (see the module docstring)."""

    defaults: ClassVar[dict[str, Any]] = {
        "eps": 8 / 255,
        "steps": 3,
        "size_target": 0.5,
        "normalise": "l2",
        "objectives": ("acc", "rob", "size"),
    }

    def upper_objectives(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        chosen = tuple(self.options["objectives"])
        out: dict[str, Tensor] = {}
        if "acc" in chosen:
            out["acc"] = F.cross_entropy(model(x), y)
        if "rob" in chosen:
            out["rob"] = _pgd_ce(self.options, model, x, y, seed)
        if "size" in chosen:
            out["size"] = self.size_loss(model)
        return out

    def size_loss(self, model: nn.Module) -> Tensor:
        lo, hi = self._range(model)
        target = lo + float(self.options["size_target"]) * (hi - lo)
        expected = model.expected_params()  # type: ignore[operator]
        return ((expected - target) / max(hi - lo, 1.0)) ** 2

    def _range(self, model: nn.Module) -> tuple[float, float]:
        cached = getattr(model, "_dnas_param_range", None)
        if cached is None:
            cached = model.param_range()  # type: ignore[operator]
            model._dnas_param_range = cached  # type: ignore[assignment]
        return cached

    def combine(self, objectives, alphas):  # type: ignore[no-untyped-def]
        names = list(objectives)
        grads = []
        for name in names:
            gs = torch.autograd.grad(objectives[name], alphas, retain_graph=True, allow_unused=True)
            grads.append(
                torch.cat(
                    [
                        (g if g is not None else torch.zeros_like(a)).reshape(-1)
                        for g, a in zip(gs, alphas, strict=True)
                    ]
                )
            )
        normed = normalise_gradients(grads, [objectives[n] for n in names], self.options["normalise"])
        w = min_norm_weights(normed) if len(names) > 1 else torch.ones(1, dtype=torch.float64)
        coefs = {}
        for i, name in enumerate(names):
            scale = 1.0
            if normed[i] is not grads[i]:  # the combined direction is sum_i w_i * normalised g_i
                ratio = grads[i].norm()
                scale = float(normed[i].norm() / ratio) if float(ratio) > 0 else 0.0
            coefs[name] = float(w[i]) * scale
        return coefs, {f"w_{n}": float(w[i]) for i, n in enumerate(names)}


@register_method("darts-at")
class DARTSAT(SearchMethod):
    """DARTS whose weights are trained on PGD examples (lower level), clean CE in the upper level."""

    defaults: ClassVar[dict[str, Any]] = {"eps": 8 / 255, "steps": 3}

    def lower_loss(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
        return _pgd_ce(self.options, model, x, y, seed)
