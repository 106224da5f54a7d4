"""Supernets with mixed operations (Liu, Simonyan and Yang, "DARTS", ICLR 2019).

A :class:`MixedOp` holds every candidate operation of one edge and returns their weighted sum
``sum_o w_o op_o(x)`` with ``w = softmax(alpha_edge)``. Two supernets:

* :class:`NB201Supernet` -- the NAS-Bench-201 macro network (Dong and Yang, ICLR 2020) of
  :class:`robnas.models.NB201Network`, built with :class:`NB201SearchCell` s as its cells (one
  mixed operation per edge, the 5 NAS-Bench-201 operations); one ``alpha`` of shape ``[6, 5]``
  shared by all cells, as in NAS-Bench-201's DARTS baseline;
* :class:`DARTSSupernet` -- DARTS' search network: a 3C stem, normal and reduction cells (the
  reductions at 1/3 and 2/3 of the depth), each with 2 input nodes, 4 intermediate nodes (14
  mixed edges) and the concatenation of the intermediate nodes as output; ``alpha_normal`` and
  ``alpha_reduce`` of shape ``[14, 8]``.

Both expose ``arch_parameters()`` (the alphas), ``weight_parameters()`` (everything else),
``derive()`` (the discrete architecture, see :mod:`robnas.dnas.derive`) and
``expected_params(alphas)`` (the expected parameter count of the derived network, differentiable
in alpha, for E2RNAS' size objective). Search-time BatchNorms have no affine parameters, as in
DARTS. The alphas start at ``1e-3 * N(0, 1)`` (DARTS).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robnas.errors import ConfigError
from robnas.models.darts import DARTSMacro, darts_preprocess
from robnas.models.darts_ops import DARTS_OPERATIONS
from robnas.models.nb201 import NB201Network
from robnas.models.ops import OPERATIONS, OpFactory
from robnas.spaces.darts import DARTS_OPS, Genotype
from robnas.spaces.nb201 import EDGES, NUM_NODES, OPS, Arch


@runtime_checkable
class Supernet(Protocol):
    """What the search loop and the methods use of a supernet (both spaces implement it).

    * ``arch_parameters()`` / ``weight_parameters()``: the alphas and everything else;
    * ``arch_weights()``: ``softmax(alpha)`` per alpha tensor, the weights of the mixed operations;
    * ``expected_params(weights=None)``: expected parameter count of the derived network under
      ``weights`` (default: the current ``arch_weights()``), differentiable in alpha;
    * ``param_range()`` and ``uniform_params()``: smallest/largest derived size and the expected
      size at uniform alpha, computed once and cached by the supernet;
    * ``derive(exclude_none=...)``: the discrete architecture.
    """

    space: str

    def arch_parameters(self) -> list[nn.Parameter]: ...

    def weight_parameters(self) -> list[nn.Parameter]: ...

    def arch_weights(self) -> list[Tensor]: ...

    def expected_params(self, weights: list[Tensor] | None = None) -> Tensor: ...

    def param_range(self) -> tuple[float, float]: ...

    def uniform_params(self) -> float: ...

    def derive(self, exclude_none: bool = False) -> Arch | Genotype: ...


def _uniform(alphas: Sequence[Tensor]) -> list[Tensor]:
    return [torch.full_like(a, 1.0 / a.shape[-1]) for a in alphas]


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class MixedOp(nn.Module):
    """``sum_o w_o op_o(x)`` over the candidate operations of one edge.

    ``op_params[o]`` is the parameter count operation ``o`` has in the *evaluation* network
    (affine BatchNorms), used by :meth:`expected_params`.
    """

    op_params: Tensor

    def __init__(
        self,
        names: Sequence[str],
        factories: dict[str, OpFactory],
        C_in: int,
        C_out: int,
        stride: int,
        affine: bool = False,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.names = tuple(names)
        self.ops = nn.ModuleList(
            [factories[n](C_in, C_out, stride, affine, track_running_stats) for n in self.names]
        )
        counts = [_count(factories[n](C_in, C_out, stride, True, True)) for n in self.names]
        self.register_buffer("op_params", torch.tensor(counts, dtype=torch.float32), persistent=False)
        self.op_macs: Tensor | None = None  # multiply-accumulates per image, known after a forward

    def _counting_hooks(self) -> tuple[list[Any], list[list[int]]]:
        """Hooks counting each operation's convolution multiply-accumulates per image during one
        forward pass (shapes only: the pass itself is unchanged)."""
        handles: list[Any] = []
        totals: list[list[int]] = []
        for op in self.ops:
            total = [0]
            totals.append(total)

            def hook(m: nn.Module, inp: tuple[Tensor, ...], out: Tensor, total: list[int] = total) -> None:
                assert isinstance(m, nn.Conv2d)
                k = m.kernel_size[0] * m.kernel_size[1]
                total[0] += out[0].numel() * (m.in_channels // m.groups) * k

            handles += [m.register_forward_hook(hook) for m in op.modules() if isinstance(m, nn.Conv2d)]
        return handles, totals

    def expected_macs(self, weights: Tensor) -> Tensor:
        if self.op_macs is None:
            raise ConfigError("operation costs are known after a forward pass of the supernet")
        return (weights * self.op_macs.to(weights.dtype)).sum()

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        handles, totals = self._counting_hooks() if self.op_macs is None else ([], [])
        try:
            out = None
            for w, op in zip(weights, self.ops, strict=True):
                y = w * op(x)
                out = y if out is None else out + y
        finally:
            for h in handles:
                h.remove()
        if totals:
            self.op_macs = torch.tensor([float(t[0]) for t in totals], device=x.device)
        assert out is not None
        return out

    def expected_params(self, weights: Tensor) -> Tensor:
        return (weights * self.op_params).sum()


class NB201SearchCell(nn.Module):
    """A NAS-Bench-201 cell whose 6 edges are :class:`MixedOp` s over the 5 operations."""

    def __init__(self, C_in: int, C_out: int, stride: int = 1, affine: bool = False, track: bool = True):
        super().__init__()
        self.edges = nn.ModuleDict(
            {
                f"{i}_{j}": MixedOp(
                    OPS, OPERATIONS, C_in if i == 0 else C_out, C_out, stride if i == 0 else 1, affine, track
                )
                for i, j in EDGES
            }
        )

    @staticmethod
    def sources(j: int) -> range:
        """The nodes summed into node ``j`` (every earlier node: the search cell is dense); the one
        graph walk of the forward pass and the bound rules."""
        return range(j)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        nodes = [x]
        for j in range(1, NUM_NODES):
            total = None
            for i in self.sources(j):
                k = EDGES.index((i, j))
                out = self.edges[f"{i}_{j}"](nodes[i], weights[k])
                total = out if total is None else total + out
            assert total is not None
            nodes.append(total)
        return nodes[-1]

    def expected_params(self, weights: Tensor) -> Tensor:
        total = weights.new_zeros(())
        for k, (i, j) in enumerate(EDGES):
            edge: MixedOp = self.edges[f"{i}_{j}"]  # type: ignore[assignment]
            total = total + edge.expected_params(weights[k])
        return total


class _SizeTerms(nn.Module):
    """Size terms shared by both supernets: expected multiply-accumulates, and the parameter
    count at uniform alpha and its range over derived networks, cached on first use. The
    supernet supplies ``arch_weights``, ``arch_parameters``, ``expected_params`` and
    ``_compute_range``."""

    _param_range: tuple[float, float] | None = None
    _uniform_params: float | None = None

    def arch_weights(self) -> list[Tensor]:
        raise NotImplementedError

    def arch_parameters(self) -> list[nn.Parameter]:
        raise NotImplementedError

    def expected_params(self, weights: list[Tensor] | None = None) -> Tensor:
        raise NotImplementedError

    def _compute_range(self) -> tuple[float, float]:
        raise NotImplementedError

    def expected_macs(self, weights: list[Tensor] | None = None) -> Tensor:
        """Expected multiply-accumulates per image of the cells' operations under ``weights``
        (default ``softmax(alpha)``), differentiable in alpha (after one forward pass)."""
        ws = self.arch_weights() if weights is None else weights
        total = ws[0].new_zeros(())
        for m in self.modules():
            if isinstance(m, NB201SearchCell | DARTSSearchCell):
                w = ws[1] if isinstance(m, DARTSSearchCell) and m.reduction else ws[0]
                edges = m.edges.values() if isinstance(m.edges, nn.ModuleDict) else m.edges
                for k, e in enumerate(edges):
                    total = total + e.expected_macs(w[k])  # type: ignore[operator]
        return total

    def uniform_params(self) -> float:
        """Expected parameter count at uniform alpha (cached)."""
        if self._uniform_params is None:
            with torch.no_grad():
                self._uniform_params = float(self.expected_params(_uniform(self.arch_parameters())))
        return self._uniform_params

    def param_range(self) -> tuple[float, float]:
        """Smallest and largest parameter count over all derived networks (cached)."""
        if self._param_range is None:
            with torch.no_grad():
                self._param_range = self._compute_range()
        return self._param_range


class NB201Supernet(_SizeTerms, NB201Network):
    """The NAS-Bench-201 network with :class:`NB201SearchCell` s (see the module docstring).

    :class:`~robnas.models.NB201Network` (stem, residual blocks, classifier) whose cell factory
    builds search cells; they take the architecture weights in :meth:`forward_cells`.
    """

    space = "nb201"

    def __init__(
        self,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        affine: bool = False,
        track_running_stats: bool = True,
    ) -> None:
        def cell(C_in: int, C_out: int, stride: int) -> NB201SearchCell:
            return NB201SearchCell(C_in, C_out, stride, affine, track_running_stats)

        # the stem, residual blocks and head keep NB201Network's affine BatchNorms (as before)
        super().__init__(None, C, N, num_classes, in_channels, mean, std, cell_factory=cell)
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(OPS)))
        self.op_names = OPS
        self._param_range: tuple[float, float] | None = None
        self._uniform_params: float | None = None

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def arch_weights(self) -> list[Tensor]:
        return [F.softmax(self.alpha, dim=-1)]

    def forward_cells(self, x: Tensor) -> Tensor:
        (weights,) = self.arch_weights()
        for cell in self.cells:
            x = cell(x, weights) if isinstance(cell, NB201SearchCell) else cell(x)
        return x

    def expected_params(self, weights: list[Tensor] | None = None) -> Tensor:
        """Expected parameter count of the derived network under ``softmax(alpha)`` (differentiable)."""
        (w,) = self.arch_weights() if weights is None else weights
        fixed = sum(
            p.numel() for m in self.cells if not isinstance(m, NB201SearchCell) for p in m.parameters()
        )
        fixed += _count(self.stem) + _count(self.lastact) + _count(self.classifier)
        cells = [m for m in self.cells if isinstance(m, NB201SearchCell)]
        return fixed + sum((c.expected_params(w) for c in cells), w.new_zeros(()))

    def _compute_range(self) -> tuple[float, float]:
        lo = self.expected_params([F.one_hot(torch.zeros(len(EDGES), dtype=torch.long), len(OPS)).float()])
        cells = [m for m in self.cells if isinstance(m, NB201SearchCell)]
        big = torch.stack([e.op_params for e in cells[0].edges.values()]).argmax(1) if cells else None  # type: ignore[misc]
        if big is None:
            return float(lo), float(lo)
        hi = self.expected_params([F.one_hot(big, len(OPS)).float()])
        return float(lo), float(hi)

    def derive(self, exclude_none: bool = False) -> Arch:
        from robnas.dnas.derive import derive_nb201

        return derive_nb201(self.alpha.detach(), exclude_none=exclude_none)


# --------------------------------------------------------------------------- DARTS space
STEPS = 4
MULTIPLIER = 4
NUM_DARTS_EDGES = sum(2 + i for i in range(STEPS))  # 14


class DARTSSearchCell(nn.Module):
    """A DARTS search cell: inputs ``s0, s1`` (preprocessed to C channels), 4 nodes, 14 mixed edges."""

    def __init__(
        self,
        C_pp: int,
        C_p: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
        factories: dict[str, OpFactory] | None = None,
        affine: bool = False,
        track: bool = True,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.multiplier = MULTIPLIER
        factories = DARTS_OPERATIONS if factories is None else factories
        self.preprocess0, self.preprocess1 = darts_preprocess(C_pp, C_p, C, reduction_prev, affine, track)
        self.edges = nn.ModuleList()
        for i in range(STEPS):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(MixedOp(DARTS_OPS, factories, C, C, stride, affine, track))

    @property
    def concat(self) -> list[int]:
        return list(range(2 + STEPS - MULTIPLIER, 2 + STEPS))

    def node_terms(self, weights: Tensor | None = None) -> list[list[tuple[nn.Module, int, Tensor | None]]]:
        """For nodes 2..5: every candidate operation of every incoming edge, with its weight
        ``weights[edge, op]`` (``softmax(alpha)``, given by the bound state)."""
        if weights is None:
            raise ConfigError("a DARTS search cell needs its architecture weights (BoundState.cell_weights)")
        terms: list[list[tuple[nn.Module, int, Tensor | None]]] = []
        offset = 0
        for i in range(STEPS):
            node: list[tuple[nn.Module, int, Tensor | None]] = []
            for j in range(2 + i):
                mixed: MixedOp = self.edges[offset + j]  # type: ignore[assignment]
                node.extend((op, j, weights[offset + j, o]) for o, op in enumerate(mixed.ops))
            terms.append(node)
            offset += 2 + i
        return terms

    def forward(self, s0: Tensor, s1: Tensor, weights: Tensor) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(STEPS):
            s = sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-MULTIPLIER:], dim=1)

    def expected_params(self, weights: Tensor) -> Tensor:
        fixed = _affine_count(self.preprocess0) + _affine_count(self.preprocess1)
        total = weights.new_zeros(())
        for k, e in enumerate(self.edges):
            total = total + e.expected_params(weights[k])  # type: ignore[operator]
        return fixed + total


def _affine_count(module: nn.Module) -> int:
    """Parameters ``module`` would have with affine BatchNorms."""
    n = 0
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n += 2 * m.num_features
        elif isinstance(m, nn.Conv2d | nn.Linear):
            n += sum(p.numel() for p in m.parameters(recurse=False))
    return n


class DARTSSupernet(_SizeTerms, DARTSMacro):
    """DARTS' search network (``Network`` of the DARTS code) with ``N`` normal cells per stage.

    Layout (:class:`robnas.models.darts.DARTSMacro` with :class:`DARTSSearchCell` s):
    [Normalize] -> conv3x3 (3C) + BN -> N normal cells -> reduction -> N normal cells ->
    reduction -> N normal cells -> global average pooling -> linear. Cell ``k`` takes the outputs
    of cells ``k-2`` and ``k-1``; channels double at every reduction. ``N = 2`` is DARTS' 8-cell
    search network.
    """

    space = "darts"

    def __init__(
        self,
        C: int = 16,
        N: int = 2,
        num_classes: int = 10,
        in_channels: int = 3,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        stem_multiplier: int = 3,
        affine: bool = False,
        track_running_stats: bool = True,
    ) -> None:

        def cell(C_pp: int, C_p: int, C: int, reduction: bool, reduction_prev: bool) -> DARTSSearchCell:
            return DARTSSearchCell(C_pp, C_p, C, reduction, reduction_prev, None, affine, track_running_stats)

        super().__init__(cell, C, 3 * N + 2, num_classes, in_channels, mean, std, stem_multiplier)
        self.C, self.N, self.num_classes = C, N, num_classes
        self.alpha_normal = nn.Parameter(1e-3 * torch.randn(NUM_DARTS_EDGES, len(DARTS_OPS)))
        self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(NUM_DARTS_EDGES, len(DARTS_OPS)))
        self.op_names = DARTS_OPS
        self._param_range: tuple[float, float] | None = None
        self._uniform_params: float | None = None

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha_normal, self.alpha_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("alpha_")]

    def arch_weights(self) -> list[Tensor]:
        return [F.softmax(self.alpha_normal, dim=-1), F.softmax(self.alpha_reduce, dim=-1)]

    def forward_cells(self, s: Tensor) -> Tensor:
        w_normal, w_reduce = self.arch_weights()
        s0 = s1 = s
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return s1

    def expected_params(self, weights: list[Tensor] | None = None) -> Tensor:
        w_normal, w_reduce = self.arch_weights() if weights is None else weights
        fixed = _count(self.stem) + _count(self.classifier)
        total = w_normal.new_zeros(())
        for c in self.cells:
            total = total + c.expected_params(w_reduce if c.reduction else w_normal)  # type: ignore[operator]
        return fixed + total

    def _compute_range(self) -> tuple[float, float]:
        def at(pick: Callable[[Tensor], Tensor]) -> float:
            cell = self.cells[0]
            p = torch.stack([e.op_params for e in cell.edges])  # type: ignore[union-attr]
            w = F.one_hot(pick(p), len(DARTS_OPS)).float()
            return float(self.expected_params([w, w]))

        return at(lambda p: p.argmin(1)), at(lambda p: p.argmax(1))

    def derive(self, exclude_none: bool = True) -> Genotype:
        """DARTS' genotype rule; ``exclude_none=False`` lets ``none`` be chosen (then kept in the
        genotype as a zero operation)."""
        from robnas.dnas.derive import derive_darts

        return derive_darts(self.alpha_normal.detach(), self.alpha_reduce.detach(), exclude_none=exclude_none)


def build_supernet(space: str, **kwargs: object) -> NB201Supernet | DARTSSupernet:
    """``"nb201"`` -> :class:`NB201Supernet`, ``"darts"`` -> :class:`DARTSSupernet`."""
    if space == "nb201":
        return NB201Supernet(**kwargs)  # type: ignore[arg-type]
    if space == "darts":
        return DARTSSupernet(**kwargs)  # type: ignore[arg-type]
    raise ConfigError(f"unknown search space {space!r}; choose nb201 or darts")
