"""Gradient-masking checks: those of AutoAttack's ``checks.py`` (Croce and Hein, 2020) and of
Carlini et al., "On evaluating adversarial robustness" (2019).

A defence that hides its gradients (obfuscated gradients, Athalye et al., ICML 2018) looks
robust to white-box attacks without being robust. Every evaluation reports these checks; a
failed check does not change the numbers, it warns that they may be optimistic:

- ``huge_eps``: PGD at a huge radius (default 0.5, i.e. 127.5/255) must bring accuracy to about
  zero (at most ``huge_eps_tol``, default 2%) on correctly classified points (Carlini et al.);
- ``square_vs_gradient``: the black-box Square Attack must not beat the white-box attacks at
  the same epsilon: flagged when its accuracy is lower than the best gradient attack's by more
  than ``square_tol`` (AutoAttack's threshold, 0.2 points); inside AutoAttack, flagged when Square
  lowers the robust accuracy left by the gradient components by more than that;
- ``monotone_eps``: accuracy must not rise with epsilon, per attack;
- ``zero_gradient``: no correctly classified point may have an all-zero input gradient of the
  cross-entropy or of the DLR loss (AutoAttack warns on any such point; a model that saturates
  its softmax, e.g. logits times 1e4, fails it for the cross-entropy);
- ``randomized``: five forward passes in eval mode must agree (predictions equal, L2-normalised
  logits within 1e-4, AutoAttack's test); a randomised model needs AutoAttack's ``rand`` version;
- ``probability_output``: the outputs must be logits, not a probability distribution
  (flagged when every output lies in [0, 1] and every row sums to 1 within 1e-5);
- ``dynamic``: the forward pass must not compute gradients itself (a test-time optimisation
  defence): flagged when ``torch.autograd`` is called during one forward pass;
- ``class_count``: the DLR losses need at least 3 classes (4 for the targeted one), and APGD-T and
  FAB-T at most ``classes - 1`` target classes (only when such attacks are run).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.attacks.base import MissingGradientWarning, attack_mode, dlr_loss

if TYPE_CHECKING:
    from robnas.attacks.evaluate import RobustnessResult

GRADIENT_ATTACKS = ("fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t")
SQUARE_ATTACKS = ("square", "square-rescaled")
DLR_ATTACKS = ("apgd-dlr", "apgd-t", "fab-t", "autoattack")


@dataclass
class MaskingCheck:
    """One check: its name, whether it passed, and a sentence for people."""

    name: str
    passed: bool
    message: str


def _zero_gradient(model: nn.Module, x: Tensor, y: Tensor) -> MaskingCheck:
    zero = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    losses = ["ce"] + (["dlr"] if x.shape[0] and model(x[:1]).shape[1] >= 3 else [])
    for loss in losses:
        xr = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model(xr)
            per = F.cross_entropy(logits, y, reduction="none") if loss == "ce" else dlr_loss(logits, y)
            g = None
            if per.requires_grad:
                (g,) = torch.autograd.grad(per.sum(), xr, allow_unused=True)
        z0 = torch.ones_like(zero) if g is None else g.flatten(1).abs().sum(1) == 0
        if loss == "dlr":  # the DLR loss is constant (1) where the true class ranks third: not a symptom
            z0 &= logits.detach().argmax(1) == y
        zero |= z0
    k = int(zero.sum())
    return MaskingCheck(
        "zero_gradient",
        k == 0,
        f"no point has a zero input gradient (cross-entropy{', DLR' if len(losses) > 1 else ''})"
        if k == 0
        else f"{k} of {x.shape[0]} points have an all-zero input gradient: gradient attacks cannot move "
        "them, so their robust accuracy is optimistic",
    )


def _randomized(model: nn.Module, x: Tensor, y: Tensor, n: int = 5, tol: float = 1e-4) -> MaskingCheck:
    correct, outs = [], []
    for _ in range(n):
        z = model(x)
        correct.append(int((z.argmax(1) == y).sum()))
        outs.append(z / (z.flatten(1).norm(dim=1, keepdim=True) + 1e-10))
    diff = max(float((a - b).flatten(1).norm(dim=1).max()) for a in outs for b in outs)
    ok = len(set(correct)) == 1 and diff <= tol
    return MaskingCheck(
        "randomized",
        ok,
        "repeated forward passes agree"
        if ok
        else f"repeated forward passes differ (normalised logits up to {diff:.2g} apart): the model "
        "looks randomised; use AutoAttack's rand version (expectation over transformation)",
    )


def _probability_output(model: nn.Module, x: Tensor, tol: float = 1e-5) -> MaskingCheck:
    z = model(x)
    prob = bool(z.max() < 1 + tol and z.min() > -tol and ((z.sum(-1) - 1).abs() < tol).all())
    return MaskingCheck(
        "probability_output",
        not prob,
        "the outputs are logits"
        if not prob
        else "the outputs look like a probability distribution: attacks need the logits (remove the softmax)",
    )


_AUTOGRAD_CALLS = ("grad", "backward", "_make_grads")


def _dynamic(model: nn.Module, x: Tensor) -> MaskingCheck:
    calls = 0
    prev = sys.gettrace()

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if (
            event == "call"
            and frame.f_code.co_name in _AUTOGRAD_CALLS
            and "autograd" in frame.f_code.co_filename
        ):
            calls += 1

    sys.settrace(tracer)
    try:
        model(x)
    finally:
        sys.settrace(prev)
    return MaskingCheck(
        "dynamic",
        calls == 0,
        "the forward pass does not call autograd"
        if calls == 0
        else "the forward pass calls torch.autograd (a test-time optimisation defence?): "
        "AutoAttack may not evaluate it reliably; use an adaptive attack",
    )


def _class_count(n_cls: int, attacks: Sequence[str], n_targets: int = 9) -> MaskingCheck | None:
    used = [a for a in attacks if a in DLR_ATTACKS]
    if not used:
        return None
    targeted = [a for a in used if a in ("apgd-t", "fab-t", "autoattack")]
    problems = []
    if n_cls <= 2:
        problems.append(f"the DLR loss needs at least 3 classes, the model has {n_cls}")
    elif n_cls == 3 and any(a in ("apgd-t", "autoattack") for a in used):
        problems.append("the targeted DLR loss needs at least 4 classes, the model has 3")
    if targeted and n_targets + 1 > n_cls:
        problems.append(f"{n_targets} target classes asked, only {n_cls - 1} possible (fewer are used)")
    return MaskingCheck(
        "class_count",
        not problems,
        f"{n_cls} classes suit {', '.join(used)}" if not problems else "; ".join(problems),
    )


def run_checks(
    model: nn.Module,
    result: RobustnessResult,
    x: Tensor,
    y: Tensor,
    *,
    huge_eps: float = 0.5,
    huge_eps_tol: float = 0.02,
    square_tol: float = 0.002,
    seed: int = 0,
    attacks: Sequence[str] = (),
) -> list[MaskingCheck]:
    """Run the checks of the module docstring on ``result`` and on correctly classified ``x, y``."""
    from robnas.attacks.evaluate import eps_label
    from robnas.attacks.pgd import PGD

    out: list[MaskingCheck] = []
    if x.shape[0] > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MissingGradientWarning)  # the zero_gradient check reports it
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
        xd, yd = x.to(adv.device), y.to(adv.device)
        with attack_mode(model):
            out.append(_zero_gradient(model, xd, yd))
            with torch.no_grad():
                out.append(_randomized(model, xd, yd))
                out.append(_probability_output(model, xd))
                n_cls = int(model(xd[:1]).shape[1])
            out.append(_dynamic(model, xd))
        cc = _class_count(n_cls, attacks)
        if cc is not None:
            out.append(cc)
    grad_names = [a for a in result.accuracy if a in GRADIENT_ATTACKS]
    bad = []
    for sq_name in SQUARE_ATTACKS:
        if sq_name not in result.accuracy or not grad_names:
            continue
        for e, sq in result.accuracy[sq_name].items():
            others = [result.accuracy[a][e] for a in grad_names if e in result.accuracy[a]]
            if others and sq < min(others) - square_tol:
                bad.append(f"eps {eps_label(e)}: {sq_name} {sq:.1%} < white-box {min(others):.1%}")
    for label, comp_per_eps in result.components.items():
        for e, comp in comp_per_eps.items():
            names = list(comp)
            if "square" in names and names.index("square") > 0:
                before = comp[names[names.index("square") - 1]]
                if comp["square"] < before - square_tol:
                    bad.append(
                        f"eps {eps_label(e)}: Square lowers {label} from {before:.1%} to {comp['square']:.1%}"
                    )
    if bad or (grad_names and any(s in result.accuracy for s in SQUARE_ATTACKS)) or result.components:
        out.append(
            MaskingCheck(
                "square_vs_gradient",
                not bad,
                "black-box Square does not beat the white-box attacks"
                if not bad
                else "black-box Square beats the white-box attacks by more than "
                f"{square_tol:.1%} (gradients may be masked): " + "; ".join(bad),
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
