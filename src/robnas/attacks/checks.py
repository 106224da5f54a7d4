"""Gradient-masking checks, in the spirit of AutoAttack's ``checks.py`` (Croce and Hein, 2020)
and of Carlini et al., "On evaluating adversarial robustness" (2019).

A defence that hides its gradients (obfuscated gradients, Athalye et al., ICML 2018) looks
robust to white-box attacks without being robust. Three symptoms are checked and reported with
every evaluation; a failed check does not change the numbers, it warns that they may be
optimistic:

- ``huge_eps``: PGD at a huge radius (default 0.5, i.e. 127.5/255) must bring accuracy to about
  zero (at most ``huge_eps_tol``, default 2%) on correctly classified points;
- ``square_vs_gradient``: the black-box Square Attack must not be much stronger than the
  white-box attacks at the same epsilon (flagged when its accuracy is lower than the best
  gradient attack's by more than ``square_tol``, default 3 points);
- ``monotone_eps``: accuracy must not rise with epsilon, per attack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from robnas.attacks.base import attack_mode

if TYPE_CHECKING:
    from robnas.attacks.evaluate import RobustnessResult

GRADIENT_ATTACKS = ("fgsm", "pgd", "apgd-ce")


@dataclass
class MaskingCheck:
    """One check: its name, whether it passed, and a sentence for people."""

    name: str
    passed: bool
    message: str


def run_checks(
    model: nn.Module,
    result: RobustnessResult,
    x: Tensor,
    y: Tensor,
    *,
    huge_eps: float = 0.5,
    huge_eps_tol: float = 0.02,
    square_tol: float = 0.03,
    seed: int = 0,
) -> list[MaskingCheck]:
    """Run the three checks of the module docstring on ``result`` (and on ``x, y`` for huge eps)."""
    from robnas.attacks.evaluate import eps_label
    from robnas.attacks.pgd import PGD

    out: list[MaskingCheck] = []
    if x.shape[0] > 0:
        adv = PGD(huge_eps, steps=20, seed=seed)(model, x, y)
        with attack_mode(model), torch.no_grad():
            acc = float((model(adv).argmax(1) == y.to(adv.device)).float().mean())
        ok = acc <= huge_eps_tol
        out.append(
            MaskingCheck(
                "huge_eps",
                ok,
                f"PGD-20 at eps {eps_label(huge_eps)}/255 leaves {acc:.1%} of {x.shape[0]} "
                "correctly classified points correct"
                + ("" if ok else f" (expected <= {huge_eps_tol:.0%}: gradients may be masked)"),
            )
        )
    grad_names = [a for a in result.accuracy if a in GRADIENT_ATTACKS]
    if "square" in result.accuracy and grad_names:
        bad = []
        for e, sq in result.accuracy["square"].items():
            best = min(result.accuracy[a][e] for a in grad_names)
            if sq < best - square_tol:
                bad.append(f"eps {eps_label(e)}: square {sq:.1%} < white-box {best:.1%}")
        out.append(
            MaskingCheck(
                "square_vs_gradient",
                not bad,
                "black-box Square is not much stronger than the white-box attacks"
                if not bad
                else "black-box Square is much stronger than the white-box attacks "
                "(gradients may be masked): " + "; ".join(bad),
            )
        )
    rises = []
    for a, per_eps in result.accuracy.items():
        eps = sorted(per_eps)
        for lo, hi in zip(eps, eps[1:], strict=False):
            if per_eps[hi] > per_eps[lo]:
                rises.append(
                    f"{a}: {per_eps[lo]:.1%} at {eps_label(lo)} -> {per_eps[hi]:.1%} at {eps_label(hi)}"
                )
    out.append(
        MaskingCheck(
            "monotone_eps",
            not rises,
            "accuracy does not rise with epsilon"
            if not rises
            else "accuracy rises with epsilon (an attack is failing to optimise): " + "; ".join(rises),
        )
    )
    return out
