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
* ``dsrna-cb`` (Hosseini, Yang and Xie, CVPR 2021): upper = CE - gamma' * mean log r, with
  ``r`` a certified lower bound of the minimal L-inf distortion (a radius) from linear bounds
  (:func:`robnas.dnas.robustness.linear_bound_radius`: the CROWN / Fast-Lin bound in its linear
  regime, ``margin / ||grad_x margin||_1``), BatchNorm with the CE term's batch statistics.
  *Chosen*: the log of the radius (radii span orders of magnitude across architectures; its
  gradient is scale-free) and an explicit balance: ``gamma' = gamma ||g_CE|| / ||g_rad||`` over
  the alpha-gradients of the two terms, so that ``gamma`` (default 1) is the ratio of their
  alpha-gradient norms (``balance=False``: a fixed coefficient ``gamma``). DSRNA tunes a fixed
  coefficient at its scale; at CPU scale the natural ratio drifts by orders of magnitude during a
  search (recorded as ``gnorm_ce`` / ``gnorm_neg_log_radius``). The bound enters the upper level
  only, as in the paper.
* ``dsrna-jacobian`` (same paper): the Jacobian-norm metric, ``||J(x)||_F^2`` of the logits with
  respect to the input, penalised in *both* levels after a warm-up, as the unofficial
  implementation in leopard-ai/betty (``examples/robust_nas``) does: upper = CE + gamma ||J||^2
  (``gamma = 0.01``), lower = CE + gamma_lower ||J||^2 (``gamma_lower = 1e-4``), plain CE in both
  during the first ``warmup`` fraction of the epochs (0.2: their 10 of 50). ``||J||_F^2`` is
  estimated with ``projections`` random unit projections (Hoffman, Roberts and Yaida 2019, their
  ``JacobiNormReg``), per sample and averaged over the batch. *Chosen*: the fraction rather than
  10 epochs, so short runs keep the same shape.
* ``e2rnas`` (Yue, Lin, Huang and Zhang, "Effective, efficient and robust neural architecture
  search", 2020; the authors' code, yuezhixiong/NAS-Benchmark ``DARTS/architect.py``): upper
  objectives accuracy (validation CE), robustness (CE on adversarial examples of the validation
  batch) and size, combined with MGDA's min-norm weights of their alpha-gradients (Désidéri 2012;
  Sener and Koltun 2018; :mod:`robnas.dnas.mgda`), second order by default (their ``--unrolled``
  runs; :class:`~robnas.dnas.search.SearchConfig` ``order="auto"``), with momentum in the virtual
  step. As their code:

  - *size*: ``|E[params] - T| / T`` (their ``constrain='abs'``), ``E[params]`` summing
    ``softmax(alpha)``-weighted parameter counts of the operations, with an absolute budget ``T``:
    ``size_budget`` millions of parameters, or by default ``size_fraction = 0.7`` of the expected
    size at uniform alpha (their released budget, 4 in their 1e5 units, is 0.68 of their
    uniform-alpha 5.9), so the default *shrinks* the network;
  - *robustness*: FGSM with a uniform random start at ``eps = 2/255`` (their ``--epsilon 2``),
    step ``1.25 eps`` along the sign of the clean loss's input gradient (their architect reuses
    the accuracy loss's gradient), crafted on the network in the mode of the loss (train mode);
    ``attack="pgd"`` runs ``steps`` PGD steps instead;
  - optional objectives of their released configurations: ``"ood"``, ``10 KL(uniform ||
    p(x_ood))`` on uniform-noise images (*chosen*: noise, their configurations read another data
    set), and ``"flops"``, the expected multiply-accumulates of the cells' convolutions relative to
    uniform alpha (measured by hooks at the first forward pass instead of their closed-form table).

  *Where this differs, and why*: gradients are normalised to unit L2 norm before the min-norm
  problem (their ``gnl2``) and the step is ``sum_i w_i g_i / ||g_i||``, the min-norm point of the
  normalised hull, a common descent direction; their code applies the weights to the *raw*
  losses (``sum_i w_i L_i``), so its step is not the point the weights were solved for and its
  size term, in other units, can dominate or vanish. ``normalise="none"`` is plain MGDA. The
  weights are computed on the alpha-gradients at the virtual weights (as theirs).
* ``darts-at``: DARTS with PGD adversarial training of the weights (lower level = CE on PGD
  examples, via :class:`robnas.training.PGDAT`), clean validation CE in the upper level.
  *Chosen*: PGD-3, ``eps = 8/255``, step ``eps/2`` at CPU scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.dnas.mgda import min_norm_weights, normalise_gradients
from robnas.dnas.robustness import forward_with_bn_stats, jacobian_frobenius, linear_bound_radius
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
    preferred_order: ClassVar[str] = "first"
    coefficients: ClassVar[dict[str, float]] = {"ce": 1.0}

    def __init__(self, **options: Any) -> None:
        self.options = dict(options)
        self.epoch, self.epochs = 0, 1
        for k, v in options.items():
            setattr(self, k, v)

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        """Called by the search loop before every epoch (0-based) of ``epochs``."""
        self.epoch, self.epochs = epoch, epochs

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}

    def lower_loss(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
        return F.cross_entropy(model(x), y)

    def upper_objectives(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        return {"ce": F.cross_entropy(model(x), y)}

    def combine(
        self, objectives: dict[str, Tensor], alphas: Sequence[Tensor]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """``(coefficients, record)``: the weights of the objectives and extra values to log."""
        return dict(self.coefficients), {}


@register_method("darts")
class DARTS(SearchMethod):
    """Liu et al. (2019): cross-entropy in both levels."""


@register_method("dsrna-cb")
class DSRNACertified(SearchMethod):
    """Hosseini et al. (2021): CE minus gamma times the log certified radius (balanced, see below)."""

    defaults: ClassVar[dict[str, Any]] = {"gamma": 1.0, "balance": True}

    def upper_objectives(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        logits, stats = forward_with_bn_stats(model, x)
        ce = F.cross_entropy(logits, y)
        radius, _ = linear_bound_radius(model, x, stats)
        return {"ce": ce, "neg_log_radius": -radius.log().mean()}

    def combine(self, objectives, alphas):
        gamma = float(self.options["gamma"])
        if not self.options["balance"]:
            return {"ce": 1.0, "neg_log_radius": gamma}, {}
        norms = {}
        for name in ("ce", "neg_log_radius"):
            gs = torch.autograd.grad(objectives[name], alphas, retain_graph=True, allow_unused=True)
            norms[name] = float(torch.sqrt(sum((g * g).sum() for g in gs if g is not None)))
        ratio = norms["ce"] / norms["neg_log_radius"] if norms["neg_log_radius"] > 0 else 0.0
        record = {"gnorm_ce": norms["ce"], "gnorm_neg_log_radius": norms["neg_log_radius"]}
        return {"ce": 1.0, "neg_log_radius": gamma * ratio}, record


@register_method("dsrna-jacobian")
class DSRNAJacobian(SearchMethod):
    """Hosseini et al. (2021): CE plus gamma ||J||_F^2 of the input Jacobian, both levels, after warm-up."""

    defaults: ClassVar[dict[str, Any]] = {"gamma": 0.01, "gamma_lower": 1e-4, "warmup": 0.2, "projections": 1}

    def _regularised(self) -> bool:
        return self.epoch >= math.floor(float(self.options["warmup"]) * self.epochs)

    def lower_loss(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
        if not self._regularised() or not self.options["gamma_lower"]:
            return F.cross_entropy(model(x), y)
        xr = x.detach().requires_grad_(True)
        logits = model(xr)
        reg = jacobian_frobenius(logits, xr, int(self.options["projections"]), seed)
        return F.cross_entropy(logits, y) + float(self.options["gamma_lower"]) * reg

    def upper_objectives(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        if not self._regularised():
            return {"ce": F.cross_entropy(model(x), y)}
        xr = x.detach().requires_grad_(True)
        logits = model(xr)
        reg = jacobian_frobenius(logits, xr, int(self.options["projections"]), seed)
        return {"ce": F.cross_entropy(logits, y), "jacobian": reg}

    def combine(self, objectives, alphas):
        return {"ce": 1.0, "jacobian": float(self.options["gamma"])}, {}


def _pgd_ce(options: dict[str, Any], model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
    """CE on PGD examples (``options``: eps, steps; step eps/2): training's PGD-AT objective."""
    from robnas.training import PGDAT

    objective = PGDAT(eps=options["eps"], step_size=options["eps"] / 2, steps=options["steps"])
    return objective(model, x, y, seed).loss


E2RNAS_OBJECTIVES = ("acc", "rob", "size", "ood", "flops")


@register_method("e2rnas")
class E2RNAS(SearchMethod):
    """Yue et al. (2020): MGDA over accuracy, robustness and size (see the module docstring)."""

    defaults: ClassVar[dict[str, Any]] = {
        "eps": 2 / 255,
        "attack": "fgsm-rs",
        "steps": 7,
        "size_budget": None,
        "size_fraction": 0.7,
        "normalise": "l2",
        "objectives": ("acc", "rob", "size"),
    }
    preferred_order: ClassVar[str] = "second"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        bad = sorted(set(self.options["objectives"]) - set(E2RNAS_OBJECTIVES))
        if bad or not self.options["objectives"]:
            raise ConfigError(
                f"e2rnas objectives are some of {', '.join(E2RNAS_OBJECTIVES)}; "
                f"got {list(self.options['objectives'])}"
            )
        if self.options["attack"] not in ("fgsm-rs", "pgd"):
            raise ConfigError(f"e2rnas attack is fgsm-rs or pgd, got {self.options['attack']!r}")
        budget, frac = self.options["size_budget"], self.options["size_fraction"]
        if budget is not None and float(budget) <= 0:
            raise ConfigError(f"size_budget is in millions of parameters and must be > 0, got {budget}")
        if not 0 < float(frac):
            raise ConfigError(f"size_fraction must be > 0, got {frac}")

    def upper_objectives(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
        chosen = tuple(self.options["objectives"])
        out: dict[str, Tensor] = {}
        if "acc" in chosen or "rob" in chosen:
            xr = x.detach().requires_grad_("rob" in chosen and self.options["attack"] == "fgsm-rs")
            acc = F.cross_entropy(model(xr), y)
            if "acc" in chosen:
                out["acc"] = acc
            if "rob" in chosen:
                out["rob"] = self.robust_loss(model, xr, y, seed, acc)
        if "size" in chosen:
            out["size"] = self.size_loss(model)
        if "ood" in chosen:
            out["ood"] = ood_loss(model, x, seed)
        if "flops" in chosen:
            if not out:
                model(x)  # operation costs are measured on the first forward pass
            out["flops"] = self.flops_loss(model)
        return out

    def flops_loss(self, model: nn.Module) -> Tensor:
        """Expected multiply-accumulates of the cells relative to uniform alpha (their ``flp``
        objective, minimised without a budget; their units are 1e8 FLOPs)."""
        uniform = [torch.full_like(a, 1.0 / a.shape[-1]) for a in model.arch_parameters()]  # type: ignore[operator]
        with torch.no_grad():
            ref = model.expected_macs(uniform)  # type: ignore[operator]
        return model.expected_macs() / ref.clamp_min(1.0)  # type: ignore[operator]

    def robust_loss(self, model: nn.Module, x: Tensor, y: Tensor, seed: int, clean_loss: Tensor) -> Tensor:
        """CE on adversarial examples crafted on the network *in its current mode* (train mode in
        the search, as the CE terms): FGSM with random start (their code) or PGD."""
        eps = float(self.options["eps"])
        if self.options["attack"] == "fgsm-rs":
            x_adv = fgsm_rs_examples(model, x, y, eps, seed, clean_loss=clean_loss)
        else:
            x_adv = pgd_examples(model, x, y, eps, int(self.options["steps"]), seed)
        return F.cross_entropy(model(x_adv), y)

    def size_target(self, model: nn.Module) -> float:
        """The size budget in parameters: ``size_budget`` millions, else ``size_fraction`` times
        the expected size at uniform alpha."""
        budget = self.options["size_budget"]
        if budget is not None:
            return float(budget) * 1e6
        return float(self.options["size_fraction"]) * float(model.uniform_params())  # type: ignore[operator]

    def size_loss(self, model: nn.Module) -> Tensor:
        """``|E[params] - T| / T`` (their ``constrain='abs'``, relative instead of in 1e5 units)."""
        target = self.size_target(model)
        expected = model.expected_params()  # type: ignore[operator]
        return (expected - target).abs() / target

    def combine(self, objectives, alphas):
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


def fgsm_rs_examples(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, seed: int, *, clean_loss: Tensor | None = None
) -> Tensor:
    """E2RNAS' upper-level adversarial examples: a uniform random start in the eps-ball plus one
    signed step of ``1.25 eps`` along the gradient of the *clean* loss, clipped to the ball and to
    [0, 1]. As in the authors' architect, the gradient is the one of the accuracy loss at the
    clean input (``clean_loss``, built on ``x`` requiring grad, is reused), and the network stays
    in the mode it is in (train mode during the search, like the loss it is compared with)."""
    if clean_loss is None or not x.requires_grad:
        x = x.detach().requires_grad_(True)
        clean_loss = F.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(clean_loss, x, retain_graph=True)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    delta = (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1).to(x.device) * eps
    delta = (delta + 1.25 * eps * g.sign()).clamp(-eps, eps)
    return (x.detach() + delta).clamp(0, 1).detach()


def pgd_examples(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int, seed: int) -> Tensor:
    """PGD with a uniform random start and step ``2.5 eps / steps`` (Madry et al.), on the network in
    its current mode (no switch to eval mode)."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    x0 = x.detach()
    delta = (torch.rand(x0.shape, generator=gen, dtype=x0.dtype) * 2 - 1).to(x0.device) * eps
    step = 2.5 * eps / max(steps, 1)
    for _ in range(steps):
        xa = (x0 + delta).clamp(0, 1).requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y), xa)
        delta = (delta + step * g.sign()).clamp(-eps, eps)
    return (x0 + delta).clamp(0, 1).detach()


def ood_loss(model: nn.Module, x: Tensor, seed: int) -> Tensor:
    """Out-of-distribution objective of the released E2RNAS configurations: ``10 KL(u || p(x_ood))``
    with ``u`` uniform over the classes. *Chosen*: the out-of-distribution batch is uniform noise
    of the validation batch's shape (their configurations read a separate data set)."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed) + 1)
    noise = torch.rand(x.shape, generator=gen, dtype=x.dtype).to(x.device)
    logp = F.log_softmax(model(noise), dim=1)
    k = logp.shape[1]
    return 10 * (-(logp.mean(1)) - math.log(k)).mean()


@register_method("darts-at")
class DARTSAT(SearchMethod):
    """DARTS whose weights are trained on PGD examples (lower level), clean CE in the upper level."""

    defaults: ClassVar[dict[str, Any]] = {"eps": 8 / 255, "steps": 3}

    def lower_loss(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
        return _pgd_ce(self.options, model, x, y, seed)
