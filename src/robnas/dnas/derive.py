"""From continuous alphas to discrete architectures.

* NAS-Bench-201 (:func:`derive_nb201`): one operation per edge, the argmax of ``alpha`` over the
  operations. By default ``none`` may win, as in the DARTS baseline of NAS-Bench-201 (Dong and
  Yang, ICLR 2020, whose ``genotype()`` takes the plain argmax); ``exclude_none=True`` follows
  DARTS' own rule for its space (``none`` never chosen).
* DARTS (:func:`derive_darts`, Liu et al., ICLR 2019): for each intermediate node keep the two
  incoming edges with the largest non-``none`` weight, each with its best non-``none``
  operation; the cell output concatenates nodes 2..5. Weights are ``softmax(alpha)`` per edge.

The results are values of :mod:`robnas.spaces`: an :class:`~robnas.spaces.Arch`, or a
:class:`~robnas.spaces.darts.Genotype` (plain tuples of ``(operation, input node)``, with its JSON
and string spellings).
"""

from __future__ import annotations

import torch
from torch import Tensor

from robnas.errors import ConfigError
from robnas.spaces.darts import DARTS_OPS, STEPS, Genotype
from robnas.spaces.nb201 import EDGES, OPS, Arch

__all__ = ["Genotype", "derive_darts", "derive_nb201"]


def derive_nb201(alpha: Tensor, exclude_none: bool = False) -> Arch:
    """The NAS-Bench-201 cell of ``alpha`` (``[6, 5]``, edges in :data:`~robnas.spaces.EDGES` order)."""
    a = torch.as_tensor(alpha).detach().float().clone()
    if a.shape != (len(EDGES), len(OPS)):
        raise ConfigError(f"NAS-Bench-201 alphas have shape {(len(EDGES), len(OPS))}, got {tuple(a.shape)}")
    if exclude_none:
        a[:, OPS.index("none")] = float("-inf")
    return Arch(tuple(int(i) for i in a.argmax(dim=1)))  # type: ignore[arg-type]


def _derive_cell(alpha: Tensor, exclude_none: bool = True) -> tuple[tuple[str, int], ...]:
    w = torch.softmax(torch.as_tensor(alpha).detach().float(), dim=-1)
    none = DARTS_OPS.index("none")
    gene: list[tuple[str, int]] = []
    start = 0
    for i in range(STEPS):
        n = 2 + i
        block = w[start : start + n].clone()
        if exclude_none:
            block[:, none] = float("-inf")
        best_w, best_op = block.max(dim=1)
        order = sorted(range(n), key=lambda j: -float(best_w[j]))[:2]
        for j in sorted(order):
            gene.append((DARTS_OPS[int(best_op[j])], j))
        start += n
    return tuple(gene)


def derive_darts(alpha_normal: Tensor, alpha_reduce: Tensor, exclude_none: bool = True) -> Genotype:
    """DARTS' genotype rule (top-2 inputs per node, best non-``none`` operation per input);
    ``exclude_none=False`` ranks and picks operations with ``none`` included."""
    concat = tuple(range(2, 2 + STEPS))
    return Genotype(
        _derive_cell(alpha_normal, exclude_none), concat, _derive_cell(alpha_reduce, exclude_none), concat
    )
