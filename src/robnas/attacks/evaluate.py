"""Robustness evaluation: accuracy per attack and epsilon, with gradient-masking checks.

:func:`evaluate_robustness` attacks the points that the model classifies correctly (a point
wrong on clean data counts as non-robust for every attack), so robust accuracy never exceeds
clean accuracy. Every evaluation reports the worst case over all attacks at each epsilon (a
point is robust only if it survives every attack) and the checks of :mod:`robnas.attacks.checks`.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from robnas.attacks.base import (
    Attack,
    attack_mode,
    canonical_attack_name,
    check_eps,
    get_attack,
    model_device,
)
from robnas.attacks.checks import MaskingCheck, run_checks
from robnas.errors import ConfigError
from robnas.units import format_epsilon

AttackSpec = str | tuple[str, Mapping[str, Any]]


def eps_label(eps: float) -> str:
    """A pixel-unit epsilon in 1/255 units: ``8/255 -> "8"`` (:func:`robnas.units.format_epsilon`)."""
    return format_epsilon(eps, pixels=True)


@dataclass
class RobustnessResult:
    """Accuracies of one evaluation; all fractions in [0, 1], epsilons as floats."""

    n: int
    clean_accuracy: float
    accuracy: dict[str, dict[float, float]]  # attack name -> eps -> accuracy
    worst_case: dict[float, float]  # eps -> accuracy under the worst case of all attacks
    checks: list[MaskingCheck] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Flat metric names in the project's convention: ``clean``, ``pgd@8``, ``worst@8``."""
        out = {"clean": self.clean_accuracy}
        for name, per_eps in self.accuracy.items():
            for eps, acc in per_eps.items():
                out[f"{name}@{eps_label(eps)}"] = acc
        for eps, acc in self.worst_case.items():
            out[f"worst@{eps_label(eps)}"] = acc
        return out

    @property
    def masking_suspected(self) -> bool:
        return any(not c.passed for c in self.checks)

    def __repr__(self) -> str:
        """``RobustnessResult(n=500, clean 0.912, fgsm@8 0.31, pgd@8 0.12, worst@8 0.11)``."""
        shown = ", ".join(f"{k} {v:.3g}" for k, v in self.metrics().items())
        flag = ", masking suspected" if self.masking_suspected else ""
        return f"RobustnessResult(n={self.n}, {shown}{flag})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "clean_accuracy": self.clean_accuracy,
            "accuracy": {a: {eps_label(e): v for e, v in d.items()} for a, d in self.accuracy.items()},
            "worst_case": {eps_label(e): v for e, v in self.worst_case.items()},
            "metrics": self.metrics(),
            "checks": [asdict(c) for c in self.checks],
            "provenance": self.provenance,
        }


def _batches(data: Any, n: int | None, batch_size: int) -> Iterable[tuple[Tensor, Tensor]]:
    """Yield (x, y) batches from a loader, a dataset with ``images``/``labels``, or a tensor pair."""
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], Tensor):
        x, y = data
        if n is not None:
            x, y = x[:n], y[:n]
        for i in range(0, x.shape[0], batch_size):
            yield x[i : i + batch_size], y[i : i + batch_size]
        return
    if hasattr(data, "images") and hasattr(data, "labels"):
        imgs, labels = data.images, data.labels
        imgs = torch.as_tensor(imgs)
        labels = torch.as_tensor(labels)
        if n is not None:
            imgs, labels = imgs[:n], labels[:n]
        for i in range(0, imgs.shape[0], batch_size):
            xb = imgs[i : i + batch_size]
            xb = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb.float()
            yield xb, labels[i : i + batch_size].long()
        return
    seen = 0
    for xb, yb in data:
        if n is not None:
            if seen >= n:
                break
            xb, yb = xb[: n - seen], yb[: n - seen]
        seen += xb.shape[0]
        yield xb, yb


def _length(data: Any, n: int | None) -> int | None:
    """How many points :func:`_batches` will yield, when it can be known beforehand."""
    size: int | None = None
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], Tensor):
        size = int(data[0].shape[0])
    elif hasattr(data, "labels"):
        size = len(data.labels)
    elif hasattr(data, "dataset") and hasattr(data.dataset, "__len__"):
        size = len(data.dataset)
    if size is None:
        return n
    return size if n is None else min(n, size)


def _resolve(specs: Sequence[AttackSpec]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for spec in specs:
        name, kw = (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1]))
        out.append((canonical_attack_name(name), kw))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"attack listed twice: {', '.join(names)}")
    return out


def evaluate_robustness(
    model: nn.Module,
    data: Any,
    attacks: Sequence[AttackSpec],
    eps_list: Sequence[float],
    *,
    n: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    checks: bool = True,
    huge_eps: float = 0.5,
    progress: bool = False,
) -> RobustnessResult:
    """Accuracy of ``model`` under each attack at each epsilon (floats, e.g. ``8 / 255``).

    ``data`` is a loader of ``(x, y)`` batches with pixels in [0, 1], a dataset with uint8
    ``images`` and ``labels``, or a pair of tensors; ``n`` limits the number of points.
    ``attacks`` are names (``"pgd"``) or ``(name, kwargs)`` pairs. ``checks`` adds the
    gradient-masking checks (one extra PGD run at ``huge_eps`` on at most 256 points).
    """
    specs = _resolve(attacks)
    eps_sorted = sorted(check_eps(float(e)) for e in eps_list)
    if not eps_sorted:
        raise ConfigError("give at least one epsilon")
    dev = torch.device(device) if device is not None else (model_device(model) or torch.device("cpu"))
    model = model.to(dev)
    built: dict[tuple[str, float], Attack] = {
        (name, e): get_attack(name, eps=e, seed=seed, device=dev, **kw)
        for name, kw in specs
        for e in eps_sorted
    }
    total = 0
    clean_correct = 0
    robust = {(name, e): 0 for name, _ in specs for e in eps_sorted}
    worst = dict.fromkeys(eps_sorted, 0)
    check_x: list[Tensor] = []
    check_y: list[Tensor] = []
    t0 = time.time()

    prog = None
    if progress:
        from robnas.progress import make_progress

        # one unit = one image through one attack at one epsilon, so that the bar (or the plain
        # lines off a terminal) moves during each batch, not only between batches
        prog = make_progress(transient=True)
        prog.start()
        per_image = max(len(specs) * len(eps_sorted), 1)
        n_total = _length(data, n)
        task = prog.add_task("attacking", total=n_total * per_image if n_total else None)
    try:
        for xb, yb in _batches(data, n, batch_size):
            xb, yb = xb.to(dev).float(), yb.to(dev).long()
            with attack_mode(model), torch.no_grad():
                ok = model(xb).argmax(1) == yb
            total += xb.shape[0]
            clean_correct += int(ok.sum())
            if sum(t.shape[0] for t in check_x) < 256:
                check_x.append(xb[ok])
                check_y.append(yb[ok])
            xc, yc = xb[ok], yb[ok]
            for e in eps_sorted:
                alive = torch.ones(xc.shape[0], dtype=torch.bool, device=dev)
                for name, _ in specs:
                    if xc.shape[0] == 0:
                        break
                    x_adv = built[(name, e)](model, xc, yc)
                    with attack_mode(model), torch.no_grad():
                        survived = model(x_adv).argmax(1) == yc
                    robust[(name, e)] += int(survived.sum())
                    alive &= survived
                    if prog is not None:
                        prog.update(task, advance=xb.shape[0], description=f"{name}@{eps_label(e)}")
                worst[e] += int(alive.sum())
            if prog is not None:  # attacks skipped when no image was classified correctly
                done_now = total * per_image
                prog.update(task, completed=done_now, description=f"{total} images")
    finally:
        if prog is not None:
            prog.stop()
    if total == 0:
        raise ConfigError("no data to evaluate")
    accuracy = {name: {e: robust[(name, e)] / total for e in eps_sorted} for name, _ in specs}
    result = RobustnessResult(
        n=total,
        clean_accuracy=clean_correct / total,
        accuracy=accuracy,
        worst_case={e: worst[e] / total for e in eps_sorted},
        provenance={
            "seed": seed,
            "attacks": {f"{name}@{eps_label(e)}": a.config() for (name, e), a in built.items()},
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(dev),
            "seconds": round(time.time() - t0, 3),
        },
    )
    if checks:
        xs = torch.cat(check_x)[:256] if check_x else torch.empty(0)
        ys = torch.cat(check_y)[:256] if check_y else torch.empty(0, dtype=torch.long)
        result.checks = run_checks(model, result, xs, ys, huge_eps=huge_eps, seed=seed)
    return result


def evaluate_corruptions(
    model: nn.Module,
    data: Any,
    corruptions: Sequence[str],
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    n: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
) -> dict[str, dict[int, float]]:
    """Accuracy of ``model`` on each corruption at each severity (CIFAR-10-C procedure).

    The corruption seed of a batch is ``(seed, batch index)``, so results are deterministic.
    """
    from robnas.attacks.corruptions import _check, corrupt

    for name in corruptions:
        for s in severities:
            _check(name, s)
    dev = torch.device(device) if device is not None else (model_device(model) or torch.device("cpu"))
    correct = {(c, s): 0 for c in corruptions for s in severities}
    total = 0
    with attack_mode(model), torch.no_grad():
        for b, (xb, yb) in enumerate(_batches(data, n, batch_size)):
            xb, yb = xb.float(), yb.to(dev).long()
            total += xb.shape[0]
            for c in corruptions:
                for s in severities:
                    xc = corrupt(xb.cpu(), c, s, seed=seed * 1_000_003 + b).to(dev)
                    correct[(c, s)] += int((model(xc).argmax(1) == yb).sum())
    if total == 0:
        raise ConfigError("no data to evaluate")
    return {c: {s: correct[(c, s)] / total for s in severities} for c in corruptions}
