"""Analytical parameter counts of NAS-Bench-201 networks (no torch needed).

The NAS-Bench-201 network (Dong and Yang, ICLR 2020) is a 3x3 conv stem (C channels, BN), three
stages of N cells with C, 2C and 4C channels separated by two residual reduction blocks, a final
BN + ReLU, global pooling and a linear classifier. Inside a cell only the convolutions hold
parameters: ``nor_conv_kxk`` is ReLU-Conv(C, C, k, no bias)-BN(C, affine), i.e. ``k*k*C*C + 2*C``;
``skip_connect``, ``avg_pool_3x3`` (C_in == C_out) and ``none`` have none. A reduction block from
``ci`` to ``co`` channels is ReLU-Conv3x3(ci, co)-BN, ReLU-Conv3x3(co, co)-BN and an
AvgPool + Conv1x1(ci, co) shortcut. Checked equal to NASLib's ``params`` of every architecture in
the zero-cost file (tests/test_analysis.py).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from robnas.spaces.nb201 import NUM_ARCHS, Arch

NUM_CLASSES: dict[str, int] = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}


def count_params(arch: Arch | str | int, num_classes: int = 10, channels: int = 16, cells: int = 5) -> int:
    """Number of trainable parameters of the NAS-Bench-201 network of ``arch`` (C=16, N=5 default)."""
    ops = Arch.parse(arch).op_counts()
    c = channels

    def cell(width: int) -> int:
        return ops["nor_conv_3x3"] * (9 * width * width + 2 * width) + ops["nor_conv_1x1"] * (
            width * width + 2 * width
        )

    def reduction(ci: int, co: int) -> int:
        return (9 * ci * co + 2 * co) + (9 * co * co + 2 * co) + ci * co

    stem = 3 * 9 * c + 2 * c
    body = cells * (cell(c) + cell(2 * c) + cell(4 * c)) + reduction(c, 2 * c) + reduction(2 * c, 4 * c)
    head = 2 * 4 * c + 4 * c * num_classes + num_classes
    return stem + body + head


@cache
def _all_counts(num_classes: int, channels: int, cells: int) -> np.ndarray:
    out = np.array(
        [count_params(Arch.from_index(i), num_classes, channels, cells) for i in range(NUM_ARCHS)],
        dtype=np.int64,
    )
    out.flags.writeable = False
    return out


def param_counts(dataset: str = "cifar10", channels: int = 16, cells: int = 5) -> np.ndarray:
    """Parameter counts of all 15,625 indices for ``dataset``'s number of classes."""
    if dataset not in NUM_CLASSES:
        raise ValueError(f"unknown dataset {dataset!r}; datasets are {', '.join(NUM_CLASSES)}")
    return _all_counts(NUM_CLASSES[dataset], channels, cells)
