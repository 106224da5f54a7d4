"""APGD-CE: Auto-PGD with the cross-entropy loss (Croce and Hein, "Reliable evaluation of
adversarial robustness with an ensemble of diverse parameter-free attacks", ICML 2020, Alg. 1).

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

Per-sample step sizes, as in the authors' code. A point leaves the computation as soon as an
iterate misclassifies it (that iterate is returned); points that survive return ``x_max``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from robnas.attacks.base import Attack, _flat_norm, input_grad, normalize_grad, project, register_attack
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
    """APGD-CE (untargeted, cross-entropy); see the module docstring."""

    def __init__(
        self,
        eps: float,
        *,
        steps: int = 100,
        restarts: int = 1,
        rho: float = 0.75,
        momentum: float = 0.75,
        norm: str = "Linf",
        seed: int | None = 0,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(eps, norm=norm, seed=seed, device=device)
        if steps < 1 or restarts < 1:
            raise ConfigError(f"APGD needs steps >= 1 and restarts >= 1, got {steps} and {restarts}")
        self.steps = int(steps)
        self.restarts = int(restarts)
        self.rho = float(rho)
        self.momentum = float(momentum)

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
            fooled = model(x).argmax(1) != y  # already adversarial: nothing to do
        best = torch.full((x.shape[0],), float("-inf"), device=x.device)
        for _ in range(self.restarts):
            idx = (~fooled).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            x_run, fooled_run, loss_run = self._single_run(model, x[idx], y[idx], gen)
            take = fooled_run | (loss_run > best[idx])
            out[idx[take]] = x_run[take]
            best[idx[take]] = loss_run[take]
            fooled[idx[fooled_run]] = True
        return out

    def _single_run(
        self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor]:
        n = x.shape[0]
        shape1 = (n, *([1] * (x.dim() - 1)))
        ckpts = apgd_checkpoints(self.steps)
        x_adv = self._start(x, gen)
        loss, logits, g = input_grad(model, x_adv, y)
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
            loss_a, logits_a, g_a = input_grad(model, x_new, y[a])
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
