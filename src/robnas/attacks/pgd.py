"""Projected gradient descent (Madry et al., "Towards deep learning models resistant to
adversarial attacks", ICLR 2018), L-inf and L2.

Each of ``restarts`` runs starts at a uniformly random point of the eps-ball (``random_start``,
as Madry et al.; otherwise at ``x``) and takes ``steps`` steps
``x <- Proj(x + step_size * dir(grad_x CE))`` with ``dir = sign`` (L-inf) or the L2-normalised
gradient (L2). The default step size, ``2.5 * eps / steps``, is Madry et al.'s heuristic (every
point of the ball is reachable from the start).

Choices where the paper is silent (with ``early_stop=True``, the default for evaluation; with
``early_stop=False``, as used for adversarial training, every point takes all steps and the last
iterate is returned), all in the attacker's favour and all valid points of the
ball: a point is reported as soon as one iterate misclassifies it (it then leaves the batch,
which saves time; in eval mode samples do not interact), later restarts only attack points that
survived, and for surviving points the iterate of highest loss over all steps and restarts is
returned.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robnas.attacks.base import Attack, input_grad, normalize_grad, project, random_in_ball, register_attack
from robnas.errors import ConfigError


@register_attack("pgd")
class PGD(Attack):
    """Projected gradient descent with random start and restarts; see the module docstring."""

    def __init__(
        self,
        eps: float,
        *,
        steps: int = 10,
        step_size: float | None = None,
        restarts: int = 1,
        random_start: bool = True,
        early_stop: bool = True,
        norm: str = "Linf",
        seed: int | None = 0,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(eps, norm=norm, seed=seed, device=device)
        if steps < 1 or restarts < 1:
            raise ConfigError(f"PGD needs steps >= 1 and restarts >= 1, got {steps} and {restarts}")
        self.steps = int(steps)
        self.restarts = int(restarts)
        self.step_size = float(step_size) if step_size is not None else 2.5 * self.eps / self.steps
        self.random_start = random_start
        self.early_stop = early_stop

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        if not self.early_stop:
            return self._run_plain(model, x, y, gen)
        n = x.shape[0]
        out = x.clone()
        fooled = torch.zeros(n, dtype=torch.bool, device=x.device)
        best_loss = torch.full((n,), float("-inf"), device=x.device)
        for _ in range(self.restarts):
            idx = (~fooled).nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            xs, ys = x[idx], y[idx]
            xa = random_in_ball(xs, self.eps, self.norm, gen) if self.random_start else xs.clone()
            alive = torch.arange(idx.numel(), device=x.device)  # positions in xs still correct
            for step in range(self.steps + 1):
                if alive.numel() == 0:
                    break
                if step < self.steps:
                    loss, logits, g = input_grad(model, xa[alive], ys[alive])
                else:  # the final iterate: check it, no gradient needed
                    with torch.no_grad():
                        logits = model(xa[alive])
                    loss = torch.nn.functional.cross_entropy(logits, ys[alive], reduction="none")
                glob = idx[alive]
                better = loss > best_loss[glob]
                out[glob[better]] = xa[alive[better]]
                best_loss[glob[better]] = loss[better]
                wrong = logits.argmax(1) != ys[alive]
                if wrong.any():
                    out[glob[wrong]] = xa[alive[wrong]]
                    fooled[glob[wrong]] = True
                    best_loss[glob[wrong]] = float("inf")
                if step == self.steps:
                    break
                keep = ~wrong
                alive, g = alive[keep], g[keep]
                xa[alive] = project(
                    xa[alive] + self.step_size * normalize_grad(g, self.norm), xs[alive], self.eps, self.norm
                )
        return out

    def _run_plain(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        """Madry et al.'s PGD as used for training: all steps on all points, the last iterate
        (of the restart with the highest final loss)."""
        out, best = x.clone(), torch.full((x.shape[0],), float("-inf"), device=x.device)
        for _ in range(self.restarts):
            xa = random_in_ball(x, self.eps, self.norm, gen) if self.random_start else x.clone()
            for _ in range(self.steps):
                _, _, g = input_grad(model, xa, y)
                xa = project(xa + self.step_size * normalize_grad(g, self.norm), x, self.eps, self.norm)
            if self.restarts == 1:
                return xa
            with torch.no_grad():
                loss = torch.nn.functional.cross_entropy(model(xa), y, reduction="none")
            take = loss > best
            out[take], best[take] = xa[take], loss[take]
        return out
