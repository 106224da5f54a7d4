"""The DARTS cell space (Liu, Simonyan and Yang, "DARTS: Differentiable architecture search",
ICLR 2019): operation names and genotypes, as plain values (no torch).

A :class:`Genotype` names, for the normal and the reduction cell, 8 ``(operation, input node)``
pairs (two per intermediate node) and the nodes whose concatenation is the cell output. Nodes 0
and 1 are the outputs of the two previous cells; intermediate node ``k`` (0..3) is node ``2 + k``
and may read any node before it. Two spellings convert both ways: JSON
(:meth:`Genotype.to_dict` / :meth:`Genotype.from_dict`) and DARTS' own
``Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)``
(:meth:`Genotype.__str__` / :meth:`Genotype.parse`, ``range(2, 6)`` accepted).

The networks built from a genotype live in :mod:`robnas.models.darts`; the derivation of a
genotype from a search's alphas in :func:`robnas.dnas.derive_darts`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any

from robnas.errors import ConfigError

DARTS_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The DARTS operations, in the order of the DARTS code's ``PRIMITIVES``."""

STEPS = 4
"""Intermediate nodes per DARTS cell."""

FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_EXAMPLE = "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], ...)"


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class Genotype:
    """A DARTS architecture: per cell type, 8 ``(operation, input)`` pairs (2 per node) and the
    nodes concatenated into the output. Inputs 0 and 1 are the two previous cells' outputs."""

    normal: tuple[tuple[str, int], ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[tuple[str, int], ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("normal", "reduce"):
            cell = getattr(self, name)
            if len(cell) != 2 * STEPS:
                raise ConfigError(f"a DARTS genotype's {name} cell has {2 * STEPS} edges, got {len(cell)}")
            for k, (op, src) in enumerate(cell):
                if op not in DARTS_OPS:
                    raise ConfigError(
                        f"unknown DARTS operation {op!r} on edge {k} of the {name} cell; "
                        f"known: {', '.join(DARTS_OPS)}"
                    )
                if not _is_int(src) or not 0 <= src < 2 + k // 2:
                    raise ConfigError(f"edge {k} of the {name} cell reads node {src!r}, not yet computed")
            concat = getattr(self, f"{name}_concat")
            if not concat:
                raise ConfigError(f"the {name}_concat of a DARTS genotype names no node; DARTS uses 2..5")
            bad = [i for i in concat if not _is_int(i) or not 0 <= i < 2 + STEPS]
            if bad:
                raise ConfigError(
                    f"{name}_concat names node {bad[0]!r}, but a DARTS cell has nodes 0..{1 + STEPS}"
                )

    def to_dict(self) -> dict[str, list[Any]]:
        return {
            "normal": [list(e) for e in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(e) for e in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Genotype:
        """Read :meth:`to_dict`'s JSON form (a dict with the four fields)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a DARTS genotype is a dict with the fields {', '.join(FIELDS)}, got {d!r}")
        missing = [k for k in FIELDS if k not in d]
        if missing:
            raise ConfigError(f"DARTS genotype without a {missing[0]!r} field; it needs {', '.join(FIELDS)}")
        return cls(
            cls._edges(d["normal"], "normal"),
            cls._nodes(d["normal_concat"], "normal_concat"),
            cls._edges(d["reduce"], "reduce"),
            cls._nodes(d["reduce_concat"], "reduce_concat"),
        )

    @staticmethod
    def _edges(value: Any, name: str) -> tuple[tuple[str, int], ...]:
        try:
            return tuple((str(o), int(i)) for o, i in value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"the {name} cell of a DARTS genotype must be a list of (operation, input node) pairs, "
                f"got {value!r}"
            ) from None

    @staticmethod
    def _nodes(value: Any, name: str) -> tuple[int, ...]:
        try:
            return tuple(int(i) for i in value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{name} of a DARTS genotype must be a list of node numbers, got {value!r}"
            ) from None

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
            raise ConfigError(f"not a DARTS genotype: {text[:60]!r}; expected {_EXAMPLE!r}")
        fields: dict[str, Any] = {}
        for key in FIELDS:
            fm = re.search(rf"\b{key}\s*=\s*(\[.*?\]|range\(\s*\d+\s*,\s*\d+\s*\))", m.group(1), flags=re.S)
            if not fm:
                raise ConfigError(f"DARTS genotype without a {key!r} field: {text[:60]!r}")
            val = fm.group(1)
            if val.startswith("range"):
                a, b = (int(v) for v in re.findall(r"\d+", val))
                fields[key] = list(range(a, b))
            else:
                try:
                    fields[key] = ast.literal_eval(val)
                except (ValueError, SyntaxError):
                    raise ConfigError(
                        f"cannot read the {key!r} field of a DARTS genotype: {val[:60]!r}"
                    ) from None
        return cls.from_dict(fields)
