"""The DARTS evaluation network built from a :class:`~robnas.dnas.derive.Genotype` (Liu et al.,
ICLR 2019, ``NetworkCIFAR``).

Layout: [Normalize] -> conv3x3 (3C) + BN -> ``layers`` cells (reductions at 1/3 and 2/3 of the
depth, channels doubling there) -> global average pooling -> linear. Each cell preprocesses the
outputs of the two previous cells to C channels, computes 4 nodes, each the sum of two
operations of the genotype, and concatenates the nodes of ``*_concat``. Omitted at this scale:
the auxiliary head and drop-path (both training regularisers of the paper's 600-epoch runs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from robnas.dnas.darts_ops import darts_op
from robnas.dnas.derive import Genotype
from robnas.models.ops import FactorizedReduce, Normalize, ReLUConvBN


class DARTSCell(nn.Module):
    """One cell of the evaluation network (affine BatchNorms)."""

    def __init__(
        self, genotype: Genotype, C_pp: int, C_p: int, C: int, reduction: bool, reduction_prev: bool
    ):
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module = (
            FactorizedReduce(C_pp, C, 2) if reduction_prev else ReLUConvBN(C_pp, C, 1, 1, 0)
        )
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0)
        edges = genotype.reduce if reduction else genotype.normal
        self.concat = genotype.reduce_concat if reduction else genotype.normal_concat
        self.inputs = [src for _, src in edges]
        self.ops = nn.ModuleList([darts_op(op, C, C, 2 if reduction and src < 2 else 1) for op, src in edges])
        self.multiplier = len(self.concat)

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self.ops) // 2):
            a, b = 2 * i, 2 * i + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat([states[i] for i in self.concat], dim=1)


class DARTSNetwork(nn.Module):
    """DARTS' CIFAR evaluation network for ``genotype`` (``layers = 3N + 2``; DARTS: C=36, 20 layers)."""

    def __init__(
        self,
        genotype: Genotype,
        C: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__()
        if layers < 3:
            raise ValueError(f"a DARTS network needs at least 3 layers (two are reductions), got {layers}")
        self.genotype = genotype
        self.normalize = Normalize(mean, std) if mean is not None and std is not None else None
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr)
        )
        c_pp, c_p, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = DARTSCell(genotype, c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if self.normalize is not None:
            x = self.normalize(x)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))
