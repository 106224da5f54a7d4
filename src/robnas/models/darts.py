"""The DARTS evaluation network built from a :class:`~robnas.spaces.darts.Genotype` (Liu et al.,
ICLR 2019, ``NetworkCIFAR``), and the macro skeleton it shares with DARTS' search network.

Layout: [Normalize] -> conv3x3 (3C) + BN -> ``layers`` cells (reductions at 1/3 and 2/3 of the
depth, channels doubling there) -> global average pooling -> linear. Each cell preprocesses the
outputs of the two previous cells to C channels, computes 4 nodes, each the sum of two
operations of the genotype, and concatenates the nodes of ``*_concat``. Drop-path (DARTS'
``drop_path``: each non-identity operation's output zeroed per sample with probability ``p`` and
scaled by ``1 / (1 - p)`` in training; set by :meth:`DARTSNetwork.set_drop_path`, which DARTS
raises linearly over the epochs) is built in.

Auxiliary head (DARTS' ``--auxiliary``, ``AuxiliaryHeadCIFAR``): with ``auxiliary=True`` an
:class:`AuxiliaryHead` classifies the output of the cell at 2/3 of the depth (the second reduction
cell), in training mode only. ``forward`` still returns the main logits alone (attacks, bounds and
evaluation see one tensor); the auxiliary logits of the last forward pass are read with
:meth:`DARTSNetwork.auxiliary_logits` (``None`` in eval mode or without the head), which the
training objectives of :mod:`robnas.training.objectives` add as ``auxiliary_weight * CE`` (DARTS:
0.4). The head is discarded after training: :func:`robnas.models.count_params` leaves its
parameters out (as DARTS' ``count_parameters_in_MB``), and it never runs in eval mode, so
:func:`robnas.models.count_flops` and the certified bounds ignore it too.

Cells describe their graph by :meth:`DARTSCell.node_terms` (for every intermediate node, the
``(operation, input state, weight)`` terms summed into it), the one walk used by certified
bounds (:mod:`robnas.measures.bounds`) for evaluation and search cells alike.

:class:`DARTSMacro` is the skeleton (stem, cell stack with its channel bookkeeping, head); the
cells come from a factory, so that the search supernet (:class:`robnas.dnas.DARTSSupernet`)
builds its mixed-operation cells in the same skeleton.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Self

import torch
from torch import Tensor, nn

from robnas.errors import ConfigError
from robnas.models.darts_ops import darts_op
from robnas.models.ops import FactorizedReduce, Normalize, ReLUConvBN
from robnas.spaces.darts import Genotype

DARTSCellFactory = Callable[[int, int, int, bool, bool], nn.Module]
"""``factory(C_pp, C_p, C, reduction, reduction_prev) -> cell``; the cell has ``multiplier``
(its output has ``multiplier * C`` channels) and ``reduction`` attributes."""


def reduction_layers(layers: int) -> tuple[int, int]:
    """The positions of the two reduction cells in a stack of ``layers`` cells (1/3 and 2/3)."""
    return layers // 3, 2 * layers // 3


def darts_preprocess(
    C_pp: int, C_p: int, C: int, reduction_prev: bool, affine: bool = True, track_running_stats: bool = True
) -> tuple[nn.Module, nn.Module]:
    """A DARTS cell's input adapters: the outputs of cells ``k-2`` and ``k-1`` to ``C`` channels
    (the former also halved in size after a reduction cell)."""
    pre0: nn.Module = (
        FactorizedReduce(C_pp, C, 2, affine, track_running_stats)
        if reduction_prev
        else ReLUConvBN(C_pp, C, 1, 1, 0, 1, affine, track_running_stats)
    )
    return pre0, ReLUConvBN(C_p, C, 1, 1, 0, 1, affine, track_running_stats)


class DARTSCell(nn.Module):
    """One cell of the evaluation network (affine BatchNorms)."""

    def __init__(
        self, genotype: Genotype, C_pp: int, C_p: int, C: int, reduction: bool, reduction_prev: bool
    ):
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = darts_preprocess(C_pp, C_p, C, reduction_prev)
        edges = genotype.reduce if reduction else genotype.normal
        self.concat = genotype.reduce_concat if reduction else genotype.normal_concat
        self.inputs = [src for _, src in edges]
        self.ops = nn.ModuleList([darts_op(op, C, C, 2 if reduction and src < 2 else 1) for op, src in edges])
        self.multiplier = len(self.concat)
        self.drop_prob = 0.0

    def node_terms(self, weights: Tensor | None = None) -> list[list[tuple[nn.Module, int, Tensor | None]]]:
        """For nodes 2, 3, ...: the ``(operation, input state, weight)`` terms summed into the node
        (states 0 and 1 are the preprocessed inputs; weights are ``None``: plain sums)."""
        return [
            [(self.ops[2 * i], self.inputs[2 * i], None), (self.ops[2 * i + 1], self.inputs[2 * i + 1], None)]
            for i in range(len(self.ops) // 2)
        ]

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self.ops) // 2):
            a, b = 2 * i, 2 * i + 1
            states.append(self._op(a, states[self.inputs[a]]) + self._op(b, states[self.inputs[b]]))
        return torch.cat([states[i] for i in self.concat], dim=1)

    def _op(self, k: int, h: Tensor) -> Tensor:
        op = self.ops[k]
        out = op(h)
        if self.training and self.drop_prob > 0 and not isinstance(op, nn.Identity):
            keep = 1.0 - self.drop_prob
            mask = torch.bernoulli(
                torch.full((out.shape[0], 1, 1, 1), keep, device=out.device, dtype=out.dtype)
            )
            out = out * mask / keep
        return out


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier (``AuxiliaryHeadCIFAR``) on a map of ``C_in`` channels.

    ReLU -> average pooling to 2x2 -> 1x1 conv to 128 + BN + ReLU -> 2x2 conv to 768 + BN + ReLU
    -> linear to ``num_classes``. DARTS pools with ``AvgPool2d(5, stride=3, padding=0,
    count_include_pad=False)``, which assumes the 8x8 map of a 32x32 input after two reductions;
    that is used on an 8x8 map. On any other size (e.g. 8x8 digits, 2x2 after two reductions)
    adaptive average pooling to 2x2 takes its place, so the head works at every resolution (it is
    then not DARTS' pooling window). The ReLU is not in place (DARTS' is; the result is the same).
    """

    def __init__(self, C_in: int, num_classes: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.pool = nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False)
        self.adaptive_pool = nn.AdaptiveAvgPool2d(2)
        self.features = nn.Sequential(
            nn.Conv2d(C_in, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        x = self.pool(x) if tuple(x.shape[-2:]) == (8, 8) else self.adaptive_pool(x)
        return self.classifier(self.features(x).flatten(1))


class DARTSMacro(nn.Module):
    """[Normalize] -> conv3x3 (``stem_multiplier * C``) + BN -> ``layers`` cells of ``cell_factory``
    -> global average pooling -> linear.

    Cell ``k`` takes the outputs of cells ``k-2`` and ``k-1``; channels double at the reductions
    (:func:`reduction_layers`). Subclasses whose cells take more inputs override
    :meth:`forward_cells`.
    """

    def __init__(
        self,
        cell_factory: DARTSCellFactory,
        C: int,
        layers: int,
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        stem_multiplier: int = 3,
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std) if mean is not None and std is not None else None
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr)
        )
        c_pp, c_p, c_curr = c_curr, c_curr, C
        reductions = reduction_layers(layers)
        self.cells = nn.ModuleList()
        self.cell_channels: list[int] = []  # output channels of each cell
        reduction_prev = False
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                c_curr *= 2
            cell = cell_factory(c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, int(getattr(cell, "multiplier")) * c_curr  # noqa: B009 - declared by the factory
            self.cell_channels.append(c_p)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward_cells(self, s: Tensor) -> Tensor:
        """The cell stack on the stem's output ``s``."""
        s0 = s1 = s
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return s1

    def forward(self, x: Tensor) -> Tensor:
        if self.normalize is not None:
            x = self.normalize(x)
        out = self.forward_cells(self.stem(x))
        return self.classifier(self.global_pooling(out).flatten(1))


class DARTSNetwork(DARTSMacro):
    """DARTS' CIFAR evaluation network for ``genotype`` (``layers = 3N + 2``; DARTS: C=36, 20 layers).

    ``auxiliary=True`` builds DARTS' auxiliary head (:class:`AuxiliaryHead`, as ``auxiliary_head``)
    on the output of cell ``2 * layers // 3``, the second reduction cell. It runs in training mode
    only; ``forward`` returns the main logits either way, and :meth:`auxiliary_logits` gives the
    head's logits of the last forward pass.
    """

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
        auxiliary: bool = False,
    ) -> None:
        if layers < 3:
            raise ConfigError(f"a DARTS network needs at least 3 layers (two are reductions), got {layers}")

        def cell(C_pp: int, C_p: int, C: int, reduction: bool, reduction_prev: bool) -> DARTSCell:
            return DARTSCell(genotype, C_pp, C_p, C, reduction, reduction_prev)

        super().__init__(cell, C, layers, num_classes, in_channels, mean, std, stem_multiplier)
        self.genotype = genotype
        self.auxiliary_position = reduction_layers(layers)[1]
        self.auxiliary_head: AuxiliaryHead | None = None
        if auxiliary:
            self.auxiliary_head = AuxiliaryHead(self.cell_channels[self.auxiliary_position], num_classes)
        self._auxiliary_logits: Tensor | None = None

    def auxiliary_logits(self) -> Tensor | None:
        """The auxiliary head's logits ``[B, classes]`` of the last forward pass: ``None`` without
        the head, after a forward pass in eval mode, and after :meth:`train` / ``eval``."""
        return self._auxiliary_logits

    def forward_cells(self, s: Tensor) -> Tensor:
        self._auxiliary_logits = None
        s0 = s1 = s
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.auxiliary_position and self.auxiliary_head is not None and self.training:
                self._auxiliary_logits = self.auxiliary_head(s1)
        return s1

    def train(self, mode: bool = True) -> Self:
        self._auxiliary_logits = None  # no logits of another mode (or their graph) outlive a switch
        return super().train(mode)

    def __getstate__(self) -> dict[str, Any]:
        # copies and pickles leave the last auxiliary logits behind: a non-leaf tensor cannot be
        # deep-copied, and they belong to the forward pass of this instance only
        state = dict(super().__getstate__())
        state["_auxiliary_logits"] = None
        return state

    def set_drop_path(self, prob: float) -> None:
        """Drop-path probability of every cell (0 disables it; DARTS: 0.2 raised linearly)."""
        if not 0.0 <= prob < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {prob}")
        for cell in self.cells:
            cell.drop_prob = float(prob)  # type: ignore[assignment]
