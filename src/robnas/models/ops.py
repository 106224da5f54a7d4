"""Operations of the NAS-Bench-201 cell space (Dong and Yang, ICLR 2020).

Every cell operation is built by a factory with the signature
``factory(C_in, C_out, stride, affine=True, track_running_stats=True) -> nn.Module`` and looked up
by its NAS-Bench-201 name in :data:`OPERATIONS` (or through :func:`make_op`). The factories accept
any stride and channel change, so that supernets with mixed operations can reuse them; inside a
NAS-Bench-201 network every cell operation has ``stride == 1`` and ``C_in == C_out``.

The operations follow NAS-Bench-201's reference implementation:

* ``none``: zeros of the output shape (spatial size divided by ``stride``, ``C_out`` channels);
* ``skip_connect``: the identity, or (when ``stride > 1`` or ``C_in != C_out``) a
  :class:`FactorizedReduce`;
* ``nor_conv_1x1`` and ``nor_conv_3x3``: ReLU -> Conv (no bias) -> BatchNorm (:class:`ReLUConvBN`);
* ``avg_pool_3x3``: 3x3 average pooling, padding 1, ``count_include_pad=False``, preceded by a
  1x1 :class:`ReLUConvBN` when the channel count changes (:class:`Pooling`).

The DARTS operations (:mod:`robnas.models.darts_ops`) reuse these building blocks.

Also here: the residual reduction block placed between the stages of the macro network
(:class:`ResidualBlock`) and the input normalisation layer (:class:`Normalize`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from robnas.errors import ConfigError

OpFactory = Callable[..., nn.Module]
"""``factory(C_in, C_out, stride, affine=True, track_running_stats=True) -> nn.Module``."""


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d, the convolution unit of NAS-Bench-201."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                C_in, C_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False
            ),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The ``none`` operation: zeros shaped like the output (``C_out`` channels, ``stride`` applied).

    The result is a fresh zero tensor (no gradient flows to the input), of size
    ``ceil(H / stride) x ceil(W / stride)`` like the strided operations.
    """

    def __init__(self, C_in: int, C_out: int, stride: int = 1) -> None:
        super().__init__()
        self.C_in, self.C_out, self.stride = C_in, C_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        s = self.stride
        return x.new_zeros((n, self.C_out, -(-h // s), -(-w // s)))

    def extra_repr(self) -> str:
        return f"C_in={self.C_in}, C_out={self.C_out}, stride={self.stride}"


class FactorizedReduce(nn.Module):
    """Change resolution and/or channels cheaply (NAS-Bench-201 / DARTS ``FactorizedReduce``).

    ``stride == 2``: ReLU, then two 1x1 convolutions with stride 2, the second on the input shifted
    by one pixel, whose outputs (``C_out // 2`` and ``C_out - C_out // 2`` channels) are
    concatenated, then BatchNorm. ``stride == 1``: ReLU -> 1x1 conv -> BatchNorm.
    """

    def __init__(
        self, C_in: int, C_out: int, stride: int, affine: bool = True, track_running_stats: bool = True
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f"FactorizedReduce supports stride 1 or 2, got {stride}")
        self.stride = stride
        self.relu = nn.ReLU(inplace=False)
        if stride == 2:
            half = C_out // 2
            self.convs = nn.ModuleList(
                [
                    nn.Conv2d(C_in, half, 1, stride=2, padding=0, bias=False),
                    nn.Conv2d(C_in, C_out - half, 1, stride=2, padding=0, bias=False),
                ]
            )
        else:
            self.conv = nn.Conv2d(C_in, C_out, 1, stride=1, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if self.stride == 2:
            shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
            out = torch.cat([self.convs[0](x), self.convs[1](shifted)], dim=1)
        else:
            out = self.conv(x)
        return self.bn(out)


class Pooling(nn.Module):
    """3x3 pooling, padding 1, as NAS-Bench-201's ``POOLING``: average (``count_include_pad=False``,
    the NAS-Bench-201 operation) or, with ``mode="max"``, max (DARTS' ``max_pool_3x3``).

    When ``C_in != C_out`` a 1x1 :class:`ReLUConvBN` adapts the channels first.
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        stride: int = 1,
        affine: bool = True,
        track_running_stats: bool = True,
        mode: str = "avg",
    ) -> None:
        super().__init__()
        self.preprocess = (
            None if C_in == C_out else ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine, track_running_stats)
        )
        self.pool: nn.Module
        if mode == "avg":
            self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
        elif mode == "max":
            self.pool = nn.MaxPool2d(3, stride=stride, padding=1)
        else:
            raise ConfigError(f"unknown pooling mode {mode!r}; choose avg or max")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preprocess is not None:
            x = self.preprocess(x)
        return self.pool(x)


def _none(
    C_in: int, C_out: int, stride: int, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    return Zero(C_in, C_out, stride)


def _skip(
    C_in: int, C_out: int, stride: int, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    return FactorizedReduce(C_in, C_out, stride, affine, track_running_stats)


def _conv1x1(
    C_in: int, C_out: int, stride: int, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    return ReLUConvBN(C_in, C_out, 1, stride, 0, 1, affine, track_running_stats)


def _conv3x3(
    C_in: int, C_out: int, stride: int, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    return ReLUConvBN(C_in, C_out, 3, stride, 1, 1, affine, track_running_stats)


def _avgpool(
    C_in: int, C_out: int, stride: int, affine: bool = True, track_running_stats: bool = True
) -> nn.Module:
    return Pooling(C_in, C_out, stride, affine, track_running_stats)


OPERATIONS: dict[str, OpFactory] = {
    "none": _none,
    "skip_connect": _skip,
    "nor_conv_1x1": _conv1x1,
    "nor_conv_3x3": _conv3x3,
    "avg_pool_3x3": _avgpool,
}
"""NAS-Bench-201 operation name -> factory ``(C_in, C_out, stride, affine, track_running_stats)``."""


def build_op(
    operations: dict[str, OpFactory],
    name: str,
    C_in: int,
    C_out: int,
    stride: int = 1,
    affine: bool = True,
    track_running_stats: bool = True,
    kind: str = "operation",
) -> nn.Module:
    """Build the operation ``name`` of the table ``operations`` (``kind`` names it in the error)."""
    try:
        factory = operations[name]
    except KeyError:
        raise ConfigError(f"unknown {kind} {name!r}; known operations: {', '.join(operations)}") from None
    return factory(C_in, C_out, stride, affine, track_running_stats)


def make_op(
    name: str,
    C_in: int,
    C_out: int,
    stride: int = 1,
    affine: bool = True,
    track_running_stats: bool = True,
) -> nn.Module:
    """Build the operation ``name`` (a key of :data:`OPERATIONS`)."""
    return build_op(OPERATIONS, name, C_in, C_out, stride, affine, track_running_stats)


class ResidualBlock(nn.Module):
    """NAS-Bench-201's residual reduction block (``ResNetBasicblock``) between stages.

    Main path: ReLU -> conv3x3 (stride) -> BN -> ReLU -> conv3x3 -> BN. Shortcut: for stride 2,
    2x2 average pooling then a 1x1 convolution (no BN); for stride 1 with a channel change, a 1x1
    :class:`ReLUConvBN`; otherwise the identity. Output = shortcut + main path.

    The pooling uses ``ceil_mode=True`` so that odd feature maps (e.g. 7x7 from a 28x28 input) keep
    both paths the same size; for even sizes this is exactly NAS-Bench-201's ``AvgPool2d(2, 2)``.
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        stride: int = 2,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f"the residual block supports stride 1 or 2, got {stride}")
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, 1, 1, affine, track_running_stats)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, 1, affine, track_running_stats)
        self.downsample: nn.Module | None
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=True),
                nn.Conv2d(C_in, C_out, 1, stride=1, padding=0, bias=False),
            )
        elif C_in != C_out:
            self.downsample = ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine, track_running_stats)
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_b(self.conv_a(x))
        shortcut = x if self.downsample is None else self.downsample(x)
        return shortcut + out


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std``: the first layer of a model that takes pixels in [0, 1].

    ``mean`` and ``std`` are buffers (saved with the model, moved with ``.to(device)``), not
    parameters, so they do not change parameter counts.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t = torch.as_tensor(list(mean), dtype=torch.float32)
        std_t = torch.as_tensor(list(std), dtype=torch.float32)
        if mean_t.ndim != 1 or mean_t.shape != std_t.shape or mean_t.numel() == 0:
            raise ConfigError(
                f"mean and std must be non-empty lists of the same length (one value per channel), "
                f"got {list(mean)!r} and {list(std)!r}"
            )
        if bool((std_t <= 0).any()):
            raise ConfigError(f"std must be positive for every channel, got {list(std)!r}")
        self.register_buffer("mean", mean_t.view(1, -1, 1, 1))
        self.register_buffer("std", std_t.view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
