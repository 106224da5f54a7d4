"""From continuous alphas to discrete architectures, and DARTS genotypes.

* NAS-Bench-201 (:func:`derive_nb201`): one operation per edge, the argmax of ``alpha`` over the
  operations. By default ``none`` may win, as in the DARTS baseline of NAS-Bench-201 (Dong and
  Yang, ICLR 2020, whose ``genotype()`` takes the plain argmax); ``exclude_none=True`` follows
  DARTS' own rule for its space (``none`` never chosen).
* DARTS (:func:`derive_darts`, Liu et al., ICLR 2019): for each intermediate node keep the two
  incoming edges with the largest non-``none`` weight, each with its best non-``none``
  operation; the cell output concatenates nodes 2..5. Weights are ``softmax(alpha)`` per edge.

A :class:`Genotype` is a plain value (tuples of ``(operation, input node)``), convertible to and
from JSON and DARTS' own spelling ``Genotype(normal=[...], normal_concat=..., ...)``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import torch
from torch import Tensor

from robnas.dnas.darts_ops import DARTS_OPS
from robnas.spaces.nb201 import EDGES, OPS, Arch

STEPS = 4


def derive_nb201(alpha: Tensor, exclude_none: bool = False) -> Arch:
    """The NAS-Bench-201 cell of ``alpha`` (``[6, 5]``, edges in :data:`~robnas.spaces.EDGES` order)."""
    a = torch.as_tensor(alpha).detach().float().clone()
    if a.shape != (len(EDGES), len(OPS)):
        raise ValueError(f"NAS-Bench-201 alphas have shape {(len(EDGES), len(OPS))}, got {tuple(a.shape)}")
    if exclude_none:
        a[:, OPS.index("none")] = float("-inf")
    return Arch(tuple(int(i) for i in a.argmax(dim=1)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Genotype:
    """A DARTS architecture: per cell type, 8 ``(operation, input)`` pairs (2 per node) and the
    nodes concatenated into the output. Inputs 0 and 1 are the two previous cells' outputs."""

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for name, cell in (("normal", self.normal), ("reduce", self.reduce)):
            if len(cell) != 2 * STEPS:
                raise ValueError(f"a DARTS genotype's {name} cell has {2 * STEPS} edges, got {len(cell)}")
            for k, (op, src) in enumerate(cell):
                if op not in DARTS_OPS:
                    raise ValueError(f"unknown DARTS operation {op!r}; known: {', '.join(DARTS_OPS)}")
                if not 0 <= src < 2 + k // 2:
                    raise ValueError(f"edge {k} of the {name} cell reads node {src}, not yet computed")

    def to_dict(self) -> dict:
        return {
            "normal": [list(e) for e in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(e) for e in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Genotype:
        return cls(
            tuple((str(o), int(i)) for o, i in d["normal"]),
            tuple(int(i) for i in d["normal_concat"]),
            tuple((str(o), int(i)) for o, i in d["reduce"]),
            tuple(int(i) for i in d["reduce_concat"]),
        )

    def __str__(self) -> str:
        return (
            f"Genotype(normal={[tuple(e) for e in self.normal]}, normal_concat={list(self.normal_concat)}, "
            f"reduce={[tuple(e) for e in self.reduce]}, reduce_concat={list(self.reduce_concat)})"
        )

    @classmethod
    def parse(cls, text: str) -> Genotype:
        """Parse :meth:`__str__` / DARTS' ``Genotype(...)`` spelling (``range(2, 6)`` allowed)."""
        body = text.strip()
        m = re.fullmatch(r"Genotype\((.*)\)", body, flags=re.S)
        if not m:
            raise ValueError(f"not a DARTS genotype: {text[:60]!r}; expected 'Genotype(normal=[...], ...)'")
        fields = {}
        for key in ("normal", "normal_concat", "reduce", "reduce_concat"):
            fm = re.search(rf"\b{key}\s*=\s*(\[.*?\]|range\(\s*\d+\s*,\s*\d+\s*\))", m.group(1), flags=re.S)
            if not fm:
                raise ValueError(f"DARTS genotype without a {key!r} field: {text[:60]!r}")
            val = fm.group(1)
            if val.startswith("range"):
                a, b = (int(v) for v in re.findall(r"\d+", val))
                fields[key] = list(range(a, b))
            else:
                fields[key] = ast.literal_eval(val)
        return cls.from_dict(fields)


def _derive_cell(alpha: Tensor) -> tuple[tuple[str, int], ...]:
    w = torch.softmax(torch.as_tensor(alpha).detach().float(), dim=-1)
    none = DARTS_OPS.index("none")
    gene: list[tuple[str, int]] = []
    start = 0
    for i in range(STEPS):
        n = 2 + i
        block = w[start : start + n].clone()
        block[:, none] = float("-inf")
        best_w, best_op = block.max(dim=1)
        order = sorted(range(n), key=lambda j: -float(best_w[j]))[:2]
        for j in sorted(order):
            gene.append((DARTS_OPS[int(best_op[j])], j))
        start += n
    return tuple(gene)


def derive_darts(alpha_normal: Tensor, alpha_reduce: Tensor) -> Genotype:
    """DARTS' genotype rule (top-2 inputs per node, best non-``none`` operation per input)."""
    concat = tuple(range(2, 2 + STEPS))
    return Genotype(_derive_cell(alpha_normal), concat, _derive_cell(alpha_reduce), concat)
