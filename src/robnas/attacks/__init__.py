"""Adversarial attacks, corruptions and robustness evaluation.

Pixels are in [0, 1] and epsilons are floats in pixel units (``8 / 255``); models take pixels
(normalisation is their first layer). ``get_attack(name, eps=...)`` builds an attack from the
registry; ``attack(model, x, y)`` returns adversarial examples.
"""

from typing import TYPE_CHECKING

from robnas._lazy import lazy_attributes
from robnas.attacks.base import (
    ATTACKS,
    Attack,
    available_attacks,
    canonical_attack_name,
    check_eps,
    get_attack,
    margin,
    project,
    register_attack,
)
from robnas.attacks.checks import MaskingCheck, run_checks
from robnas.attacks.corruptions import CORRUPTIONS, available_corruptions, corrupt
from robnas.attacks.evaluate import RobustnessResult, eps_label, evaluate_corruptions, evaluate_robustness

if TYPE_CHECKING:
    from robnas.attacks.apgd import APGD, apgd_checkpoints
    from robnas.attacks.ensemble import Ensemble
    from robnas.attacks.fgsm import FGSM
    from robnas.attacks.pgd import PGD
    from robnas.attacks.square import Square, p_schedule

# the attacks themselves are imported when first used (the registry lists them without importing)
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "APGD": "robnas.attacks.apgd",
        "apgd_checkpoints": "robnas.attacks.apgd",
        "Ensemble": "robnas.attacks.ensemble",
        "FGSM": "robnas.attacks.fgsm",
        "PGD": "robnas.attacks.pgd",
        "Square": "robnas.attacks.square",
        "p_schedule": "robnas.attacks.square",
    },
)

__all__ = [
    "APGD",
    "ATTACKS",
    "CORRUPTIONS",
    "FGSM",
    "PGD",
    "Attack",
    "Ensemble",
    "MaskingCheck",
    "RobustnessResult",
    "Square",
    "apgd_checkpoints",
    "available_attacks",
    "available_corruptions",
    "canonical_attack_name",
    "check_eps",
    "corrupt",
    "eps_label",
    "evaluate_corruptions",
    "evaluate_robustness",
    "get_attack",
    "margin",
    "p_schedule",
    "project",
    "register_attack",
    "run_checks",
]
