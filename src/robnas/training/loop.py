"""The train loop: progress bars, checkpoints, resume, divergence detection, determinism.

``train(model, train_ds, val_ds, preset, seed=..., device=..., out_dir=...)`` trains ``model``
in place and returns a :class:`TrainHistory` (per-epoch loss and accuracy). With ``out_dir`` a
checkpoint (``checkpoint.pt``: model, optimiser, scheduler, epoch, history, preset, seed and the
network's configuration) is written atomically after every epoch, and a later call with the same
``out_dir`` resumes from it; a completed run is not trained again. Resumed and uninterrupted
runs give identical weights on CPU: batch order and augmentation depend only on ``(seed,
epoch)`` (:class:`robnas.data.BatchLoader`) and the inner attack of step ``t`` is seeded with
``(seed, t)``, so no random state needs to survive an interruption.

A loss that becomes NaN, infinite or larger than ``max_loss`` stops the run with
:class:`DivergenceError`, which says where and what to do; the last checkpoint is kept.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robnas.errors import ConfigError, DataError, RobnasError
from robnas.training.checkpoint import plain, read_checkpoint, save_checkpoint
from robnas.training.objectives import get_objective
from robnas.training.presets import TrainPreset, get_preset

CHECKPOINT = "checkpoint.pt"
FORMAT = "robnas-checkpoint/1"


class DivergenceError(RobnasError):
    """Training diverged (the loss became NaN, infinite or huge)."""


@dataclass
class EpochRecord:
    """One epoch. ``train_acc`` is measured on the inputs of the objective (adversarial ones for
    adversarial training); ``val_*`` are clean (``None`` without validation data)."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    lr: float
    seconds: float


@dataclass
class TrainHistory:
    preset: dict[str, Any]
    seed: int
    epochs: list[EpochRecord] = field(default_factory=list)
    completed: bool = False

    @property
    def final(self) -> EpochRecord | None:
        return self.epochs[-1] if self.epochs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "seed": self.seed,
            "completed": self.completed,
            "epochs": [asdict(e) for e in self.epochs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainHistory:
        return cls(d["preset"], d["seed"], [EpochRecord(**e) for e in d["epochs"]], d["completed"])


def lr_factor(schedule: str, t: float) -> float:
    """Multiplier of the maximal learning rate at training progress ``t`` in (0, 1].

    ``onecycle-torch`` is not a fixed curve of ``t`` (it also cycles the momentum); it is built
    by :func:`make_scheduler` from PyTorch's ``OneCycleLR``.
    """
    if schedule == "onecycle-torch":
        raise ConfigError("the onecycle-torch schedule is PyTorch's OneCycleLR; use make_scheduler")
    if schedule == "onecycle":  # Wong et al. (2020): linear 0 -> 1 at 2/5 -> 0
        return t / 0.4 if t <= 0.4 else max(0.0, (1.0 - t) / 0.6)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * (t - 1e-12)))
    return 1.0


def make_scheduler(
    optimizer: torch.optim.Optimizer, preset: TrainPreset, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-step learning-rate scheduler of ``preset`` (``step()`` once after every batch).

    - ``onecycle-torch``: ``torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=preset.lr,
      total_steps=total_steps)`` with all of PyTorch's defaults, exactly what NAS-RobBench-201's
      ``main.py`` (TT2408/nasrobbench201) builds: cosine annealing, peak at 30% of the steps,
      starting at ``max_lr / 25`` and ending at ``max_lr / 25 / 1e4``, and the momentum cycled
      inversely between 0.95 and 0.85 (so the preset's ``momentum`` is replaced by the cycle, as in
      the reference, whose SGD is built with momentum 0.9 and then overridden).
    - ``onecycle`` (Wong et al., 2020), ``cosine`` and ``constant``: ``max_lr * lr_factor(t)``
      with ``t = (step + 1) / total_steps`` and the preset's fixed momentum.
    """
    if preset.schedule == "onecycle-torch":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=preset.lr, total_steps=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(preset.schedule, min(step + 1, total_steps) / total_steps)
    )


def network_config(model: nn.Module) -> dict[str, Any]:
    """What is needed to rebuild ``model`` (an NB201 network) from a checkpoint; ``{}`` otherwise."""
    arch = getattr(model, "arch", None)
    if arch is None or not hasattr(arch, "string"):
        return {}
    cfg: dict[str, Any] = {
        "arch": arch.string,
        "C": model.C,
        "N": model.N,
        "num_classes": model.num_classes,
        "in_channels": model.in_channels,
    }
    norm = getattr(model, "normalize", None)
    if norm is not None:
        cfg["mean"] = [float(v) for v in norm.mean.flatten()]
        cfg["std"] = [float(v) for v in norm.std.flatten()]
    return cfg


def load_checkpoint(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`train` (a file, or a run directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / CHECKPOINT
    if not p.is_file():
        raise DataError(f"no checkpoint at {p}")
    ckpt = read_checkpoint(p, device)
    if ckpt.get("format") != FORMAT:
        raise DataError(f"{p} is not a checkpoint of `robnas train` (format {ckpt.get('format')!r})")
    return ckpt


def model_from_checkpoint(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict]:
    """Rebuild the NB201 network stored in a checkpoint; returns ``(model, checkpoint)``."""
    from robnas.models import build_network

    ckpt = load_checkpoint(path, device)
    cfg = dict(ckpt.get("network") or {})
    if "arch" not in cfg:
        raise RobnasError(f"{path}: the checkpoint does not record a network architecture")
    try:
        model = build_network(cfg.pop("arch"), **cfg)
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"{path}: the checkpoint's network configuration is invalid ({exc})") from None
    load_weights(model, ckpt["model"], path)
    return model.to(device).eval(), ckpt


def load_weights(model: nn.Module, state: Any, source: str | os.PathLike[str]) -> None:
    """``model.load_state_dict(state)`` with one line for weights of another architecture, or
    weights that are NaN or infinite (a network that outputs NaN "predicts" class 0 everywhere,
    which would read as the share of class 0 instead of an error)."""
    if isinstance(state, dict):
        bad = [
            k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())
        ]  # fmt: skip
        if bad:
            raise DataError(
                f"{source}: the stored weights hold NaN or infinite values ({bad[0]}); "
                "the run diverged or the file was damaged; train again"
            )
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise DataError(
            f"{source}: the stored weights do not fit this network (another architecture or size: "
            f"{first.rstrip(':')}); check the architecture and --C/--N, or use another checkpoint"
        ) from None


def _with_preset_defaults(stored: Any) -> Any:
    """A checkpoint's preset with the defaults of fields added to :class:`TrainPreset` since it was
    written (e.g. ``auxiliary_weight``, whose default changes nothing for the networks that existed
    before it), so that such checkpoints still resume."""
    if not isinstance(stored, dict):
        return stored
    defaults = {f.name: f.default for f in fields(TrainPreset) if f.default is not MISSING}
    return {**plain(defaults), **stored}


def _save(path: Path, state: dict[str, Any]) -> None:
    save_checkpoint(plain(state), path)


@torch.no_grad()
def _evaluate(model: nn.Module, loader: Any, device: torch.device) -> tuple[float, float]:
    was = model.training
    model.eval()
    tot, loss, correct = 0, 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss += float(nn.functional.cross_entropy(out, y, reduction="sum"))
        correct += int((out.argmax(1) == y).sum())
        tot += x.shape[0]
    model.train(was)
    return loss / max(tot, 1), correct / max(tot, 1)


def train(
    model: nn.Module,
    train_ds: Any,
    val_ds: Any = None,
    preset: str | TrainPreset = "cpu-tiny",
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    epochs: int | None = None,
    resume: bool = True,
    progress: bool = True,
    max_loss: float = 1e4,
    meta: dict[str, Any] | None = None,
    callbacks: Sequence[Callable[[EpochRecord], None]] = (),
) -> TrainHistory:
    """Train ``model`` in place on ``train_ds`` (an :class:`robnas.data.ImageDataset`) with ``preset``.

    ``epochs`` overrides the preset's epochs. ``meta`` is stored in the checkpoint (e.g. the
    dataset name); the network configuration of an NB201 network is stored automatically.
    ``callbacks`` are called after each epoch's checkpoint is written.
    """
    from robnas.data import make_loader

    p = get_preset(preset).replace(epochs=epochs)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model.to(dev)
    objective = get_objective(p.objective, auxiliary_weight=p.auxiliary_weight, **p.objective_params())
    loader = make_loader(train_ds, p.batch_size, shuffle=True, augment=p.augment, seed=seed, device=dev)
    val_loader = make_loader(val_ds, 512, device=dev) if val_ds is not None and len(val_ds) else None
    steps_per_epoch = len(loader)
    total_steps = p.epochs * steps_per_epoch
    optimizer = torch.optim.SGD(
        model.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay, nesterov=p.nesterov
    )
    scheduler = make_scheduler(optimizer, p, total_steps)
    history = TrainHistory(p.to_dict(), int(seed))
    start_epoch = 0
    ckpt_path = Path(out_dir) / CHECKPOINT if out_dir is not None else None
    if ckpt_path is not None:
        if ckpt_path.parent.exists() and not ckpt_path.parent.is_dir():
            raise DataError(f"{ckpt_path.parent} is a file; give a folder for the run (--out)")
        try:
            ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"cannot create the run folder {ckpt_path.parent}: {exc.strerror or exc}"
            ) from None
        if resume and ckpt_path.exists():
            ckpt = load_checkpoint(ckpt_path, dev)
            theirs = {
                "preset": _with_preset_defaults(ckpt.get("preset")),
                "seed": ckpt.get("seed"),
                "network": ckpt.get("network"),
                "meta": ckpt.get("meta"),
            }
            ours = {"preset": p.to_dict(), "seed": seed, "network": network_config(model)}
            ours = plain({**ours, "meta": dict(meta or {})})
            if theirs != ours:
                diff = ", ".join(k for k in ours if theirs[k] != ours[k])
                net = theirs["network"] or {}
                raise ConfigError(
                    f"{ckpt_path} belongs to another run ({diff} differ: it trained "
                    f"{net.get('arch', 'a network')} with preset {(theirs['preset'] or {}).get('name')}, "
                    f"seed {theirs['seed']}); choose another output directory, or pass --force "
                    "(resume=False) to replace it"
                )
            load_weights(model, ckpt["model"], ckpt_path)
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            history = TrainHistory.from_dict(ckpt["history"])
            start_epoch = int(ckpt["epoch"])
            if history.completed:
                return history

    def state(epoch: int) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": history.to_dict(),
            "preset": p.to_dict(),
            "seed": seed,
            "network": network_config(model),
            "meta": dict(meta or {}),
            "torch": str(torch.__version__),
        }

    prog = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

        from robnas.progress import make_progress

        prog = make_progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"), transient=True, every_pct=25,
        )  # fmt: skip
        prog.start()
    try:
        for epoch in range(start_epoch, p.epochs):
            t0 = time.time()
            model.train()
            loader.set_epoch(epoch)
            task = (
                prog.add_task(f"epoch {epoch + 1}/{p.epochs}", total=steps_per_epoch, status="")
                if prog
                else None
            )
            tot, loss_sum, correct = 0, 0.0, 0
            for i, (x, y) in enumerate(loader):
                step = epoch * steps_per_epoch + i
                out = objective(model, x, y, seed=seed * 1_000_003 + step)
                loss_v = float(out.loss.detach())
                if not math.isfinite(loss_v) or loss_v > max_loss:
                    where = f"{ckpt_path}" if ckpt_path is not None else "no checkpoint (no out_dir)"
                    raise DivergenceError(
                        f"training diverged: the loss is {loss_v:.4g} at epoch {epoch + 1}, step {i + 1} "
                        f"(preset {p.name}, lr {scheduler.get_last_lr()[0]:.3g}); lower the learning rate "
                        f"or check the data and model. Last good state: {where}"
                    )
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                optimizer.step()
                scheduler.step()
                b = x.shape[0]
                tot += b
                loss_sum += loss_v * b
                correct += int((out.logits.detach().argmax(1) == y).sum())
                if prog is not None and task is not None:
                    prog.update(task, advance=1, status=f"loss {loss_sum / tot:.3f} acc {correct / tot:.1%}")
            if prog is not None and task is not None:
                prog.remove_task(task)
            vl, va = _evaluate(model, val_loader, dev) if val_loader is not None else (None, None)
            rec = EpochRecord(
                epoch + 1, loss_sum / max(tot, 1), correct / max(tot, 1), vl, va,
                float(scheduler.get_last_lr()[0]), round(time.time() - t0, 3),
            )  # fmt: skip
            history.epochs.append(rec)
            history.completed = epoch + 1 == p.epochs
            if ckpt_path is not None:
                _save(ckpt_path, state(epoch + 1))
                try:
                    (ckpt_path.parent / "history.json").write_text(json.dumps(history.to_dict(), indent=1))
                except OSError as exc:
                    raise DataError(
                        f"cannot write {ckpt_path.parent / 'history.json'}: {exc.strerror or exc}"
                    ) from None
            for cb in callbacks:
                cb(rec)
    finally:
        if prog is not None:
            prog.stop()
    history.completed = True
    return history
