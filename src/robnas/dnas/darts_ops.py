"""The eight operations of the DARTS cell space (Liu, Simonyan and Yang, "DARTS: Differentiable
architecture search", ICLR 2019).

Conceptually these belong in :mod:`robnas.models` next to the NAS-Bench-201 operations (they
share its factory signature ``factory(C_in, C_out, stride, affine, track_running_stats)`` and
reuse its :class:`~robnas.models.ops.Zero`, :class:`~robnas.models.ops.FactorizedReduce` and
:class:`~robnas.models.ops.Pooling`); they live here until the models package takes them over.

* ``none``: zeros (:class:`~robnas.models.ops.Zero`);
* ``max_pool_3x3`` / ``avg_pool_3x3``: 3x3 pooling, padding 1 (average without the padding);
* ``skip_connect``: the identity, or :class:`~robnas.models.ops.FactorizedReduce` for stride 2;
* ``sep_conv_3x3`` / ``sep_conv_5x5``: two stacked (ReLU, depthwise conv, pointwise conv, BN)
  blocks, the first carrying the stride (:class:`SepConv`);
* ``dil_conv_3x3`` / ``dil_conv_5x5``: ReLU, depthwise conv with dilation 2, pointwise conv, BN
  (:class:`DilConv`).

In the search network DARTS adds a parameter-free BatchNorm after each pooling inside a mixed
operation; :func:`darts_op` does so when ``affine`` is False (the search setting).
"""

from __future__ import annotations

from torch import nn

from robnas.models.ops import FactorizedReduce, OpFactory, Pooling, Zero
from robnas.spaces.darts import DARTS_OPS


class DilConv(nn.Module):
    """ReLU -> depthwise conv (dilation) -> pointwise conv -> BN (DARTS ``DilConv``)."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.op(x)


class SepConv(nn.Module):
    """Two :class:`DilConv` blocks with dilation 1, the first with the stride (DARTS ``SepConv``)."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine, track_running_stats),
            DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine, track_running_stats),
        )

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.op(x)


class MaxPool(nn.Module):
    """3x3 max pooling, padding 1 (with a 1x1 ReLU-conv-BN first if the channel count changes)."""

    def __init__(self, C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> None:
        super().__init__()
        from robnas.models.ops import ReLUConvBN

        self.preprocess = None if C_in == C_out else ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine, track)
        self.pool = nn.MaxPool2d(3, stride=stride, padding=1)

    def forward(self, x):  # type: ignore[no-untyped-def]
        if self.preprocess is not None:
            x = self.preprocess(x)
        return self.pool(x)


def _with_bn(op: nn.Module, C: int, affine: bool, track: bool) -> nn.Module:
    return op if affine else nn.Sequential(op, nn.BatchNorm2d(C, affine=False, track_running_stats=track))


def _none(C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
    return Zero(C_in, C_out, stride)


def _max(C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
    return _with_bn(MaxPool(C_in, C_out, stride, affine, track), C_out, affine, track)


def _avg(C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
    return _with_bn(Pooling(C_in, C_out, stride, affine, track), C_out, affine, track)


def _skip(C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    return FactorizedReduce(C_in, C_out, stride, affine, track)


def _sep(k: int) -> OpFactory:
    def factory(C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
        return SepConv(C_in, C_out, k, stride, k // 2, affine, track)

    return factory


def _dil(k: int) -> OpFactory:
    def factory(C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
        return DilConv(C_in, C_out, k, stride, k - 1, 2, affine, track)

    return factory


DARTS_OPERATIONS: dict[str, OpFactory] = {
    "none": _none,
    "max_pool_3x3": _max,
    "avg_pool_3x3": _avg,
    "skip_connect": _skip,
    "sep_conv_3x3": _sep(3),
    "sep_conv_5x5": _sep(5),
    "dil_conv_3x3": _dil(3),
    "dil_conv_5x5": _dil(5),
}
"""DARTS operation name -> factory ``(C_in, C_out, stride, affine, track_running_stats)``."""


def darts_op(
    name: str, C_in: int, C_out: int, stride: int = 1, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    """Build the DARTS operation ``name``."""
    try:
        factory = DARTS_OPERATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown DARTS operation {name!r}; known operations: {', '.join(DARTS_OPS)}"
        ) from None
    return factory(C_in, C_out, stride, affine, track_running_stats)
