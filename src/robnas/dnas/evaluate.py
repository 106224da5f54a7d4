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

import json
import os
from pathlib import Path
from typing import Any

from robnas.errors import RobnasError
from robnas.spaces.darts import Genotype
from robnas.spaces.nb201 import Arch

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
        return json.loads((p / "result.json").read_text())
    if (p / "history.json").is_file():
        hist = json.loads((p / "history.json").read_text())
        cfg = json.loads((p / "config.json").read_text()) if (p / "config.json").is_file() else {}
        if not hist:
            raise RobnasError(f"{p}: no epoch has finished yet")
        return {"config": cfg, "epochs_done": len(hist), "arch": hist[-1]["arch"], "unfinished": True}
    raise FileNotFoundError(f"{p} is not a search run directory (no result.json or history.json)")


def parse_found(value: str) -> Arch | Genotype:
    """A run directory, a NAS-Bench-201 string or index, or a DARTS ``Genotype(...)`` string."""
    p = Path(value)
    if p.is_dir():
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
        raise ValueError(
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
    seed: int = 0,
    device: str = "cpu",
    root: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the DARTS network of ``genotype`` briefly and measure clean and PGD-20 accuracy."""
    import torch

    from robnas.attacks import evaluate_robustness
    from robnas.data import load_dataset
    from robnas.models import count_params
    from robnas.models.darts import DARTSNetwork
    from robnas.training import train

    train_ds = load_dataset(dataset, "train", root=root).take(n_train, seed=seed)
    test_ds = load_dataset(dataset, "test", root=root).take(n_test, seed=seed)
    info = train_ds.info
    torch.manual_seed(seed)
    model = DARTSNetwork(genotype, C, layers, info.num_classes, info.channels, mean=info.mean, std=info.std)
    train(
        model,
        train_ds,
        None,
        preset,
        seed=seed,
        device=device,
        out_dir=out_dir,
        epochs=epochs,
        progress=progress,
    )
    res = evaluate_robustness(
        model, test_ds, [("pgd", {"steps": 20})], [eps], device=device, seed=seed, checks=False
    )
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
            "preset": preset,
            "seed": seed,
        },
    }
    out.update(_robustness_dict(res))
    return out


def _robustness_dict(res: Any) -> dict[str, Any]:
    if hasattr(res, "to_dict"):
        return {"robustness": res.to_dict()}
    return {"robustness": str(res)}
