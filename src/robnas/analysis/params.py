"""Parameter counts and FLOPs of NAS-Bench-201 networks for all 15,625 indices at once.

The per-architecture formulas live in :mod:`robnas.models.nb201` (``nb201_param_count``,
``nb201_flops``), where they are checked against counts of real modules and against NASLib's
zero-cost file; this module only vectorises them over the space for analysis and search.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from robnas.errors import ConfigError
from robnas.spaces.nb201 import NUM_ARCHS, Arch

NUM_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}
INPUT_SIZE: dict[str, tuple[int, int, int]] = {
    "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32),
    "imagenet16-120": (3, 16, 16),
}


def count_params(arch: Arch | str | int, num_classes: int = 10, channels: int = 16, cells: int = 5) -> int:
    """Trainable parameters of the NAS-Bench-201 network of ``arch`` (C=16, N=5 by default)."""
    from robnas.models.nb201 import nb201_param_count

    return nb201_param_count(arch, C=channels, N=cells, num_classes=num_classes)


def _check(dataset: str) -> None:
    if dataset not in NUM_CLASSES:
        raise ConfigError(f"unknown dataset {dataset!r}; datasets are {', '.join(NUM_CLASSES)}")


@cache
def _all(kind: str, dataset: str, channels: int, cells: int) -> np.ndarray:
    from robnas.models.nb201 import nb201_flops, nb201_param_count

    classes = NUM_CLASSES[dataset]
    if kind == "params":
        vals = [nb201_param_count(Arch.from_index(i), channels, cells, classes) for i in range(NUM_ARCHS)]
    else:
        size = INPUT_SIZE[dataset]
        vals = [nb201_flops(Arch.from_index(i), channels, cells, classes, size) for i in range(NUM_ARCHS)]
    out = np.array(vals, dtype=np.int64)
    out.flags.writeable = False
    return out


def param_counts(dataset: str = "cifar10", channels: int = 16, cells: int = 5) -> np.ndarray:
    """Parameter counts of all 15,625 indices for ``dataset``'s number of classes."""
    _check(dataset)
    return _all("params", dataset, channels, cells)


def flop_counts(dataset: str = "cifar10", channels: int = 16, cells: int = 5) -> np.ndarray:
    """FLOPs (NASLib's convention, see :mod:`robnas.models.sizes`) of all 15,625 indices."""
    _check(dataset)
    return _all("flops", dataset, channels, cells)
