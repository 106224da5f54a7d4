"""APGD: Auto-PGD (Croce and Hein, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", ICML 2020, Alg. 1) with the cross-entropy loss
(``apgd-ce``), the DLR loss (``apgd-dlr``) or the targeted DLR loss (``apgd-t``).

With a budget of ``N = steps`` iterations:

- start ``x^(0)`` at a random point of the eps-ball (as the authors' code: uniform noise rescaled
  so that its L-inf norm is exactly eps; a random direction of L2 norm eps for L2), step size
  ``eta^(0) = 2 eps``;
- ``z = P(x^(k) + eta sign(grad))``, then with momentum ``alpha = 0.75`` (``alpha = 1`` at k = 0)
  ``x^(k+1) = P(x^(k) + alpha (z - x^(k)) + (1 - alpha)(x^(k) - x^(k-1)))``;
- checkpoints ``w_j = ceil(p_j N)`` with ``p_0 = 0``, ``p_1 = 0.22`` and
  ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``. At each checkpoint the step size of a
  point is halved, and its iterate reset to the best point so far ``x_max`` (with the gradient
  there), if (1) the loss increased in fewer than ``rho (w_j - w_{j-1})`` of the steps since the
  last checkpoint (``rho = 0.75``), or (2) its step size was not reduced at the last checkpoint and
  its best loss did not improve since then (also at the first checkpoint, as the paper states;
  the authors' code skips condition 2 there);
- restarts (``restarts``, default 1 as in AutoAttack's standard APGD-CE) attack only the points
  that survived the previous runs, each from a new random start.

APGD-T (:class:`APGDT`) runs one such attack per target class: for the k-th target
(k = 1..``n_target_classes``, 9 in standard AutoAttack) the target of each point still robust is
the class of its (k+1)-th largest clean logit, and the loss is the targeted DLR loss
``-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)`` (:func:`robnas.attacks.base.dlr_targeted_loss`),
which ignores the scale of the logits. ``eot_iter > 1`` averages the gradient over that many
forward passes (expectation over transformation, AutoAttack's ``rand`` version for randomised
models).

Per-sample step sizes, as in the authors' code. A point leaves the computation as soon as an
iterate misclassifies it (that iterate is returned); points that survive return ``x_max``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from robnas.attacks.base import (
    Attack,
    _flat_norm,
    input_grad,
    normalize_grad,
    predict,
    project,
    register_attack,
)
from robnas.errors import ConfigError


def apgd_checkpoints(n_iter: int) -> list[int]:
    """The iterations ``w_j = ceil(p_j N)`` (j >= 1) at which APGD checks its step size."""
    p = [0.0, 0.22]
    while True:
        nxt = p[-1] + max(p[-1] - p[-2] - 0.03, 0.06)
        if nxt > 1:
            break
        p.append(nxt)
    out = sorted({math.ceil(q * n_iter - 1e-9) for q in p[1:]})
    return [w for w in out if 0 < w <= n_iter]


@register_attack("apgd-ce", "apgd", "aa_apgd-ce")
class APGD(Attack):
    """APGD, untargeted, with the cross-entropy (default) or DLR loss; see the module docstring."""

    default_loss = "ce"

    def __init__(
        self,
        eps: float,
        *,
        steps: int = 100,
        restarts: int = 1,
        rho: float = 0.75,
        momentum: float = 0.75,
        eot_iter: int = 1,
        norm: str = "Linf",
        seed: int | None = 0,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(eps, norm=norm, seed=seed, device=device)
        if steps < 1 or restarts < 1 or eot_iter < 1:
            raise ConfigError(
                f"APGD needs steps, restarts and eot_iter >= 1, got {steps}, {restarts} and {eot_iter}"
            )
        self.steps = int(steps)
        self.restarts = int(restarts)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.loss = self.default_loss  # fixed by the attack's name, so metric names stay truthful
        self.eot_iter = int(eot_iter)

    def _grad(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Loss, logits and input gradient; averaged over ``eot_iter`` forward passes."""
        if self.eot_iter == 1:
            return input_grad(model, x, y, self.loss, target)
        g_sum = torch.zeros_like(x)
        for _ in range(self.eot_iter):
            loss, logits, g = input_grad(model, x, y, self.loss, target)
            g_sum += g
        return loss, logits, g_sum / self.eot_iter

    def _start(self, x: Tensor, gen: torch.Generator) -> Tensor:
        if self.norm == "Linf":
            t = 2 * torch.rand(x.shape, generator=gen, device=x.device) - 1
            t = t / (t.flatten(1).abs().max(1).values.view(-1, *([1] * (x.dim() - 1))) + 1e-12)
        else:
            t = torch.randn(x.shape, generator=gen, device=x.device)
            t = t / (_flat_norm(t) + 1e-12)
        return (x + self.eps * t).clamp(0.0, 1.0)

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        out = x.clone()
        with torch.no_grad():
            logits = model(x)
        if self.loss == "dlr" and logits.shape[1] < 3:
            raise ConfigError(f"the DLR loss needs at least 3 classes, the model has {logits.shape[1]}")
        fooled = logits.argmax(1) != y  # already adversarial: nothing to do
        best = torch.full((x.shape[0],), float("-inf"), device=x.device)
        for _ in range(self.restarts):
            idx = (~fooled).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            x_run, fooled_run, loss_run = self._single_run(model, x[idx], y[idx], gen, None)
            take = fooled_run | (loss_run > best[idx])
            out[idx[take]] = x_run[take]
            best[idx[take]] = loss_run[take]
            fooled[idx[fooled_run]] = True
        return out

    def _single_run(
        self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator, target: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        n = x.shape[0]
        shape1 = (n, *([1] * (x.dim() - 1)))
        ckpts = apgd_checkpoints(self.steps)
        x_adv = self._start(x, gen)
        loss, logits, g = self._grad(model, x_adv, y, target)
        fooled = logits.argmax(1) != y
        x_out = x_adv.clone()  # misclassified iterate if any, else x_max at the end
        f_max, x_max, g_max = loss.clone(), x_adv.clone(), g.clone()
        prev_loss = loss.clone()
        x_prev = x_adv.clone()
        eta = torch.full(shape1, 2.0 * self.eps, device=x.device)
        n_incr = torch.zeros(n, device=x.device)
        f_max_ckpt = f_max.clone()
        reduced_ckpt = torch.zeros(n, dtype=torch.bool, device=x.device)
        last_w = 0
        alive = (~fooled).nonzero().squeeze(1)
        for k in range(self.steps):
            if alive.numel() == 0:
                break
            a = alive
            xa, xs = x_adv[a], x[a]
            z = project(xa + eta[a] * normalize_grad(g[a], self.norm), xs, self.eps, self.norm)
            alpha = 1.0 if k == 0 else self.momentum
            x_new = project(xa + alpha * (z - xa) + (1 - alpha) * (xa - x_prev[a]), xs, self.eps, self.norm)
            x_prev[a] = xa
            x_adv[a] = x_new
            loss_a, logits_a, g_a = self._grad(model, x_new, y[a], None if target is None else target[a])
            g[a] = g_a
            wrong = logits_a.argmax(1) != y[a]
            x_out[a[wrong]] = x_new[wrong]
            fooled[a[wrong]] = True
            n_incr[a] += (loss_a > prev_loss[a]).float()
            prev_loss[a] = loss_a
            up = loss_a > f_max[a]
            f_max[a[up]] = loss_a[up]
            x_max[a[up]] = x_new[up]
            g_max[a[up]] = g_a[up]
            if k + 1 in ckpts:
                h = (k + 1) - last_w
                cond1 = n_incr < self.rho * h
                cond2 = (~reduced_ckpt) & (f_max <= f_max_ckpt)
                red = cond1 | cond2
                eta[red] /= 2.0
                x_adv[red] = x_max[red]
                g[red] = g_max[red]
                reduced_ckpt = red
                f_max_ckpt = f_max.clone()
                n_incr.zero_()
                last_w = k + 1
            alive = (~fooled).nonzero().squeeze(1)
        keep = ~fooled
        x_out[keep] = x_max[keep]
        return x_out, fooled, f_max


@register_attack("apgd-dlr")
class APGDDLR(APGD):
    """APGD with the untargeted DLR loss (AutoAttack's ``plus`` and ``rand`` versions)."""

    default_loss = "dlr"


@register_attack("apgd-t", "apgd-targeted")
class APGDT(APGD):
    """APGD-T: APGD with the targeted DLR loss, one run per target class; see the module docstring.

    AutoAttack's standard version: ``steps=100``, ``restarts=1``, ``n_target_classes=9``. A point
    leaves as soon as one target fools the model; later targets attack only the survivors.
    """

    default_loss = "dlr-targeted"

    def __init__(
        self,
        eps: float,
        *,
        n_target_classes: int = 9,
        steps: int = 100,
        restarts: int = 1,
        rho: float = 0.75,
        momentum: float = 0.75,
        eot_iter: int = 1,
        norm: str = "Linf",
        seed: int | None = 0,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(
            eps, steps=steps, restarts=restarts, rho=rho, momentum=momentum, eot_iter=eot_iter,
            norm=norm, seed=seed, device=device,
        )  # fmt: skip
        if n_target_classes < 1:
            raise ConfigError(f"APGD-T needs n_target_classes >= 1, got {n_target_classes}")
        self.n_target_classes = int(n_target_classes)

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        out = x.clone()
        with torch.no_grad():
            clean_logits = model(x)
        n_cls = clean_logits.shape[1]
        if n_cls < 4:
            raise ConfigError(f"APGD-T's targeted DLR loss needs at least 4 classes, the model has {n_cls}")
        fooled = predict(model, x) != y
        ranked = clean_logits.argsort(dim=1, descending=True)
        # a point whose top class is not y is already fooled and never attacked
        for k in range(1, min(self.n_target_classes, n_cls - 1) + 1):
            for _ in range(self.restarts):
                idx = (~fooled).nonzero().squeeze(1)
                if idx.numel() == 0:
                    return out
                target = ranked[idx, k]
                x_run, fooled_run, _ = self._single_run(model, x[idx], y[idx], gen, target)
                out[idx[fooled_run]] = x_run[fooled_run]
                fooled[idx[fooled_run]] = True
        return out
