"""Training objectives: standard cross-entropy, PGD-AT, FGSM-RS, TRADES and the beta-mixed loss.

Every objective is called as ``objective(model, x, y, seed) -> ObjectiveOutput`` with the model
in train mode and pixels in [0, 1]; ``seed`` seeds the random start of the inner attack, so a
training run is reproducible (the train loop derives it from the run seed and the step).

- ``standard``: ``CE(f(x), y)``.
- ``pgd-at`` (Madry et al., "Towards deep learning models resistant to adversarial attacks",
  ICLR 2018): ``CE(f(x_adv), y)`` with ``x_adv`` from L-inf PGD with random start, ``steps``
  steps of ``step_size``, all steps on every point, last iterate.
- ``fgsm-rs`` (Wong, Rice and Kolter, "Fast is better than free", ICLR 2020): ``CE(f(x_adv), y)``
  with one FGSM step of ``step_size`` (their 1.25 eps) from a uniform random start.
- ``trades`` (Zhang et al., "Theoretically principled trade-off between robustness and
  accuracy", ICML 2019): ``CE(f(x), y) + beta * KL(p(x) || p(x_adv))`` (KL summed over classes,
  averaged over the batch, as their code), ``x_adv`` maximising that KL by PGD from
  ``x + 0.001 N(0, I)``; ``beta = 6`` is their CIFAR-10 setting.
- ``mixed`` (Wu et al., "Robust NAS under adversarial training: benchmark, theory, and
  beyond", ICLR 2024): ``(1 - beta) CE(f(x), y) + beta CE(f(x_adv), y)`` with ``x_adv`` from PGD
  as in ``pgd-at``; ``beta = 0`` is ``standard`` and ``beta = 1`` is ``pgd-at`` exactly (a term
  with weight 0 is not computed, so batch-norm statistics match too).

Auxiliary heads (DARTS' ``--auxiliary``, :class:`~robnas.models.darts.DARTSNetwork` with
``auxiliary=True``): a model may expose ``auxiliary_logits()``, the auxiliary logits of its last
forward pass (``None`` when there are none, e.g. in eval mode). Every cross-entropy term
``CE(f(z), y)`` of an objective then becomes ``CE(f(z), y) + auxiliary_weight * CE(aux(z), y)``
with the same coefficient (DARTS: 0.4): for ``standard`` on clean inputs, for ``pgd-at`` and
``fgsm-rs`` on the adversarial batch, for ``mixed`` on both terms, for ``trades`` on its clean
cross-entropy term (not in the KL term). The auxiliary logits are read right after the forward
pass of their term, so those of the attack's forward passes (made in eval mode, hence ``None``)
or of another term are never used. Models without ``auxiliary_logits`` are unaffected.

Choice: adversarial examples are generated with the model in eval mode (batch-norm running
statistics, no statistics updates), through the :class:`~robnas.attacks.Attack` policy, as the
TRADES reference code does; the loss is then computed in train mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.attacks.base import attack_mode, check_eps, project
from robnas.attacks.fgsm import FGSM
from robnas.attacks.pgd import PGD
from robnas.errors import ConfigError
from robnas.registry import Registry

OBJECTIVES: Registry[type[Objective]] = Registry(
    "training objective",
    builtin=dict.fromkeys(("fgsm-rs", "mixed", "pgd-at", "standard", "trades"), "robnas.training.objectives"),
)
"""The training-objective registry (the built-ins are defined in this module)."""
ObjT = TypeVar("ObjT", bound="type[Objective]")


def register_objective(name: str) -> Callable[[ObjT], ObjT]:
    """Class decorator: register an objective under ``name``."""

    def deco(cls: ObjT) -> ObjT:
        cls.name = name
        OBJECTIVES.register(name, cls)
        return cls

    return deco


def available_objectives() -> list[str]:
    return OBJECTIVES.names()


def get_objective(name: str, *, auxiliary_weight: float = 0.4, **params: Any) -> Objective:
    """Build the objective ``name`` with ``params``; an option it does not take is a :class:`ConfigError`.

    (A preset carries every field; :meth:`~robnas.training.TrainPreset.objective_params` picks
    the ones its objective reads.) ``auxiliary_weight`` (every objective takes it) weighs the
    cross-entropy of a model's auxiliary logits, if it has any (see the module documentation).
    """
    cls = OBJECTIVES.get(name)
    bad = sorted(set(params) - set(cls.params))
    if bad:
        raise ConfigError(
            f"the {cls.name} objective has no option {', '.join(bad)}; "
            f"its options are {', '.join(cls.params) or 'none'}"
        )
    obj = cls(**params)
    obj.auxiliary_weight = check_auxiliary_weight(auxiliary_weight)
    return obj


def check_auxiliary_weight(weight: float) -> float:
    """``weight`` as a float, or a :class:`ConfigError` if it is negative or not finite."""
    try:
        w = float(weight)
    except (TypeError, ValueError):
        w = math.nan
    if not math.isfinite(w) or w < 0:
        raise ConfigError(f"auxiliary_weight must be a finite number >= 0, got {weight!r}")
    return w


def auxiliary_logits(model: nn.Module) -> Tensor | None:
    """``model.auxiliary_logits()`` if the model has that method (auxiliary heads), else ``None``."""
    get = getattr(model, "auxiliary_logits", None)
    return get() if callable(get) else None


@dataclass
class ObjectiveOutput:
    """The loss to minimise and the logits of the inputs it was computed on (for accuracy)."""

    loss: Tensor
    logits: Tensor


class Objective:
    """Base class of training objectives."""

    name: ClassVar[str] = "objective"
    params: ClassVar[tuple[str, ...]] = ()
    adversarial: ClassVar[bool] = False
    auxiliary_weight: float = 0.4
    """Weight of the auxiliary cross-entropy (set by :func:`get_objective`; DARTS: 0.4)."""

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, seed: int = 0) -> ObjectiveOutput:
        raise NotImplementedError

    def cross_entropy(self, model: nn.Module, z: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(CE(f(z), y) + auxiliary_weight * CE(aux(z), y), f(z))``: one forward pass of ``model``
        on ``z``; the auxiliary term only if that very pass left auxiliary logits."""
        logits = model(z)
        loss = F.cross_entropy(logits, y)
        aux = auxiliary_logits(model)
        if aux is not None and self.auxiliary_weight > 0:
            loss = loss + self.auxiliary_weight * F.cross_entropy(aux, y)
        return loss, logits


@register_objective("standard")
class Standard(Objective):
    """Cross-entropy on clean inputs."""

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, seed: int = 0) -> ObjectiveOutput:
        loss, logits = self.cross_entropy(model, x, y)
        return ObjectiveOutput(loss, logits)


@register_objective("mixed")
class Mixed(Objective):
    """Wu et al. (2024): ``(1 - beta) CE(f(x), y) + beta CE(f(x_pgd), y)``."""

    params: ClassVar[tuple[str, ...]] = ("eps", "step_size", "steps", "beta")
    adversarial = True

    def __init__(self, eps: float = 8 / 255, step_size: float = 2 / 255, steps: int = 7, beta: float = 0.5):
        self.eps = check_eps(eps)
        if not 0.0 <= beta <= 1.0:
            raise ConfigError(f"beta must be in [0, 1], got {beta}")
        self.beta, self.step_size, self.steps = float(beta), float(step_size), int(steps)

    def adversarial_examples(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
        attack = PGD(self.eps, steps=self.steps, step_size=self.step_size, early_stop=False, seed=seed)
        return attack(model, x, y)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, seed: int = 0) -> ObjectiveOutput:
        loss = x.new_zeros(())
        logits = None
        if self.beta < 1.0:
            ce, logits = self.cross_entropy(model, x, y)
            loss = loss + (1.0 - self.beta) * ce
        if self.beta > 0.0:
            ce, logits = self.cross_entropy(model, self.adversarial_examples(model, x, y, seed), y)
            loss = loss + self.beta * ce
        assert logits is not None
        return ObjectiveOutput(loss, logits)


@register_objective("pgd-at")
class PGDAT(Mixed):
    """Madry et al. (2018): cross-entropy on PGD adversarial examples (``mixed`` with beta = 1)."""

    params: ClassVar[tuple[str, ...]] = ("eps", "step_size", "steps")

    def __init__(self, eps: float = 8 / 255, step_size: float = 2 / 255, steps: int = 7):
        super().__init__(eps=eps, step_size=step_size, steps=steps, beta=1.0)


@register_objective("fgsm-rs")
class FGSMRS(Mixed):
    """Wong et al. (2020): cross-entropy on FGSM examples from a random start."""

    params: ClassVar[tuple[str, ...]] = ("eps", "step_size")

    def __init__(self, eps: float = 8 / 255, step_size: float | None = None):
        super().__init__(eps=eps, step_size=1.25 * eps if step_size is None else step_size, steps=1, beta=1.0)

    def adversarial_examples(self, model: nn.Module, x: Tensor, y: Tensor, seed: int) -> Tensor:
        return FGSM(self.eps, random_start=True, step_size=self.step_size, seed=seed)(model, x, y)


@register_objective("trades")
class TRADES(Objective):
    """Zhang et al. (2019): ``CE(f(x), y) + beta KL(p(x) || p(x_adv))``."""

    params = ("eps", "step_size", "steps", "beta")
    adversarial = True

    def __init__(self, eps: float = 8 / 255, step_size: float = 2 / 255, steps: int = 10, beta: float = 6.0):
        self.eps, self.step_size, self.steps, self.beta = (
            check_eps(eps),
            float(step_size),
            int(steps),
            float(beta),
        )

    def adversarial_examples(self, model: nn.Module, x: Tensor, seed: int) -> Tensor:
        gen = torch.Generator(device=x.device).manual_seed(seed)
        with attack_mode(model):
            with torch.no_grad():
                p_clean = F.softmax(model(x), dim=1)
            noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
            xa = (x + 0.001 * noise).detach()
            for _ in range(self.steps):
                xa.requires_grad_(True)
                with torch.enable_grad():
                    kl = F.kl_div(F.log_softmax(model(xa), dim=1), p_clean, reduction="sum")
                    (g,) = torch.autograd.grad(kl, xa)
                xa = project(xa.detach() + self.step_size * g.sign(), x, self.eps)
        return xa.detach()

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, seed: int = 0) -> ObjectiveOutput:
        x_adv = self.adversarial_examples(model, x, seed)
        ce, logits = self.cross_entropy(model, x, y)
        logits_adv = model(x_adv)
        kl = F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits, dim=1), reduction="batchmean")
        return ObjectiveOutput(ce + self.beta * kl, logits_adv)
