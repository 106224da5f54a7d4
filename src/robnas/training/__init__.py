"""Training: objectives (standard, PGD-AT, FGSM-RS, TRADES, beta-mixed), presets and the loop.

``train(model, train_ds, val_ds, "nasrobbench201", seed=0, device="cuda", out_dir="runs/x")``
trains in place, checkpoints every epoch, resumes after an interruption and returns the
per-epoch history.
"""

from robnas.training.loop import (
    CHECKPOINT,
    DivergenceError,
    EpochRecord,
    TrainHistory,
    load_checkpoint,
    lr_factor,
    make_scheduler,
    model_from_checkpoint,
    network_config,
    train,
)
from robnas.training.objectives import (
    FGSMRS,
    PGDAT,
    TRADES,
    Mixed,
    Objective,
    ObjectiveOutput,
    Standard,
    available_objectives,
    get_objective,
    register_objective,
)
from robnas.training.presets import PRESETS, TrainPreset, available_presets, default_val_fraction, get_preset

__all__ = [
    "CHECKPOINT",
    "FGSMRS",
    "PGDAT",
    "PRESETS",
    "TRADES",
    "DivergenceError",
    "EpochRecord",
    "Mixed",
    "Objective",
    "ObjectiveOutput",
    "Standard",
    "TrainHistory",
    "TrainPreset",
    "available_objectives",
    "available_presets",
    "default_val_fraction",
    "get_objective",
    "get_preset",
    "load_checkpoint",
    "lr_factor",
    "make_scheduler",
    "model_from_checkpoint",
    "network_config",
    "register_objective",
    "train",
]
