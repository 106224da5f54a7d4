"""The bi-level search loop shared by every method (Liu, Simonyan and Yang, "DARTS:
Differentiable architecture search", ICLR 2019), with checkpoints, resume and an alpha record.

One step takes a training batch and a validation batch:

1. **architecture step** on the validation batch: ``alpha <- Adam(grad_alpha L_up)`` where
   ``L_up = sum_k c_k L_k`` over the method's upper objectives (coefficients from
   :meth:`~robnas.dnas.methods.SearchMethod.combine`, e.g. MGDA weights). ``order="first"`` uses
   the gradient at the current weights. ``order="second"`` is DARTS' unrolled gradient: with the
   virtual step ``w' = w - xi (mu m + grad_w L_low(w, alpha) + wd w)`` (``xi`` = the current
   weight learning rate; ``mu m`` the optimiser's momentum term, as DARTS' code
   ``_compute_unrolled_model`` has it, although the paper's equation 7 leaves it out),
   ``grad_alpha L_up(w', alpha) - xi * (grad_alpha L_low(w+) - grad_alpha L_low(w-)) / (2 r)``
   where ``w+- = w +- r grad_w' L_up(w', alpha)`` and ``r = 0.01 / ||grad_w' L_up||``
   (finite-difference Hessian-vector product, their equation 8);
   During the first ``warmup_epochs`` epochs (default 0, as the papers) there is no
   architecture step: the weights train at fixed (uniform) alpha first, as PC-DARTS (Xu et al.,
   ICLR 2020) warms up for 15 epochs, so that the early alpha-gradients do not come from
   untrained convolutions. A scaled-down search, whose alphas move for a few dozen steps only,
   needs it most (see ``results/dnas/op_preference.py``);
2. **weight step** on the training batch: SGD (momentum 0.9, weight decay 3e-4, cosine learning
   rate 0.025 -> 0.001, gradient clipping at 5) on the method's lower loss.

Architecture optimiser: Adam, learning rate 3e-4, betas (0.5, 0.999), weight decay 1e-3 (DARTS).

Data: ``n_train`` images of the dataset's training split (a fixed, stratified subset), split in
two stratified halves, training and validation, as DARTS splits CIFAR-10's training set.

Outputs in the run directory: ``config.json``; ``checkpoint.pt`` after every epoch (supernet,
optimisers, history; written atomically); ``history.json`` (per epoch: losses, objective values,
coefficients, derived architecture, seconds, and ``softmax(alpha)``); ``result.json`` when done.
A call with the same directory and configuration resumes after the last finished epoch; since
batches depend only on ``(seed, epoch)`` and attacks are seeded by ``(seed, step)``, a resumed run
reproduces an uninterrupted one on CPU.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.dnas.methods import SearchMethod, get_method
from robnas.dnas.supernet import DARTSSupernet, NB201Supernet, Supernet, build_supernet
from robnas.errors import ConfigError, RobnasError
from robnas.utils import atomic_write_json

CHECKPOINT = "checkpoint.pt"
FORMAT = "robnas-dnas/1"
SPACES = ("nb201", "darts")
HESSIANS = ("finite-difference", "exact")
FD_RADIUS = 0.01
"""DARTS' finite-difference radius: the weights move by ``FD_RADIUS`` (L2) each way."""


class SearchDiverged(RobnasError):
    """A loss became NaN or infinite during the search."""


@dataclass
class SearchConfig:
    """Everything that defines a search run (``device`` and ``root`` do not change results)."""

    space: str = "nb201"
    method: str = "darts"
    dataset: str = "cifar10"
    epochs: int = 5
    C: int = 8
    N: int = 1
    batch_size: int = 64
    seed: int = 0
    n_train: int | None = 5000
    order: str = "auto"
    hessian: str = "finite-difference"
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_wd: float = 3e-4
    grad_clip: float = 5.0
    a_lr: float = 3e-4
    a_wd: float = 1e-3
    exclude_none: bool = False
    warmup_epochs: int = 0
    max_steps: int | None = None
    method_options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    root: str | None = None

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ConfigError(f"unknown search space {self.space!r}; choose nb201 or darts")
        if self.order not in ("auto", "first", "second"):
            raise ConfigError(f"order must be 'auto', 'first' or 'second', got {self.order!r}")
        if self.hessian not in HESSIANS:
            raise ConfigError(f"hessian must be one of {', '.join(HESSIANS)}, got {self.hessian!r}")
        for name in ("epochs", "C", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(
                f"warmup_epochs must be at least 0 and below epochs ({self.epochs}), got {self.warmup_epochs}"
            )
        if self.N < 1:
            raise ConfigError(f"N (cells per stage) must be at least 1, got {self.N}")
        if self.n_train is not None and self.n_train < 4:
            raise ConfigError(f"n_train must be at least 4 images, got {self.n_train}")
        method = get_method(self.method, **self.method_options)  # validates the method and its options
        if self.order == "auto":
            self.order = method.preferred_order

    def identity(self) -> dict[str, Any]:
        """The fields that define the results (not where they are computed or read from)."""
        d = asdict(self)
        d.pop("device")
        d.pop("root")
        if not d["warmup_epochs"]:  # runs made before the option existed resume unchanged
            d.pop("warmup_epochs")
        d["method_options"] = {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in d["method_options"].items()
        }
        return d


@dataclass
class SearchRun:
    """The outcome of :func:`search`: the supernet, its derived architecture and the history."""

    config: SearchConfig
    model: NB201Supernet | DARTSSupernet
    history: list[dict[str, Any]]
    out_dir: Path | None

    @property
    def derived(self) -> Any:
        return derive(self.model, self.config)


def derive(model: Supernet, config: SearchConfig) -> Any:
    """The discrete architecture of ``model`` (an :class:`~robnas.spaces.Arch` or a Genotype).

    ``exclude_none`` is the configuration's for NB201 (default False, NAS-Bench-201's baseline);
    in the DARTS space ``none`` is always excluded, DARTS' rule."""
    if isinstance(model, NB201Supernet):
        return model.derive(exclude_none=config.exclude_none)
    return model.derive(exclude_none=True)


def _arch_repr(arch: Any) -> str:
    return arch.string if hasattr(arch, "string") else str(arch)


def load_data(config: SearchConfig):
    """``(train half, validation half)`` of the search data (see the module docstring)."""
    from robnas.data import load_dataset, train_val_split

    ds = load_dataset(config.dataset, "train", root=config.root)
    if config.n_train is not None and config.n_train < len(ds):
        ds = ds.take(config.n_train, seed=0)
    return train_val_split(ds, val_fraction=0.5, seed=0)


def build_model(config: SearchConfig, info: Any) -> NB201Supernet | DARTSSupernet:
    torch.manual_seed(config.seed)
    return build_supernet(
        config.space,
        C=config.C,
        N=config.N,
        **info.model_kwargs(),
    )


def _step_seed(config: SearchConfig, step: int) -> int:
    return (config.seed * 1_000_003 + step) % (2**31 - 1)


def _check(value: Tensor, what: str, epoch: int, step: int) -> None:
    if not torch.isfinite(value).all():
        raise SearchDiverged(
            f"the {what} became {float(value)} at epoch {epoch + 1}, step {step}; lower the learning "
            "rates or the method's gamma; the last checkpoint is kept"
        )


def _grads(loss: Tensor, params: list[nn.Parameter], **kw: Any) -> list[Tensor]:
    gs = torch.autograd.grad(loss, params, allow_unused=True, **kw)
    return [g if g is not None else torch.zeros_like(p) for g, p in zip(gs, params, strict=True)]


def _virtual_step(
    weights: list[nn.Parameter], grads: list[Tensor], xi: float, wd: float, opt: torch.optim.Optimizer | None
) -> None:
    """DARTS' virtual step ``w' = w - xi (mu m + dL/dw + wd w)`` in place, with the optimiser's
    momentum buffer ``m`` and momentum ``mu`` when it has them (as ``_compute_unrolled_model``)."""
    mu = 0.0
    if opt is not None:
        mu = float(opt.param_groups[0].get("momentum", 0.0))
    with torch.no_grad():
        for p, g in zip(weights, grads, strict=True):
            buf = opt.state.get(p, {}).get("momentum_buffer") if opt is not None else None
            step = g + wd * p
            if buf is not None and mu:
                step = step + mu * buf
            p.sub_(xi * step)


def architecture_step(
    model: Supernet,
    method: SearchMethod,
    train_batch: tuple[Tensor, Tensor],
    val_batch: tuple[Tensor, Tensor],
    *,
    order: str,
    xi: float,
    wd: float,
    seed: int,
    w_opt: torch.optim.Optimizer | None = None,
    hessian: str = "finite-difference",
) -> tuple[list[Tensor], dict[str, float]]:
    """The architecture gradient of one step (first or second order) and values to record.

    Second order (DARTS eq. 7): the upper objectives are evaluated at the virtual weights
    ``w' = w - xi (mu m + grad_w L_low(w, alpha) + wd w)`` and the gradient is
    ``d_alpha L_up(w', alpha) - xi grad^2_{alpha, w} L_low(w, alpha) . d_w' L_up(w', alpha)``.
    The mixed second derivative is the central finite difference of DARTS (eq. 8, ``r = 0.01 /
    ||v||``) or, with ``hessian="exact"``, an exact Hessian-vector product by double
    back-propagation (one more backward pass with the graph of ``grad_w L_low`` kept).
    """
    alphas = model.arch_parameters()
    weights = model.weight_parameters()
    xt, yt = train_batch
    xv, yv = val_batch
    backup: list[Tensor] = []
    if order == "second":
        gw = _grads(method.lower_loss(model, xt, yt, seed), weights)  # type: ignore[arg-type]
        backup = [p.detach().clone() for p in weights]
        _virtual_step(weights, gw, xi, wd, w_opt)
    objectives = method.upper_objectives(model, xv, yv, seed)  # type: ignore[arg-type]
    coefs, record = method.combine(objectives, list(alphas))
    total = sum(coefs[k] * v for k, v in objectives.items())
    assert isinstance(total, Tensor)
    record.update({f"obj_{k}": float(v.detach()) for k, v in objectives.items()})
    record["upper"] = float(total.detach())
    if order == "first":
        return _grads(total, alphas), record
    grads = _grads(total, alphas + weights)
    g_alpha, dw = grads[: len(alphas)], grads[len(alphas) :]
    with torch.no_grad():
        for p, b in zip(weights, backup, strict=True):
            p.copy_(b)
    if hessian == "exact":
        low = method.lower_loss(model, xt, yt, seed)  # type: ignore[arg-type]
        gw2 = torch.autograd.grad(low, weights, create_graph=True, allow_unused=True)
        dot = sum((g * d).sum() for g, d in zip(gw2, dw, strict=True) if g is not None)
        hv = _grads(dot, alphas) if isinstance(dot, Tensor) else [torch.zeros_like(a) for a in alphas]
        return [ga - xi * h for ga, h in zip(g_alpha, hv, strict=True)], record
    norm = torch.sqrt(sum((d * d).sum() for d in dw))  # type: ignore[arg-type]
    r = FD_RADIUS / float(norm.clamp_min(1e-12))
    diff: list[Tensor] = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            for p, b, d in zip(weights, backup, dw, strict=True):
                p.copy_(b + sign * r * d)
        g = _grads(method.lower_loss(model, xt, yt, seed), alphas)  # type: ignore[arg-type]
        diff = g if not diff else [a - b for a, b in zip(diff, g, strict=True)]
    with torch.no_grad():
        for p, b in zip(weights, backup, strict=True):
            p.copy_(b)
    return [ga - xi * h / (2 * r) for ga, h in zip(g_alpha, diff, strict=True)], record


def _atomic_save(obj: Any, path: Path) -> None:
    from robnas.training.checkpoint import plain, save_checkpoint

    save_checkpoint(plain(obj), path)  # sealed (checksum), plain values only: loads with weights_only=True


def _atomic_json(obj: Any, path: Path) -> None:
    atomic_write_json(path, obj, indent=1)


ProgressFn = Callable[[int, int, int, int, dict[str, float]], None]
"""``progress(epoch, epochs, step, steps, values)``, called after every step."""


def search(
    config: SearchConfig,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    resume: bool = True,
    progress: ProgressFn | None = None,
    data: tuple[Any, Any] | None = None,
) -> SearchRun:
    """Run (or resume) a differentiable search; see the module docstring for what is written.

    ``data`` may give the ``(train, validation)`` datasets directly (tests, custom splits);
    otherwise :func:`load_data` reads ``config.dataset``.
    """
    from robnas.data import make_loader

    device = torch.device(config.device)
    method = get_method(config.method, **config.method_options)
    train_ds, val_ds = data if data is not None else load_data(config)
    model = build_model(config, train_ds.info).to(device)
    w_opt = torch.optim.SGD(
        model.weight_parameters(), lr=config.w_lr, momentum=config.w_momentum, weight_decay=config.w_wd
    )
    a_opt = torch.optim.Adam(
        model.arch_parameters(), lr=config.a_lr, betas=(0.5, 0.999), weight_decay=config.a_wd
    )
    history: list[dict[str, Any]] = []
    start = 0
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        ckpt_path = out / CHECKPOINT
        cfg_path = out / "config.json"
        if resume and ckpt_path.is_file():
            from robnas.training.checkpoint import plain, read_checkpoint
            from robnas.training.loop import load_weights

            ckpt = read_checkpoint(ckpt_path, device)  # weights_only=True, checksum verified
            if ckpt.get("format") != FORMAT:
                raise RobnasError(f"{ckpt_path} is not a robnas search checkpoint; use another --out")
            if ckpt["config"] != plain(config.identity()):
                diff = sorted(k for k, v in plain(config.identity()).items() if ckpt["config"].get(k) != v)
                raise ConfigError(
                    f"{out} holds a search with other settings ({', '.join(diff)} differ); "
                    "use another --out or the same settings to resume"
                )
            load_weights(model, ckpt["model"], ckpt_path)
            w_opt.load_state_dict(ckpt["w_opt"])
            a_opt.load_state_dict(ckpt["a_opt"])
            history = ckpt["history"]
            start = ckpt["epoch"] + 1
        _atomic_json({**config.identity(), "device": config.device}, cfg_path)

    loader = make_loader(
        train_ds,
        config.batch_size,
        shuffle=True,
        augment=False,
        seed=config.seed,
        drop_last=True,
        device=device,
    )
    val_loader = make_loader(
        val_ds,
        config.batch_size,
        shuffle=True,
        augment=False,
        seed=config.seed + 7919,
        drop_last=True,
        device=device,
    )
    steps = min(len(loader), len(val_loader))
    if config.max_steps is not None:
        steps = min(steps, config.max_steps)
    if steps < 1:
        raise ConfigError(
            f"batch size {config.batch_size} is larger than the {min(len(train_ds), len(val_ds))} images "
            "of each search half; lower --batch or use more images"
        )
    total_steps = config.epochs * steps
    weights = model.weight_parameters()
    alphas = model.arch_parameters()
    for epoch in range(start, config.epochs):
        t0 = time.time()
        loader.set_epoch(epoch)
        val_loader.set_epoch(epoch)
        sums: dict[str, float] = {}
        correct = seen = 0
        method.begin_epoch(epoch, config.epochs)
        model.train()
        for step, ((xt, yt), (xv, yv)) in enumerate(zip(loader, val_loader, strict=False)):
            if step >= steps:
                break
            global_step = epoch * steps + step
            lr = config.w_lr_min + 0.5 * (config.w_lr - config.w_lr_min) * (
                1 + math.cos(math.pi * global_step / total_steps)
            )
            for group in w_opt.param_groups:
                group["lr"] = lr
            seed = _step_seed(config, global_step)
            # 1. architecture step (none while the weights warm up)
            if epoch < config.warmup_epochs:
                record: dict[str, float] = {"warmup": 1.0}
            else:
                g_alpha, record = architecture_step(
                    model,
                    method,
                    (xt, yt),
                    (xv, yv),
                    order=config.order,
                    xi=lr,
                    wd=config.w_wd,
                    seed=seed,
                    w_opt=w_opt,
                    hessian=config.hessian,
                )
                _check(torch.tensor(record["upper"]), "upper-level loss", epoch, step)
                for a, g in zip(alphas, g_alpha, strict=True):
                    a.grad = g.detach()
                a_opt.step()
                a_opt.zero_grad(set_to_none=True)
            # 2. weight step
            model.train()
            loss = method.lower_loss(model, xt, yt, seed)
            _check(loss.detach(), "lower-level loss", epoch, step)
            gw = _grads(loss, weights)
            for p, g in zip(weights, gw, strict=True):
                p.grad = g
            nn.utils.clip_grad_norm_(weights, config.grad_clip)
            w_opt.step()
            w_opt.zero_grad(set_to_none=True)
            record["lower"] = float(loss.detach())
            with torch.no_grad():
                pred = model(xv).argmax(1)
            correct += int((pred == yv).sum())
            seen += int(yv.numel())
            for k, v in record.items():
                sums[k] = sums.get(k, 0.0) + v
            if progress is not None:
                progress(epoch, config.epochs, step + 1, steps, record)
        arch = derive(model, config)
        entry: dict[str, Any] = {
            "epoch": epoch + 1,
            **{k: v / steps for k, v in sums.items()},
            "val_acc": correct / max(seen, 1),
            "lr": lr,
            "arch": _arch_repr(arch),
            "alpha": [F.softmax(a.detach(), dim=-1).cpu().tolist() for a in alphas],
            "alpha_raw": [a.detach().cpu().tolist() for a in alphas],
            "seconds": time.time() - t0,
        }
        if isinstance(model, NB201Supernet | DARTSSupernet):
            entry["expected_params"] = float(model.expected_params().detach())
        history.append(entry)
        if out is not None:
            _atomic_save(
                {
                    "format": FORMAT,
                    "config": config.identity(),
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "w_opt": w_opt.state_dict(),
                    "a_opt": a_opt.state_dict(),
                    "history": history,
                },
                out / CHECKPOINT,
            )
            _atomic_json(history, out / "history.json")
    run = SearchRun(config, model, history, out)
    if out is not None:
        arch = run.derived
        result: dict[str, Any] = {
            "config": config.identity(),
            "epochs_done": len(history),
            "arch": _arch_repr(arch),
        }
        if hasattr(arch, "index"):
            result.update({"index": arch.index, "uid": arch.uid})
        else:
            result["genotype"] = arch.to_dict()
        result["seconds"] = sum(h["seconds"] for h in history)
        _atomic_json(result, out / "result.json")
    return run
