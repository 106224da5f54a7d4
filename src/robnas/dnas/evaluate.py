"""Evaluate what a search found.

* NAS-Bench-201 cells (:func:`lookup_nb201`): the benchmark values of the cell in ``jung2023``
  (standard training; clean, PGD@1, PGD@8), ``nasrobbench201`` (PGD-7 adversarial training;
  clean, PGD@3, PGD@8) and ``natsbench`` (test accuracy after 200 epochs), all on CIFAR-10.
  Sources whose files are missing are reported as such, not dropped silently.
* DARTS genotypes (:func:`evaluate_genotype`): train the evaluation network briefly with a
  :mod:`robnas.training` preset and attack it with :mod:`robnas.attacks` (clean and PGD accuracy
  on a test subset).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from robnas.errors import ConfigError, MissingFileError, RobnasError
from robnas.spaces.darts import Genotype
from robnas.spaces.nb201 import Arch
from robnas.utils import read_json

BENCH_METRICS: dict[str, tuple[str, ...]] = {
    "jung2023": ("cifar10/clean", "cifar10/pgd@1", "cifar10/pgd@8"),
    "nasrobbench201": ("cifar10/clean", "cifar10/pgd@3", "cifar10/pgd@8"),
    "natsbench": ("cifar10/test-acc-200",),
}


def lookup_nb201(arch: Arch | str | int, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{source: {metric: value} | {"error": why}}`` for one NAS-Bench-201 cell."""
    from robnas.benchmarks import get_source

    a = Arch.parse(arch)
    out: dict[str, Any] = {"arch": a.string, "index": a.index, "uid": a.uid}
    for name, metrics in BENCH_METRICS.items():
        try:
            out[name] = get_source(name, root).query(a, metrics)
        except (RobnasError, FileNotFoundError) as exc:
            out[name] = {"error": str(exc).splitlines()[0]}
    return out


def benchmark_optimum(root: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """For each source and metric of :data:`BENCH_METRICS`: the best value and its cell."""
    import numpy as np

    from robnas.benchmarks import get_source

    out: dict[str, dict[str, Any]] = {}
    for name, metrics in BENCH_METRICS.items():
        src = get_source(name, root)
        for m in metrics:
            v = src.values(m)
            i = int(np.nanargmax(v))
            out[f"{name}:{m}"] = {"value": float(v[i]), "arch": Arch.from_index(i).string}
    return out


def read_run(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``result.json`` of a search run directory (or, if unfinished, its last epoch)."""
    p = Path(path)
    if (p / "result.json").is_file():
        return read_json(p / "result.json", "search result")
    if (p / "history.json").is_file():
        hist = read_json(p / "history.json", "search history")
        cfg = read_json(p / "config.json", "search configuration") if (p / "config.json").is_file() else {}
        if not hist:
            raise RobnasError(f"{p}: no epoch has finished yet")
        return {"config": cfg, "epochs_done": len(hist), "arch": hist[-1]["arch"], "unfinished": True}
    raise MissingFileError(f"{p} is not a search run directory (no result.json or history.json)")


def is_run_dir(value: str) -> bool:
    """Whether ``value`` names an existing folder; ``False`` where it cannot be a path at all (a
    ``Genotype(...)`` string is usually longer than a file name may be, and ``Path.is_dir`` of
    Python 3.11 raises ``OSError`` on such a name)."""
    try:
        return Path(value).is_dir()
    except (OSError, ValueError):
        return False


def parse_found(value: str) -> Arch | Genotype:
    """A run directory, a NAS-Bench-201 string or index, or a DARTS ``Genotype(...)`` string."""
    p = Path(value)
    if is_run_dir(value):
        res = read_run(p)
        if "genotype" in res:
            return Genotype.from_dict(res["genotype"])
        text = res["arch"]
        return Genotype.parse(text) if text.startswith("Genotype") else Arch.parse(text)
    if value.strip().startswith("Genotype"):
        return Genotype.parse(value)
    if p.suffix == ".json" and p.is_file():
        return parse_found(str(p.parent))
    try:
        return Arch.parse(int(value) if value.strip().isdigit() else value)
    except ValueError as exc:
        raise ConfigError(
            f"{value!r} is neither a search run directory, a NAS-Bench-201 cell nor a DARTS genotype ({exc})"
        ) from None


def evaluate_genotype(
    genotype: Genotype,
    *,
    dataset: str = "cifar10",
    C: int = 8,
    layers: int = 5,
    epochs: int = 3,
    n_train: int = 2000,
    n_test: int = 500,
    eps: float = 8 / 255,
    preset: str = "cpu-tiny",
    adversarial: bool = False,
    attacks: tuple[str, ...] = ("pgd",),
    drop_path: float = 0.0,
    auxiliary: bool = False,
    auxiliary_weight: float = 0.4,
    certified: bool = True,
    seed: int = 0,
    device: str = "cpu",
    root: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The papers' protocol at a chosen scale: retrain the DARTS network of ``genotype`` from
    scratch (standard training, or PGD adversarial training with ``adversarial=True``: PGD-7 at
    ``eps``, step ``eps / 4``), then measure clean accuracy, the accuracy under each of ``attacks``
    at ``eps`` (``pgd`` is PGD-20; any attack of :mod:`robnas.attacks` can be named, e.g.
    ``autoattack`` once it is registered) and, with ``certified``, the certified radius (mean log10
    of IBP's linear-regime radius of the prediction, :func:`robnas.measures.bounds.linear_regime_radius`,
    in float64). ``drop_path`` is DARTS' drop-path probability, raised linearly over the epochs.
    ``auxiliary`` trains with DARTS' auxiliary head on the second reduction cell, its
    cross-entropy weighted by ``auxiliary_weight`` in the loss (every training objective, on the
    same inputs as the main cross-entropy: the adversarial ones for ``adversarial``); the head is
    discarded after training and ``params`` leaves it out, as DARTS reports its sizes.
    Paper scale (DARTS: auxiliary head with weight 0.4, C=36, 20 layers, 600 epochs on all of
    CIFAR-10, drop-path 0.2, cutout) is the same call with ``auxiliary=True``,
    ``auxiliary_weight=0.4``, ``C=36``, ``layers=20``, ``epochs=600``, ``drop_path=0.2``,
    ``n_train=50000``, on a GPU (``device="cuda"``), and a preset with DARTS' optimiser (batch
    96, SGD with momentum 0.9 from 0.025, cosine annealing, weight decay 3e-4); not reproduced:
    cutout (robnas's augmentation is random crop and flip) and DARTS' gradient clipping at 5."""
    import copy
    import math

    import torch

    from robnas.attacks import evaluate_robustness
    from robnas.data import load_dataset
    from robnas.models import count_params
    from robnas.models.darts import DARTSNetwork
    from robnas.training import train
    from robnas.training.objectives import check_auxiliary_weight
    from robnas.training.presets import get_preset

    auxiliary_weight = check_auxiliary_weight(auxiliary_weight)
    train_ds = load_dataset(dataset, "train", root=root).take(n_train, seed=seed)
    test_ds = load_dataset(dataset, "test", root=root).take(n_test, seed=seed)
    info = train_ds.info
    torch.manual_seed(seed)
    model = DARTSNetwork(
        genotype, C, layers, info.num_classes, info.channels, info.mean, info.std, auxiliary=auxiliary
    )
    p = get_preset(preset).replace(auxiliary_weight=auxiliary_weight)
    if adversarial:
        p = p.replace(objective="pgd-at", eps=eps, step_size=eps / 4, steps=7)

    def schedule(record: Any) -> None:  # DARTS: drop_path_prob * epoch / epochs, set per epoch
        done = int(getattr(record, "epoch", 0))
        model.set_drop_path(drop_path * min(done, epochs) / max(epochs, 1))

    model.set_drop_path(0.0)
    train(
        model,
        train_ds,
        None,
        p,
        seed=seed,
        device=device,
        out_dir=out_dir,
        epochs=epochs,
        progress=progress,
        callbacks=[schedule] if drop_path > 0 else (),
    )
    model.eval()
    specs: list[Any] = [("pgd", {"steps": 20}) if a == "pgd" else a for a in attacks]
    res = evaluate_robustness(model, test_ds, specs, [eps], device=device, seed=seed, checks=False)
    out: dict[str, Any] = {
        "genotype": genotype.to_dict(),
        "params": count_params(model),
        "settings": {
            "dataset": dataset,
            "C": C,
            "layers": layers,
            "epochs": epochs,
            "n_train": n_train,
            "n_test": n_test,
            "preset": p.name,
            "adversarial": adversarial,
            "attacks": list(attacks),
            "drop_path": drop_path,
            "auxiliary": auxiliary,
            "auxiliary_weight": auxiliary_weight,
            "seed": seed,
        },
    }
    out.update(_robustness_dict(res))
    if certified:
        from robnas.measures.bounds import linear_regime_radius

        net = copy.deepcopy(model).cpu().double().eval()
        x = torch.as_tensor(test_ds.images[: min(len(test_ds), 64)]).double() / 255
        with torch.no_grad():
            pred = net(x).argmax(1)
            r, _ = linear_regime_radius(net, x, pred)
        out["certified_log10_radius"] = (
            float(r.clamp_min(1e-300).log10().mean()) if math.isfinite(float(r.mean())) else float("nan")
        )
    return out


def _robustness_dict(res: Any) -> dict[str, Any]:
    if hasattr(res, "to_dict"):
        return {"robustness": res.to_dict()}
    return {"robustness": str(res)}
