"""Robustness evaluation: the one call that attacks a model, with gradient-masking checks.

``evaluate_robustness(model, data, {"pgd": [4, 8], "autoattack": [8]})`` attacks the points that
the model classifies correctly (a point wrong on clean data counts as non-robust for every
attack), so robust accuracy never exceeds clean accuracy. In this mapping form the epsilons are
in **1/255 units**, as in metric names (``pgd@8``), build configurations and the command line;
a value may also be ``{"eps": [8], **settings}`` to pass settings to the attack
(``{"pgd": {"eps": [8], "steps": 20}}``). The older form ``evaluate_robustness(model, data,
["pgd", ("apgd-ce", {"steps": 10})], [8 / 255])`` (epsilons as floats in pixel units, every
attack at every epsilon) still works.

Every evaluation reports, per epsilon, the per-image worst case over the attacks run at that
epsilon (``worst@8``: a point is robust only if it survives every one of them), the robust
accuracy after each component of AutoAttack, and the checks of :mod:`robnas.attacks.checks`.
:meth:`RobustnessResult.metrics` names everything in the benchmarks' convention, masking checks
included (``masking-<check>``: 1 passed, 0 flagged), so a build stores them with the accuracies.
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
from robnas.errors import ConfigError, DataError
from robnas.units import format_epsilon

AttackSpec = str | tuple[str, Mapping[str, Any]]


def eps_label(eps: float) -> str:
    """A pixel-unit epsilon in 1/255 units: ``8/255 -> "8"`` (:func:`robnas.units.format_epsilon`)."""
    return format_epsilon(eps, pixels=True)


def metric_attack_name(name: str, norm: str = "Linf") -> str:
    """The attack part of a metric name: ``pgd`` for L-inf, ``pgd-l2`` for L2."""
    return name if norm == "Linf" else f"{name}-{norm.lower()}"


@dataclass
class RobustnessResult:
    """Accuracies of one evaluation; all fractions in [0, 1], epsilons as floats (pixel units).

    ``accuracy`` is keyed by the metric name of the attack (``pgd``, or ``pgd-l2`` for L2);
    ``components`` holds, for AutoAttack, the robust accuracy after each of its components
    (``components["autoattack"][eps]["square"]``).
    """

    n: int
    clean_accuracy: float
    accuracy: dict[str, dict[float, float]]  # attack name -> eps -> accuracy
    worst_case: dict[float, float]  # eps -> accuracy under the per-image worst case of all attacks
    checks: list[MaskingCheck] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    components: dict[str, dict[float, dict[str, float]]] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Flat metric names in the project's convention: ``clean``, ``pgd@8``, ``worst@8``,
        ``masking-huge_eps`` (1.0 passed, 0.0 flagged)."""
        out = {"clean": self.clean_accuracy}
        for name, per_eps in self.accuracy.items():
            for eps, acc in per_eps.items():
                out[f"{name}@{eps_label(eps)}"] = acc
        for eps, acc in self.worst_case.items():
            out[f"worst@{eps_label(eps)}"] = acc
        for c in self.checks:
            out[f"masking-{c.name}"] = 1.0 if c.passed else 0.0
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
            "components": {
                a: {eps_label(e): comp for e, comp in d.items()} for a, d in self.components.items()
            },
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


@dataclass
class _Plan:
    name: str  # canonical attack name
    label: str  # metric name (with the norm for L2)
    settings: dict[str, Any]
    eps: list[float]  # pixel units


def _eps_255(value: Any, where: str, norm: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: epsilons are numbers in 1/255 units, got {value!r}")
    if not value > 0 or (norm == "Linf" and value > 255):
        raise ConfigError(
            f"{where}: epsilon {value!r} is out of range; give epsilons in 1/255 units in (0, 255]"
        )
    return float(value) / 255


def _plans(attacks: Any, eps_list: Sequence[float] | None) -> list[_Plan]:
    """Normalise both call forms into one plan per attack (epsilons in pixel units)."""
    raw: list[tuple[str, dict[str, Any], list[float]]] = []
    if isinstance(attacks, Mapping):
        if eps_list is not None:
            raise ConfigError(
                "give epsilons either inside the mapping ({'pgd': [8]}, 1/255 units) or as eps_list, not both"
            )
        for name, value in attacks.items():
            if isinstance(value, Mapping):
                settings = dict(value)
                if "eps" not in settings:
                    raise ConfigError(f"attack {name!r}: settings need 'eps' (a list in 1/255 units)")
                eps_values = settings.pop("eps")
            else:
                settings, eps_values = {}, value
            if isinstance(eps_values, int | float):
                eps_values = [eps_values]
            norm = settings.get("norm", "Linf")
            eps = [_eps_255(v, f"attack {name!r}", norm) for v in eps_values]
            raw.append((str(name), settings, eps))
    else:
        if eps_list is None:
            raise ConfigError(
                "give the epsilons: evaluate_robustness(model, data, {'pgd': [8]}) or an eps_list"
            )
        eps = [float(e) for e in eps_list]
        for spec in attacks:
            name, kw = (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1]))
            raw.append((name, kw, list(eps)))
    out: list[_Plan] = []
    for name, settings, eps in raw:
        canonical = canonical_attack_name(name)
        norm = settings.get("norm", "Linf")
        eps = sorted({check_eps(e, norm) for e in eps})
        if not eps:
            raise ConfigError(f"attack {name!r}: give at least one epsilon")
        out.append(_Plan(canonical, metric_attack_name(canonical, norm), settings, eps))
    if not out:
        raise ConfigError("give at least one attack")
    labels = [p.label for p in out]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"attack listed twice: {', '.join(labels)}")
    return out


def _check_pixels(x: Tensor) -> None:
    """Images must be finite pixels in [0, 1]: attacks clip to that box, so normalised images
    (or NaN from a broken pipeline) would give numbers that mean nothing."""
    if not bool(torch.isfinite(x).all()):
        raise DataError("the images contain NaN or inf; robustness cannot be evaluated on them")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise DataError(
            f"pixels must be in [0, 1] (got {lo:.3g} to {hi:.3g}); pass unnormalised images "
            "(robnas networks normalise inside)"
        )


def evaluate_robustness(
    model: nn.Module,
    data: Any,
    attacks: Mapping[str, Any] | Sequence[AttackSpec],
    eps_list: Sequence[float] | None = None,
    *,
    n: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    seed: int = 0,
    checks: bool = True,
    huge_eps: float = 0.5,
    progress: bool = False,
) -> RobustnessResult:
    """Accuracy of ``model`` under each attack at each of its epsilons; see the module docstring.

    ``data`` is a loader of ``(x, y)`` batches with pixels in [0, 1], a dataset with uint8
    ``images`` and ``labels``, or a pair of tensors; ``n`` limits the number of points.
    ``attacks`` maps attack names to epsilons in 1/255 units (``{"pgd": [4, 8]}``), or is a list
    of names / ``(name, settings)`` pairs all run at ``eps_list`` (floats in pixel units).
    ``checks`` adds the gradient-masking checks of :mod:`robnas.attacks.checks` (on at most 256
    correctly classified points).
    """
    plans = _plans(attacks, eps_list)
    eps_all = sorted({e for p in plans for e in p.eps})
    dev = torch.device(device) if device is not None else (model_device(model) or torch.device("cpu"))
    model = model.to(dev)
    built: dict[tuple[str, float], Attack] = {
        (p.label, e): get_attack(p.name, eps=e, seed=seed, device=dev, **p.settings)
        for p in plans
        for e in p.eps
    }
    total = 0
    clean_correct = 0
    robust = dict.fromkeys(built, 0)
    comp_robust: dict[tuple[str, float], dict[str, int]] = {}
    worst = dict.fromkeys(eps_all, 0)
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
        per_image = max(sum(len(p.eps) for p in plans), 1)
        n_total = _length(data, n)
        task = prog.add_task("attacking", total=n_total * per_image if n_total else None)
    try:
        for xb, yb in _batches(data, n, batch_size):
            xb, yb = xb.to(dev).float(), yb.to(dev).long()
            _check_pixels(xb)
            with attack_mode(model), torch.no_grad():
                ok = model(xb).argmax(1) == yb
            total += xb.shape[0]
            clean_correct += int(ok.sum())
            if sum(t.shape[0] for t in check_x) < 256:
                check_x.append(xb[ok])
                check_y.append(yb[ok])
            xc, yc = xb[ok], yb[ok]
            if xc.shape[0] == 0:
                continue
            for e in eps_all:
                alive = torch.ones(xc.shape[0], dtype=torch.bool, device=dev)  # per image, all attacks
                for p in plans:
                    if e not in p.eps:
                        continue
                    attack = built[(p.label, e)]
                    report = getattr(attack, "perturb_with_report", None)
                    if report is not None:
                        x_adv, after = report(model, xc, yc)
                        counts = comp_robust.setdefault((p.label, e), {})
                        for comp, still in after.items():
                            counts[comp] = counts.get(comp, 0) + int(still.sum())
                    else:
                        x_adv = attack(model, xc, yc)
                    with attack_mode(model), torch.no_grad():
                        survived = model(x_adv).argmax(1) == yc
                    robust[(p.label, e)] += int(survived.sum())
                    alive &= survived
                    if prog is not None:
                        prog.update(task, advance=xb.shape[0], description=f"{p.label}@{eps_label(e)}")
                worst[e] += int(alive.sum())
            if prog is not None:  # attacks skipped when no image was classified correctly
                done_now = total * per_image
                prog.update(task, completed=done_now, description=f"{total} images")
    finally:
        if prog is not None:
            prog.stop()
    if total == 0:
        raise ConfigError("no data to evaluate")
    accuracy = {p.label: {e: robust[(p.label, e)] / total for e in p.eps} for p in plans}
    components: dict[str, dict[float, dict[str, float]]] = {}
    for (label, e), counts in comp_robust.items():
        components.setdefault(label, {})[e] = {c: v / total for c, v in counts.items()}
    result = RobustnessResult(
        n=total,
        clean_accuracy=clean_correct / total,
        accuracy=accuracy,
        worst_case={e: worst[e] / total for e in eps_all},
        components=components,
        provenance={
            "seed": seed,
            "attacks": {f"{label}@{eps_label(e)}": a.config() for (label, e), a in built.items()},
            "torch": torch.__version__,
            "python": platform.python_version(),
            "device": str(dev),
            "seconds": round(time.time() - t0, 3),
        },
    )
    if checks:
        xs = torch.cat(check_x)[:256] if check_x else torch.empty(0)
        ys = torch.cat(check_y)[:256] if check_y else torch.empty(0, dtype=torch.long)
        result.checks = run_checks(
            model, result, xs, ys, huge_eps=huge_eps, seed=seed, attacks=[p.name for p in plans]
        )
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
