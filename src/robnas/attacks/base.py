"""The :class:`Attack` base class and the attack registry.

An attack is called as ``attack(model, x, y) -> x_adv``: ``model`` is any ``nn.Module`` that takes
pixels in [0, 1] (normalisation is the model's first layer), ``x`` a float batch in [0, 1] and
``y`` the integer labels. The base class owns the policy, so each attack only writes
:meth:`Attack._run`:

- inputs are moved to the model's device (or ``device=``), checked to lie in [0, 1];
- the model is put in eval mode and its mode is restored afterwards;
- the parameters' ``requires_grad`` flags are switched off for the duration and restored, and
  gradients are taken with :func:`torch.autograd.grad` with respect to the input only, so the
  parameters' ``.grad`` is never touched;
- every result is clipped to the epsilon ball around ``x`` and to [0, 1];
- randomness comes from a :class:`torch.Generator` seeded with ``seed`` at each call, so a call
  is deterministic for a fixed seed (on CPU; on CUDA up to non-deterministic kernels).

Epsilons are floats in pixel units here (``8 / 255``); the 1/255 units live at the edges (CLI,
metric names such as ``pgd@8``).

Attacks are looked up by name: ``get_attack("pgd", eps=8 / 255, steps=10)``. Adding an attack is
one new module that decorates its class with :func:`register_attack`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.errors import ConfigError
from robnas.registry import Registry, check_options

NORMS = ("Linf", "L2")

ATTACKS: Registry[type[Attack]] = Registry(
    "attack",
    builtin={
        "apgd-ce": "robnas.attacks.apgd",
        "ensemble": "robnas.attacks.ensemble",
        "fgsm": "robnas.attacks.fgsm",
        "pgd": "robnas.attacks.pgd",
        "square": "robnas.attacks.square",
    },
    aliases={"apgd": "apgd-ce", "aa_apgd-ce": "apgd-ce", "apgd+square": "ensemble", "aa_square": "square"},
)
"""The attack registry (built-ins imported on first use)."""

A = TypeVar("A", bound="type[Attack]")


def register_attack(name: str, *aliases: str) -> Callable[[A], A]:
    """Class decorator: register an :class:`Attack` subclass under ``name`` (and aliases)."""

    def deco(cls: A) -> A:
        cls.name = name
        ATTACKS.register(name, cls, aliases=aliases)
        return cls

    return deco


def available_attacks() -> list[str]:
    """Names of the registered attacks (imports none of them)."""
    return ATTACKS.names()


def canonical_attack_name(name: str) -> str:
    """The registered name of ``name`` (case and aliases resolved); :class:`ConfigError` if unknown."""
    return ATTACKS.canonical(name)


def get_attack(name: str, eps: float, **kwargs: Any) -> Attack:
    """Build the attack registered as ``name`` with radius ``eps`` (a float, e.g. ``8 / 255``)."""
    cls = ATTACKS.get(name)
    check_options(f"the {cls.name} attack", cls, kwargs)
    return cls(eps=eps, **kwargs)


def check_eps(eps: float, norm: str = "Linf") -> float:
    """Validate a radius given as a float in pixel units."""
    if not isinstance(eps, int | float) or math.isnan(eps) or eps < 0:
        raise ConfigError(f"epsilon must be a non-negative number, got {eps!r}")
    if norm == "Linf" and eps > 1.0:
        raise ConfigError(
            f"an L-inf epsilon of {eps:g} exceeds the pixel range [0, 1]; epsilons are floats in "
            "pixel units inside robnas (8/255 = 0.0314), write 1/255 units only on the command line"
        )
    return float(eps)


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ConfigError(f"unknown norm {norm!r}; choose from {', '.join(NORMS)}")
    return norm


def _flat_norm(t: Tensor) -> Tensor:
    """Per-sample L2 norm, shaped to broadcast against ``t``."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def project(x_adv: Tensor, x: Tensor, eps: float, norm: str = "Linf") -> Tensor:
    """Project ``x_adv`` onto the ``norm`` ball of radius ``eps`` around ``x`` and onto [0, 1]."""
    delta = x_adv - x
    if norm == "Linf":
        delta = delta.clamp(-eps, eps)
    else:
        n = _flat_norm(delta)
        delta = delta * torch.clamp(eps / (n + 1e-12), max=1.0)
    return (x + delta).clamp(0.0, 1.0)


def normalize_grad(g: Tensor, norm: str) -> Tensor:
    """The steepest-ascent direction of unit ``norm``: ``sign(g)`` for L-inf, ``g / ||g||_2`` for L2."""
    if norm == "Linf":
        return g.sign()
    return g / (_flat_norm(g) + 1e-12)


def random_in_ball(x: Tensor, eps: float, norm: str, gen: torch.Generator) -> Tensor:
    """A uniformly random point of the ``norm`` ball around ``x`` (clipped to [0, 1])."""
    if norm == "Linf":
        u = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        delta = (2 * u - 1) * eps
    else:
        d = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        d = d / (_flat_norm(d) + 1e-12)
        r = torch.rand((x.shape[0],), generator=gen, device=x.device, dtype=x.dtype)
        r = r ** (1.0 / x[0].numel())
        delta = d * (eps * r).view(-1, *([1] * (x.dim() - 1)))
    return (x + delta).clamp(0.0, 1.0)


def margin(logits: Tensor, y: Tensor) -> Tensor:
    """Per-sample margin ``z_y - max_{j != y} z_j`` (negative means misclassified)."""
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.clone()
    other.scatter_(1, y[:, None], float("-inf"))
    return z_y - other.max(dim=1).values


def input_grad(model: nn.Module, x: Tensor, y: Tensor, loss: str = "ce") -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample loss, logits and the gradient of the summed loss with respect to ``x`` only.

    A network whose output does not depend on its input (e.g. a NAS-Bench-201 cell made only of
    ``none`` edges) has a zero input gradient; it is returned as zeros, so every attack leaves
    such inputs where its step rule puts them for a zero gradient instead of failing.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        if loss == "ce":
            per = F.cross_entropy(logits, y, reduction="none")
        elif loss == "margin":
            per = -margin(logits, y)
        else:  # pragma: no cover - guarded by the callers
            raise ConfigError(f"unknown attack loss {loss!r}")
        g = None
        if per.requires_grad:  # False when the output is constant in x and the parameters are frozen
            (g,) = torch.autograd.grad(per.sum(), x, allow_unused=True)
    if g is None:  # x is not in the graph: the gradient is exactly zero
        g = torch.zeros_like(x)
    return per.detach(), logits.detach(), g.detach()


def model_device(model: nn.Module) -> torch.device | None:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return None


@contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters for the duration; both restored afterwards."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


class Attack:
    """Base class: policy (device, eval mode, no gradient leakage, clipping, seeding) lives here.

    Subclasses implement :meth:`_run` on tensors already on the right device, with the model in
    eval mode, and return adversarial examples; the base class projects the result onto the
    epsilon ball and [0, 1] once more, so an attack can never return an invalid point.
    """

    name: ClassVar[str] = "attack"

    def __init__(
        self,
        eps: float,
        *,
        norm: str = "Linf",
        seed: int | None = 0,
        device: str | torch.device | None = None,
    ) -> None:
        self.norm = check_norm(norm)
        self.eps = check_eps(eps, self.norm)
        self.seed = seed
        self.device = torch.device(device) if device is not None else None

    def __repr__(self) -> str:
        from robnas.units import format_epsilon

        eps = format_epsilon(self.eps, pixels=True, unit=True) if self.norm == "Linf" else f"{self.eps:.5g}"
        return f"{type(self).__name__}(eps={eps}, norm={self.norm})"

    def config(self) -> dict[str, Any]:
        """The attack's settings, for provenance."""
        out: dict[str, Any] = {"name": self.name}
        for k, v in vars(self).items():
            if k == "device":
                continue
            out[k] = v if isinstance(v, int | float | str | bool | type(None)) else repr(v)
        return out

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return self.perturb(model, x, y)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """Adversarial examples for ``(x, y)`` against ``model``, on the model's device."""
        device = self.device or model_device(model) or x.device
        x = x.detach().to(device=device, dtype=torch.float32)
        y = y.detach().to(device=device, dtype=torch.long)
        if x.dim() < 2 or x.shape[0] != y.shape[0]:
            raise ConfigError(
                f"x and y must be batches of the same length, got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ConfigError(
                "attack inputs must be pixels in [0, 1] (normalisation is the model's first layer); "
                f"got values in [{x.min().item():.3g}, {x.max().item():.3g}]"
            )
        if self.eps == 0 or x.shape[0] == 0:
            return x.clone()
        gen = torch.Generator(device=device)
        gen.manual_seed(0 if self.seed is None else int(self.seed))
        with attack_mode(model):
            x_adv = self._run(model, x, y, gen)
        return project(x_adv.detach(), x, self.eps, self.norm)

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        raise NotImplementedError


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Predicted labels of ``x`` (no gradients)."""
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])
