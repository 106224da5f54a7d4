"""The NAS-Bench-201 macro network (Dong and Yang, ICLR 2020) built from an :class:`~robnas.spaces.Arch`.

Layout (C channels, N cells per stage)::

    [Normalize] -> conv3x3(in_channels -> C) + BN
    -> N cells (C)  -> residual block (C -> 2C, stride 2)
    -> N cells (2C) -> residual block (2C -> 4C, stride 2)
    -> N cells (4C) -> BN -> ReLU -> global average pooling -> linear classifier

A cell has 4 nodes; node 0 is the cell input, node ``j`` is the sum of ``op(i -> j)(node i)`` over
``i < j``, and node 3 is the cell output. Every edge's operation is instantiated (so parameter
counts equal NAS-Bench-201's, which also instantiates edges that cannot reach the output), but the
forward pass skips ``none`` edges and edges into nodes that cannot reach the output, since they
cannot change the result. Set ``cell.prune = False`` (or use :func:`robnas.models.full_graph`) to
evaluate every edge as the reference implementation does; :func:`~robnas.models.count_flops` does
that by default so that its counts follow NAS-Bench-201's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from robnas.errors import ConfigError
from robnas.models.ops import Normalize, ResidualBlock, make_op
from robnas.models.sizes import Convention
from robnas.spaces.nb201 import EDGES, NUM_NODES, Arch

OUTPUT = NUM_NODES - 1

CellFactory = Callable[[int, int, int], nn.Module]
"""``factory(C_in, C_out, stride) -> cell``: builds the cells of :class:`NB201Network`'s stages."""


def _live_nodes(edges: dict[tuple[int, int], str]) -> set[int]:
    """Nodes from which the output node is reachable along non-``none`` edges (output included)."""
    live = {OUTPUT}
    for src, dst in sorted(edges, key=lambda e: (-e[1], -e[0])):
        if dst in live and edges[(src, dst)] != "none":
            live.add(src)
    return live  # one pass suffices: edges are visited in reverse topological order of their targets


class NB201Cell(nn.Module):
    """One NAS-Bench-201 cell (``InferCell``): a 4-node DAG with one operation per edge.

    The edge from the input uses ``C_in -> C_out`` and ``stride``; every other edge uses
    ``C_out -> C_out`` and stride 1 (NAS-Bench-201 networks use ``C_in == C_out``, stride 1).
    """

    def __init__(
        self,
        arch: Arch | str | int,
        C_in: int,
        C_out: int,
        stride: int = 1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.arch = Arch.parse(arch)
        self.prune = True
        names = self.arch.edges()
        self.edge_keys = [f"{i}_{j}" for i, j in EDGES]
        self.ops = nn.ModuleDict(
            {
                f"{i}_{j}": make_op(
                    names[(i, j)],
                    C_in if i == 0 else C_out,
                    C_out,
                    stride if i == 0 else 1,
                    affine,
                    track_running_stats,
                )
                for i, j in EDGES
            }
        )
        live = _live_nodes(names)
        self._active = {
            j: [i for i in range(j) if names[(i, j)] != "none" and j in live] for j in range(1, NUM_NODES)
        }
        self._live = live

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x]
        for j in range(1, NUM_NODES):
            if self.prune:
                if j not in self._live:
                    nodes.append(None)
                    continue
                srcs = self._active[j]
                if not srcs:  # every incoming edge is ``none``: the node is zero
                    nodes.append(self.ops[f"0_{j}"](x))
                    continue
            else:
                srcs = list(range(j))
            total: torch.Tensor | None = None
            for i in srcs:
                src = nodes[i]
                assert src is not None  # a live node's sources are computed
                out = self.ops[f"{i}_{j}"](src)
                total = out if total is None else total + out
            assert total is not None
            nodes.append(total)
        result = nodes[OUTPUT]
        assert result is not None
        return result

    def extra_repr(self) -> str:
        return f"arch={self.arch.string}"


class NB201Network(nn.Module):
    """The NAS-Bench-201 network for one cell architecture.

    Args:
        arch: an :class:`~robnas.spaces.Arch`, an index 0..15624 or a NAS-Bench-201 string.
        C: channels of the first stage (NAS-Bench-201: 16); stages have C, 2C, 4C channels.
        N: cells per stage (NAS-Bench-201: 5).
        num_classes: outputs of the linear classifier.
        in_channels: channels of the input images.
        mean, std: if given (one value per input channel), a :class:`~robnas.models.ops.Normalize`
            layer is the first layer, so that the model takes pixels in [0, 1].
        affine, track_running_stats: passed to every BatchNorm of the cells and residual blocks.
        cell_factory: builds each cell from ``(C_in, C_out, stride)`` in place of
            :class:`NB201Cell` (``arch`` may then be None); a supernet builds its search cells so,
            and overrides :meth:`forward_cells` if they take more than one input.

    The forward pass returns logits of shape ``(batch, num_classes)`` for any input of at least
    1x1 pixels (global pooling makes the classifier independent of the resolution).
    """

    def __init__(
        self,
        arch: Arch | str | int | None,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        affine: bool = True,
        track_running_stats: bool = True,
        cell_factory: CellFactory | None = None,
    ) -> None:
        super().__init__()
        for name, value, low in (("C", C, 1), ("N", N, 0), ("num_classes", num_classes, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ConfigError(f"in_channels must be an integer >= 1, got {in_channels!r}")
        self.arch: Arch | None = None
        if cell_factory is None or arch is not None:
            self.arch = Arch.parse(arch)  # type: ignore[arg-type]  # None without a factory: a clear error
        make_cell = cell_factory or self._arch_cell_factory(affine, track_running_stats)
        self.C, self.N, self.num_classes, self.in_channels = C, N, num_classes, in_channels

        if (mean is None) != (std is None):
            raise ConfigError("give both mean and std for input normalisation, or neither")
        self.normalize: Normalize | None = None
        if mean is not None and std is not None:
            if len(mean) != in_channels or len(std) != in_channels:
                raise ConfigError(
                    f"mean and std need one value per input channel ({in_channels}), "
                    f"got {len(mean)} and {len(std)}"
                )
            self.normalize = Normalize(mean, std)

        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        cells: list[nn.Module] = []
        c_prev = C
        for stage, c in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                cells.append(ResidualBlock(c_prev, c, 2, affine, track_running_stats))
            for _ in range(N):
                cells.append(make_cell(c, c, 1))
            c_prev = c
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def _arch_cell_factory(self, affine: bool, track_running_stats: bool) -> CellFactory:
        arch = self.arch
        assert arch is not None

        def factory(C_in: int, C_out: int, stride: int) -> nn.Module:
            return NB201Cell(arch, C_in, C_out, stride, affine, track_running_stats)

        return factory

    def forward_cells(self, x: torch.Tensor) -> torch.Tensor:
        """The cells and residual blocks on the stem's output ``x``."""
        return self.cells(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize is not None:
            x = self.normalize(x)
        out = self.forward_cells(self.stem(x))
        out = self.global_pooling(self.lastact(out))
        return self.classifier(out.flatten(1))

    def extra_repr(self) -> str:
        arch = "" if self.arch is None else f"arch={self.arch.string}, "
        return f"{arch}C={self.C}, N={self.N}, num_classes={self.num_classes}"


def build_network(arch: Arch | str | int, **kwargs: Any) -> NB201Network:
    """Factory: ``NB201Network(arch, **kwargs)`` (see :class:`NB201Network` for the options)."""
    return NB201Network(arch, **kwargs)


_CONV_WEIGHTS = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}


def nb201_param_count(
    arch: Arch | str | int, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3
) -> int:
    """Parameters of :class:`NB201Network` computed without building it (affine BatchNorms).

    Stem ``9 * in_channels * C + 2C``; per cell of width ``c``: ``9c^2 + 2c`` per ``nor_conv_3x3``
    edge and ``c^2 + 2c`` per ``nor_conv_1x1`` edge (other operations have none); per residual
    block ``c -> 2c``: ``9 * c * 2c + 9 * (2c)^2 + 2 * 2 * 2c + c * 2c``; final BN ``2 * 4C``;
    classifier ``4C * num_classes + num_classes``.
    """
    a = Arch.parse(arch)
    total = 9 * in_channels * C + 2 * C
    for stage, c in enumerate((C, 2 * C, 4 * C)):
        if stage > 0:
            ci = c // 2
            total += 9 * ci * c + 9 * c * c + 4 * c + ci * c
        per_cell = sum(k * c * c + 2 * c for name in a.edges().values() if (k := _CONV_WEIGHTS.get(name)))
        total += N * per_cell
    total += 2 * 4 * C + 4 * C * num_classes + num_classes
    return total


def _ceil_half(n: int) -> int:
    return -(-n // 2)


def nb201_flops(
    arch: Arch | str | int,
    C: int = 16,
    N: int = 5,
    num_classes: int = 10,
    input_size: Sequence[int] = (3, 32, 32),
    convention: Convention = "naslib",
) -> int:
    """FLOPs of :class:`NB201Network` computed without building it.

    Equals :func:`~robnas.models.count_flops` (same ``convention``, ``full=True``) for the same
    configuration, including odd input sizes; see :mod:`robnas.models.sizes` for the rules. For
    C=16, N=5 and the "naslib" convention, ``nb201_flops(arch, num_classes=K, input_size=S) / 1e6``
    is NASLib's zero-cost ``flops`` score (CIFAR-10, CIFAR-100, ImageNet16-120 at 16x16; tested).
    """
    if convention not in ("naslib", "macs"):
        raise ConfigError(f"unknown FLOPs convention {convention!r}; choose one of naslib, macs")
    a = Arch.parse(arch)
    in_ch, h, w = (int(s) for s in input_size)
    full = convention == "naslib"

    def relu_conv_bn(c_in: int, c_out: int, k: int, hw_in: int, hw_out: int) -> int:
        return k * k * c_in * c_out * hw_out + (c_in * hw_in + 2 * c_out * hw_out if full else 0)

    total = 9 * in_ch * C * h * w + (2 * C * h * w if full else 0)  # stem conv + BN
    c_prev = C
    for stage, c in enumerate((C, 2 * C, 4 * C)):
        if stage > 0:
            h2, w2 = _ceil_half(h), _ceil_half(w)
            hw, hw2 = h * w, h2 * w2
            total += relu_conv_bn(c_prev, c, 3, hw, hw2) + relu_conv_bn(c, c, 3, hw2, hw2)
            total += c_prev * c * hw2 + (4 * c_prev * hw2 if full else 0)  # avgpool 2x2 + conv 1x1
            h, w = h2, w2
        hw = h * w
        per_cell = 0
        for name in a.edges().values():
            if (k := _CONV_WEIGHTS.get(name)) is not None:
                per_cell += relu_conv_bn(c, c, int(math.sqrt(k)), hw, hw)
            elif name == "avg_pool_3x3" and full:
                per_cell += 9 * c * hw
        total += N * per_cell
        c_prev = c
    if full:
        total += 3 * c_prev * h * w  # BN (2) + ReLU (1)
        total += c_prev * (h + 1) * (w + 1)  # global pooling, torchstat's formula
    total += c_prev * num_classes
    return total
