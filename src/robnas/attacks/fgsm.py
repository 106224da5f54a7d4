"""FGSM (Goodfellow et al., ICLR 2015) with the optional random start of Wong et al. (ICLR 2020).

``x_adv = clip(x0 + alpha * sign(grad_x CE(f(x0), y)))`` with ``x0 = x`` and ``alpha = eps``
(the classical attack), or ``x0`` uniform in the eps-ball and ``alpha = 1.25 eps`` when
``random_start`` (Wong, Rice and Kolter, "Fast is better than free", the step they recommend);
the result is projected back onto the eps-ball and [0, 1]. For ``norm="L2"`` the step follows
the L2-normalised gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robnas.attacks.base import Attack, input_grad, normalize_grad, project, random_in_ball, register_attack


@register_attack("fgsm")
class FGSM(Attack):
    """Fast gradient sign method (one step); see the module docstring."""

    def __init__(
        self,
        eps: float,
        *,
        random_start: bool = False,
        step_size: float | None = None,
        norm: str = "Linf",
        seed: int | None = 0,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(eps, norm=norm, seed=seed, device=device)
        self.random_start = random_start
        self.step_size = step_size

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        alpha = self.step_size
        if alpha is None:
            alpha = 1.25 * self.eps if self.random_start else self.eps
        x0 = random_in_ball(x, self.eps, self.norm, gen) if self.random_start else x
        _, _, g = input_grad(model, x0, y)
        return project(x0 + alpha * normalize_grad(g, self.norm), x, self.eps, self.norm)
