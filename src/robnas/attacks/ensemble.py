"""Worst-case ensembles of attacks: a point is robust only if it survives every member.

This is AutoAttack's accounting (Croce and Hein, ICML 2020): the attacks run in order, each on
the points that are still correctly classified, and a point's adversarial example is the first
one that fools the model. The default ``ensemble`` is ``apgd-ce`` then ``square``, a cheaper
subset of standard AutoAttack (``autoattack``: APGD-CE, APGD-T, FAB-T, Square). Being a subset
does not make its robust accuracy an upper bound on AutoAttack's in every run: both are
randomised, and the members' random draws differ between the two ensembles. It usually is, but
it can be far above it: on a model whose logits are scaled (zero cross-entropy gradients),
APGD-T's scale-invariant DLR loss finds what APGD-CE cannot (Croce and Hein's point), so report
``autoattack`` where a number must be comparable with the literature.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from robnas.attacks.base import Attack, get_attack, predict, register_attack

DEFAULT_MEMBERS = ("apgd-ce", "square")


@register_attack("ensemble", "apgd+square")
class Ensemble(Attack):
    """Run ``members`` (attack names) in order on surviving points; see the module docstring."""

    def __init__(
        self,
        eps: float,
        *,
        members: Sequence[str | Attack] = DEFAULT_MEMBERS,
        norm: str = "Linf",
        seed: int | None = 0,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(eps, norm=norm, seed=seed, device=device)
        self.members: list[Attack] = [
            m if isinstance(m, Attack) else get_attack(m, eps=eps, norm=norm, seed=seed, device=device)
            for m in members
        ]

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
        out = x.clone()
        robust = predict(model, x) == y
        for attack in self.members:
            idx = robust.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            x_adv = attack._run(model, x[idx], y[idx], gen)
            out[idx] = x_adv
            robust[idx] = predict(model, x_adv) == y[idx]
        return out
