"""Analyses of the robustness benchmarks that reproduce the papers' findings.

* Jung, Lukasik, Keuper (ICLR 2023): among architectures with the same parameter count, the mean
  adversarial accuracy spans a wide range (abstract: 20% to 41%). :func:`mean_adversarial_accuracy`
  states exactly what is averaged; :func:`same_params_spread` groups by parameter count.
* Wu, Liu, Simon-Gabriel, Chrysos, Cevher (ICLR 2024): FGSM and PGD accuracy at 8/255 of the
  adversarially trained networks rank architectures almost identically; see
  :func:`robnas.analysis.correlation.correlate`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from robnas.benchmarks import BenchmarkSource, Metric
from robnas.errors import ConfigError

JUNG_ATTACKS: tuple[str, ...] = ("fgsm", "pgd", "apgd-ce", "square")


def adversarial_metrics(
    source: BenchmarkSource,
    dataset: str = "cifar10",
    attacks: Sequence[str] = JUNG_ATTACKS,
    max_epsilon: float = 8.0,
) -> list[Metric]:
    """The source's L-inf attack accuracy metrics on ``dataset`` with epsilon <= ``max_epsilon``."""
    return [
        m
        for m in source.metrics()
        if m.dataset == dataset
        and m.kind == "attack"
        and m.quantity == "accuracy"
        and m.norm == "linf"
        and m.name in attacks
        and m.epsilon is not None
        and m.epsilon <= max_epsilon
    ]


def mean_adversarial_accuracy(
    source: BenchmarkSource,
    dataset: str = "cifar10",
    attacks: Sequence[str] = JUNG_ATTACKS,
    max_epsilon: float = 8.0,
) -> tuple[np.ndarray, list[Metric]]:
    """Unweighted mean over the metrics of :func:`adversarial_metrics` (all 15,625 indices).

    For ``jung2023`` on CIFAR-10 the default is 31 metrics: FGSM at 0.1, 0.5, 1..8/255, PGD,
    APGD-CE and Square at 0.1, 0.5, 1, 2, 3, 4, 8/255 (FGSM at 255/255 excluded).
    """
    metrics = adversarial_metrics(source, dataset, attacks, max_epsilon)
    if not metrics:
        raise ConfigError(f"{source.name} has no attack metrics on {dataset} with epsilon <= {max_epsilon:g}")
    stack = np.stack([source.values(m).astype(np.float64) for m in metrics])
    return stack.mean(axis=0), metrics


def same_params_spread(values: np.ndarray, params: np.ndarray, indices: np.ndarray) -> pd.DataFrame:
    """Per parameter count: number of architectures, min, max and spread (max - min) of ``values``.

    Only ``indices`` (e.g. the 6,466 class representatives) are used; rows sorted by count.
    """
    df = pd.DataFrame({"params": params[indices], "value": values[indices]}).dropna()
    out = df.groupby("params")["value"].agg(["count", "min", "max", "mean"])
    out["spread"] = out["max"] - out["min"]
    return out.sort_values(["count", "spread"], ascending=False)
