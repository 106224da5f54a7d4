"""The eight operations of the DARTS cell space (Liu, Simonyan and Yang, "DARTS: Differentiable
architecture search", ICLR 2019).

The factories share the signature of the NAS-Bench-201 operations of :mod:`robnas.models.ops`
(``factory(C_in, C_out, stride, affine, track_running_stats)``) and reuse its building blocks
where the two spaces have the same operation:

* ``none``: zeros (:class:`~robnas.models.ops.Zero`), NAS-Bench-201's ``none``;
* ``skip_connect``: the identity, or :class:`~robnas.models.ops.FactorizedReduce` for stride 2,
  NAS-Bench-201's ``skip_connect``;
* ``max_pool_3x3`` / ``avg_pool_3x3``: 3x3 pooling, padding 1 (average without the padding),
  :class:`~robnas.models.ops.Pooling`;
* ``sep_conv_3x3`` / ``sep_conv_5x5``: two stacked (ReLU, depthwise conv, pointwise conv, BN)
  blocks, the first carrying the stride (:class:`SepConv`);
* ``dil_conv_3x3`` / ``dil_conv_5x5``: ReLU, depthwise conv with dilation 2, pointwise conv, BN
  (:class:`DilConv`).

In the search network DARTS adds a parameter-free BatchNorm after each pooling inside a mixed
operation; the pooling factories do so when ``affine`` is False (the search setting).
"""

from __future__ import annotations

from torch import Tensor, nn

from robnas.models.ops import OPERATIONS, OpFactory, Pooling, build_op
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

    def forward(self, x: Tensor) -> Tensor:
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

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


def _pool(mode: str) -> OpFactory:
    """3x3 pooling, followed in the search setting (``affine`` False) by a parameter-free BN."""

    def factory(C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
        op = Pooling(C_in, C_out, stride, affine, track, mode=mode)
        return (
            op
            if affine
            else nn.Sequential(op, nn.BatchNorm2d(C_out, affine=False, track_running_stats=track))
        )

    return factory


def _sep(k: int) -> OpFactory:
    def factory(C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
        return SepConv(C_in, C_out, k, stride, k // 2, affine, track)

    return factory


def _dil(k: int) -> OpFactory:
    def factory(C_in: int, C_out: int, stride: int, affine: bool = True, track: bool = True) -> nn.Module:
        return DilConv(C_in, C_out, k, stride, k - 1, 2, affine, track)

    return factory


DARTS_OPERATIONS: dict[str, OpFactory] = {
    "none": OPERATIONS["none"],
    "max_pool_3x3": _pool("max"),
    "avg_pool_3x3": _pool("avg"),
    "skip_connect": OPERATIONS["skip_connect"],
    "sep_conv_3x3": _sep(3),
    "sep_conv_5x5": _sep(5),
    "dil_conv_3x3": _dil(3),
    "dil_conv_5x5": _dil(5),
}
"""DARTS operation name -> factory ``(C_in, C_out, stride, affine, track_running_stats)``."""

assert tuple(DARTS_OPERATIONS) == DARTS_OPS  # one order: robnas.spaces.darts.DARTS_OPS


def darts_op(
    name: str, C_in: int, C_out: int, stride: int = 1, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    """Build the DARTS operation ``name``."""
    return build_op(
        DARTS_OPERATIONS, name, C_in, C_out, stride, affine, track_running_stats, "DARTS operation"
    )
