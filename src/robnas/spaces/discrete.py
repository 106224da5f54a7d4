"""What a discrete search needs to know about a space: the :class:`DiscreteSpace` protocol.

A discrete search (random search, regularised evolution, local search, NSGA-II in
:mod:`robnas.search`) never looks inside an architecture; it asks the space for

* ``sample(rng)`` -- a random architecture;
* ``neighbours(arch)`` -- the architectures one move away (local search);
* ``mutate(arch, rng)`` -- one random move (evolution);
* ``crossover(a, b, rng)`` -- a child of two parents (NSGA-II);
* ``key(arch)`` -- a hashable value equal for architectures that are the same network (an
  isomorphism class): a search pays once per key.

and an *evaluator* ``evaluate(arch) -> value or values`` (higher is better) answers for the
objective. These are the two seams of Archai's discrete-search API (a search space that declares
its moves, an evaluator that is just a function), kept as plain functions and a small protocol.

Two spaces are built in: :data:`NB201` (the 15,625 NAS-Bench-201 cells; its moves are those of
:class:`~robnas.spaces.nb201.Arch`) and :data:`DARTS` (DARTS genotypes, :class:`DARTSSpace`).
Adding a space is one class with these five methods.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Protocol, TypeVar, runtime_checkable

from robnas.spaces.darts import DARTS_OPS, STEPS, Genotype
from robnas.spaces.nb201 import Arch, random_arch

A = TypeVar("A")


@runtime_checkable
class DiscreteSpace(Protocol[A]):
    """The moves a discrete search makes in a space of architectures of type ``A``."""

    name: str

    def sample(self, rng: random.Random) -> A:
        """A random architecture."""
        ...

    def neighbours(self, arch: A) -> list[A]:
        """Every architecture one move away from ``arch``."""
        ...

    def mutate(self, arch: A, rng: random.Random) -> A:
        """One random move away from ``arch``."""
        ...

    def crossover(self, a: A, b: A, rng: random.Random) -> A:
        """A child combining ``a`` and ``b``."""
        ...

    def key(self, arch: A) -> Hashable:
        """Equal for architectures that compute the same function (the unit a search pays for)."""
        ...


class NB201Space:
    """The NAS-Bench-201 cell space: uniform sampling over the 15,625 cells, one-edge moves,
    uniform crossover of the six operation genes, isomorphism-class ``uid`` as the key."""

    name = "nb201"

    def sample(self, rng: random.Random) -> Arch:
        return random_arch(rng)

    def neighbours(self, arch: Arch) -> list[Arch]:
        return arch.neighbours()

    def mutate(self, arch: Arch, rng: random.Random) -> Arch:
        return arch.mutate(rng)

    def crossover(self, a: Arch, b: Arch, rng: random.Random) -> Arch:
        return Arch(tuple(x if rng.random() < 0.5 else y for x, y in zip(a.ops, b.ops, strict=True)))  # type: ignore[arg-type]

    def key(self, arch: Arch) -> int:
        return arch.uid


Cell = tuple[tuple[str, int], ...]


class DARTSSpace:
    """DARTS genotypes (Liu et al., ICLR 2019) as a discrete space.

    Choices, following how DARTS derives a genotype (two inputs per node, from distinct earlier
    nodes, never the ``none`` operation, all four intermediate nodes concatenated) so that every
    architecture of this space is one DARTS itself could return:

    * ``sample``: for each cell type and each intermediate node ``k``, two distinct inputs drawn
      from nodes ``0 .. k + 1`` and an operation for each drawn uniformly from the seven
      operations other than ``none`` (the random-search baseline of Li and Talwalkar, 2019);
    * ``neighbours``: change one edge's operation (6 other operations) or move one edge to
      another input the node does not read yet; 60 moves per cell, 120 in all;
    * ``mutate``: a uniformly random neighbour;
    * ``crossover``: each intermediate node of each cell, with both its edges, comes from either
      parent with probability 1/2 (a node is the unit, so the child stays valid);
    * ``key``: the genotype with each node's two edges in sorted order (the order of a node's
      two edges does not change the network: their results are summed).
    """

    name = "darts"

    def __init__(self, ops: tuple[str, ...] | None = None) -> None:
        self.ops = tuple(ops) if ops is not None else tuple(o for o in DARTS_OPS if o != "none")
        unknown = [o for o in self.ops if o not in DARTS_OPS]
        if unknown or len(self.ops) < 2:
            from robnas.errors import ConfigError

            raise ConfigError(
                f"a DARTS space needs at least two operations from {', '.join(DARTS_OPS)}, got {self.ops!r}"
            )
        self.concat = tuple(range(2, 2 + STEPS))

    # -- helpers --------------------------------------------------------------------------------
    def _cell(self, rng: random.Random) -> Cell:
        edges: list[tuple[str, int]] = []
        for k in range(STEPS):
            for src in sorted(rng.sample(range(k + 2), 2)):
                edges.append((rng.choice(self.ops), src))
        return tuple(edges)

    def _make(self, normal: Cell, reduce: Cell) -> Genotype:
        return Genotype(normal, self.concat, reduce, self.concat)

    def _cell_moves(self, cell: Cell) -> list[Cell]:
        out: list[Cell] = []
        for e, (op, src) in enumerate(cell):
            for other in self.ops:
                if other != op:
                    out.append(cell[:e] + ((other, src),) + cell[e + 1 :])
            sibling = cell[e ^ 1][1]  # the other edge of the same node
            for new_src in range(e // 2 + 2):
                if new_src not in (src, sibling):
                    out.append(cell[:e] + ((op, new_src),) + cell[e + 1 :])
        return out

    # -- the protocol -----------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Genotype:
        return self._make(self._cell(rng), self._cell(rng))

    def neighbours(self, arch: Genotype) -> list[Genotype]:
        return [self._make(c, arch.reduce) for c in self._cell_moves(arch.normal)] + [
            self._make(arch.normal, c) for c in self._cell_moves(arch.reduce)
        ]

    def mutate(self, arch: Genotype, rng: random.Random) -> Genotype:
        # both cells have the same number of moves, so this is uniform over the neighbours
        if rng.random() < 0.5:
            return self._make(rng.choice(self._cell_moves(arch.normal)), arch.reduce)
        return self._make(arch.normal, rng.choice(self._cell_moves(arch.reduce)))

    def crossover(self, a: Genotype, b: Genotype, rng: random.Random) -> Genotype:
        def mix(x: Cell, y: Cell) -> Cell:
            out: list[tuple[str, int]] = []
            for k in range(STEPS):
                src = x if rng.random() < 0.5 else y
                out += src[2 * k : 2 * k + 2]
            return tuple(out)

        return self._make(mix(a.normal, b.normal), mix(a.reduce, b.reduce))

    def key(self, arch: Genotype) -> Hashable:
        def canon(cell: Cell) -> Cell:
            return tuple(e for k in range(STEPS) for e in sorted(cell[2 * k : 2 * k + 2]))

        return (canon(arch.normal), tuple(arch.normal_concat), canon(arch.reduce), tuple(arch.reduce_concat))


NB201 = NB201Space()
"""The NAS-Bench-201 space."""

DARTS = DARTSSpace()
"""The DARTS genotype space (seven operations, ``none`` excluded)."""

__all__ = ["DARTS", "NB201", "DARTSSpace", "DiscreteSpace", "NB201Space"]
