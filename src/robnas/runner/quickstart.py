"""The configuration of ``robnas quickstart``: a small robustness benchmark built end to end.

It samples unique NAS-Bench-201 architectures, trains each with a small CPU protocol, attacks it
with FGSM, PGD and APGD-CE at several epsilons, applies four corruptions, and computes cheap
measures at initialisation, all through the same builder as ``robnas build`` (so it is resumable
and its results are a benchmark source). The defaults take about five minutes on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robnas.errors import ConfigError

QUICKSTART_MEASURES = ("jacobian", "jacobian_top", "ntk", "ntk_mixed", "naswot", "synflow", "snip")

# dataset -> protocol defaults (epsilons in units of 1/255). Digits are 8x8 images with 17 grey
# levels, so they need larger epsilons than CIFAR-10 before architectures differ.
DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {
        "epochs": 10,
        "C": 16,
        "N": 1,
        "eps": [4, 8, 16],
        "train_examples": None,
        "eval_examples": None,
    },
    "cifar10": {
        "epochs": 6,
        "C": 16,
        "N": 1,
        "eps": [1, 2, 4, 8],
        "train_examples": 2000,
        "eval_examples": 500,
    },
}


def quickstart_config(
    n: int = 20,
    seed: int = 0,
    dataset: str = "digits",
    root: str | None = None,
    out_dir: str | Path = "quickstart-out",
    epochs: int | None = None,
    channels: int | None = None,
    cells: int | None = None,
    measures: tuple[str, ...] = QUICKSTART_MEASURES,
    device: str = "auto",
) -> dict[str, Any]:
    """The build configuration (a dict for :func:`robnas.runner.build`) of the quickstart."""
    if not isinstance(n, int) or n < 2:
        raise ConfigError(f"the quickstart needs at least 2 architectures to compare, got {n!r}")
    d = DEFAULTS.get(dataset, DEFAULTS["cifar10"])
    training: dict[str, Any] = {"preset": "cpu-small", "epochs": epochs or d["epochs"]}
    if d["train_examples"]:
        training["examples"] = d["train_examples"]
    evaluation: dict[str, Any] = {"batch_size": 256, "measure_batch": 32}
    if d["eval_examples"]:
        evaluation["examples"] = d["eval_examples"]
    eps = list(d["eps"])
    return {
        "name": f"quickstart-{dataset}",
        "kind": "train-attack",
        "architectures": f"sample:{n}",
        "sample_seed": seed,
        "dataset": dataset,
        "root": str(root) if root else None,
        "training": training,
        "model": {"C": channels or d["C"], "N": cells or d["N"]},
        "seeds": [seed],
        "attacks": {"fgsm": eps, "pgd": eps, "apgd-ce": [eps[-1]]},
        "corruptions": {"gaussian_noise": [3], "contrast": [3], "fog": [3], "pixelate": [3]},
        "measures": list(measures),
        "eval": evaluation,
        "output": str(Path(out_dir).resolve() / "quickstart.sqlite"),
        "retries": 1,
        "device": device,
    }
