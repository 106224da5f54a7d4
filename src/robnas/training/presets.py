"""Named training presets (objective, optimiser, schedule, epochs, and a suggested network size).

- ``nasrobbench201``: the protocol of NAS-RobBench-201 (Wu et al., ICLR 2024), as given in the
  shared data README: PGD-AT with PGD-7, eps 8/255, step 2/255; 50 epochs; SGD with momentum 0.9
  and weight decay 5e-4; batch 256; one-cycle learning rate up to 0.1; C = 16, N = 5. The
  one-cycle shape is not specified there; robnas uses the piecewise-linear cycle of Wong et al.
  (2020), 0 -> max at 2/5 of training -> 0, updated every step.
- ``nasbench201``: the standard-training protocol of NAS-Bench-201 (Dong and Yang, ICLR 2020):
  200 epochs, SGD with Nesterov momentum 0.9, weight decay 5e-4, batch 256, cosine from 0.1.
- ``fast-at``: FGSM-RS (Wong et al., 2020): eps 8/255, step 10/255, 15 epochs, batch 128,
  one-cycle to 0.2.
- ``trades``: TRADES (Zhang et al., 2019), beta 6, PGD-10 with step 2/255, otherwise as
  ``nasrobbench201``.
- CPU presets for quick experiments and tests (small networks): ``cpu-tiny`` (standard, C = 8,
  N = 1, 3 epochs), ``cpu-tiny-at`` (the same with PGD-3 adversarial training), ``cpu-small``
  (standard, C = 16, N = 1, 10 epochs), ``cpu-small-at`` (PGD-5 adversarial training).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from robnas.errors import ConfigError

SCHEDULES = ("onecycle", "onecycle-torch", "cosine", "constant")


@dataclass(frozen=True)
class TrainPreset:
    """Everything that defines a training run except the architecture, data and seed."""

    name: str
    objective: str = "standard"
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    eps: float = 8 / 255
    step_size: float = 2 / 255
    steps: int = 7
    beta: float = 1.0
    augment: bool = True
    C: int = 16
    N: int = 5
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if not self.lr > 0:
            raise ConfigError(f"the learning rate must be positive, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")

    def replace(self, **changes: Any) -> TrainPreset:
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def objective_params(self) -> dict[str, Any]:
        return {"eps": self.eps, "step_size": self.step_size, "steps": self.steps, "beta": self.beta}


PRESETS: dict[str, TrainPreset] = {
    p.name: p
    for p in (
        TrainPreset(
            "nasrobbench201", "pgd-at", epochs=50, batch_size=256, lr=0.1, schedule="onecycle-torch",
            eps=8 / 255, step_size=2 / 255, steps=7,
            description="NAS-RobBench-201: PGD-7 AT at 8/255, 50 epochs, SGD 0.9, wd 5e-4, one-cycle to 0.1",
        ),
        TrainPreset(
            "nasbench201", "standard", epochs=200, batch_size=256, lr=0.1, nesterov=True, schedule="cosine",
            description="NAS-Bench-201: standard, 200 epochs, SGD Nesterov 0.9, wd 5e-4, cosine from 0.1",
        ),
        TrainPreset(
            "fast-at", "fgsm-rs", epochs=15, batch_size=128, lr=0.2, schedule="onecycle",
            eps=8 / 255, step_size=10 / 255, steps=1,
            description="Wong et al. 2020: FGSM with random start at 8/255, step 10/255, 15 epochs",
        ),
        TrainPreset(
            "trades", "trades", epochs=50, batch_size=256, lr=0.1, schedule="onecycle-torch",
            eps=8 / 255, step_size=2 / 255, steps=10, beta=6.0,
            description="TRADES (beta 6, PGD-10 at 8/255), otherwise as nasrobbench201",
        ),
        TrainPreset(
            "cpu-tiny", "standard", epochs=3, batch_size=128, lr=0.1, C=8, N=1,
            description="quick CPU run: standard training, C=8, N=1, 3 epochs",
        ),
        TrainPreset(
            "cpu-tiny-at", "pgd-at", epochs=3, batch_size=128, lr=0.1, C=8, N=1,
            eps=8 / 255, step_size=2.5 * 8 / 255 / 3, steps=3,
            description="quick CPU run: PGD-3 adversarial training at 8/255, C=8, N=1, 3 epochs",
        ),
        TrainPreset(
            "cpu-small", "standard", epochs=10, batch_size=128, lr=0.1, C=16, N=1,
            description="small CPU run: standard training, C=16, N=1, 10 epochs",
        ),
        TrainPreset(
            "cpu-small-at", "pgd-at", epochs=10, batch_size=128, lr=0.1, C=16, N=1,
            eps=8 / 255, step_size=2 / 255, steps=5,
            description="small CPU run: PGD-5 adversarial training at 8/255, C=16, N=1, 10 epochs",
        ),
    )
}  # fmt: skip


def available_presets() -> list[str]:
    return list(PRESETS)


def get_preset(name: str | TrainPreset) -> TrainPreset:
    """The preset called ``name`` (a :class:`TrainPreset` is returned unchanged)."""
    if isinstance(name, TrainPreset):
        return name
    if name not in PRESETS:
        raise ConfigError(f"unknown training preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name]
