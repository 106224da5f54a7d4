"""Model sizes: parameters and FLOPs, with the conventions of the NAS-Bench-201 literature.

:func:`count_flops` runs one forward pass on a batch of one zero image and adds up a cost per leaf
module, read by forward hooks. Two conventions are available:

``"naslib"`` (default): the rules of tensorwatch's ``ModelStats`` (a torchstat derivative), which
NASLib uses for the ``flops`` score of its zero-cost files (``zc_nasbench201.json``); robnas
reproduces those scores exactly (tested on every CIFAR-10 architecture of the file). Per module,
for one image:

* ``Conv2d``: ``k_h * k_w * C_in / groups * C_out * H_out * W_out`` multiply-adds, plus
  ``C_out * H_out * W_out`` if it has a bias;
* ``BatchNorm2d``: 2 per element (scale and shift), 1 if it is not affine;
* ``ReLU`` (and ReLU6, PReLU, ELU, LeakyReLU): 1 per element;
* ``AvgPool2d`` / ``MaxPool2d``: ``k_h * k_w`` per output element;
* ``AdaptiveAvgPool2d`` / ``AdaptiveMaxPool2d``: ``C * sum((h_win + 1) * (w_win + 1))`` over the
  output cells (torchstat's formula, which counts one extra row and column per window: a global
  pooling of an ``H x W`` map costs ``C * (H + 1) * (W + 1)``);
* ``Linear``: ``in_features * out_features`` (the bias is not counted);
* anything else (``none``/zeros, identity, sums of node inputs, ``Normalize``): 0.

``"macs"``: only the multiply-accumulates of the weights, ``k_h * k_w * C_in / groups * C_out *
H_out * W_out`` per ``Conv2d`` and ``in_features * out_features`` per ``Linear``.

Like NAS-Bench-201's reference implementation (Dong and Yang, ICLR 2020) and NASLib, which run
every edge of a cell, the count includes edges whose result cannot reach the cell output
(``full=True``, see :func:`full_graph`); :class:`~robnas.models.nb201.NB201Network` skips them when
it runs for real. A module called several times in one forward pass is counted every time (tensorwatch
keeps only the last call; no NAS-Bench-201 module is called twice). Pooling costs use the actual
output size (for even feature maps it equals torchstat's floor formula).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import torch
from torch import nn

from robnas.errors import ConfigError
from robnas.models.darts import AuxiliaryHead

Convention = Literal["naslib", "macs"]
CONVENTIONS: tuple[str, ...] = ("naslib", "macs")

_RELUS = (nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU)


def count_params(model: nn.Module, trainable_only: bool = False, auxiliary: bool = False) -> int:
    """Number of parameter values (buffers such as BN statistics or ``Normalize`` are excluded).

    The parameters of auxiliary heads (:class:`~robnas.models.darts.AuxiliaryHead`, DARTS'
    ``--auxiliary``), which are used in training only and discarded afterwards, are left out
    unless ``auxiliary=True``: DARTS reports its sizes without them (its ``count_parameters_in_MB``
    skips every parameter named ``auxiliary``).
    """
    skip = (
        set()
        if auxiliary
        else {id(p) for m in model.modules() if isinstance(m, AuxiliaryHead) for p in m.parameters()}
    )
    return sum(
        p.numel() for p in model.parameters() if (p.requires_grad or not trainable_only) and id(p) not in skip
    )


@contextlib.contextmanager
def full_graph(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, every cell of ``model`` evaluates all its edges (no pruning)."""
    saved: list[tuple[nn.Module, Any]] = [(m, m.prune) for m in model.modules() if hasattr(m, "prune")]
    try:
        for m, _ in saved:
            setattr(m, "prune", False)  # noqa: B010 - any module with a prune flag
        yield model
    finally:
        for m, value in saved:
            setattr(m, "prune", value)  # noqa: B010


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    a, b = tuple(v)
    return int(a), int(b)


def _adaptive_windows(size_in: int, size_out: int) -> list[int]:
    return [
        math.ceil((i + 1) * size_in / size_out) - math.floor(i * size_in / size_out) for i in range(size_out)
    ]


def _module_flops(module: nn.Module, x: torch.Tensor, y: torch.Tensor, convention: str) -> int:
    per_image = x.shape[0]
    if isinstance(module, nn.Conv2d):
        k_h, k_w = module.kernel_size
        out_positions = y.numel() // y.shape[1]
        macs = k_h * k_w * (module.in_channels // module.groups) * module.out_channels * out_positions
        if convention == "naslib" and module.bias is not None:
            macs += y.numel()
        return macs // per_image
    if isinstance(module, nn.Linear):
        rows = x.numel() // x.shape[-1]
        return rows * module.in_features * module.out_features // per_image
    if convention == "macs":
        return 0
    if isinstance(module, nn.BatchNorm2d):
        return (2 if module.affine else 1) * x.numel() // per_image
    if isinstance(module, _RELUS):
        return x.numel() // per_image
    if isinstance(module, nn.AvgPool2d | nn.MaxPool2d):
        k_h, k_w = _pair(module.kernel_size)
        return k_h * k_w * y.numel() // per_image
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        win_h = _adaptive_windows(x.shape[-2], y.shape[-2])
        win_w = _adaptive_windows(x.shape[-1], y.shape[-1])
        cells = sum(h + 1 for h in win_h) * sum(w + 1 for w in win_w)
        return x.shape[1] * cells
    return 0


def count_flops(
    model: nn.Module,
    input_size: Sequence[int] = (3, 32, 32),
    convention: Convention = "naslib",
    full: bool = True,
) -> int:
    """FLOPs of one forward pass of one image of shape ``input_size`` (channels, height, width).

    ``convention`` is ``"naslib"`` (equals NASLib's zero-cost ``flops`` score times 1e6) or
    ``"macs"`` (weight multiply-accumulates only); see the module documentation for the exact
    rules. ``full=True`` evaluates every cell edge, as NAS-Bench-201 does. The model runs in eval
    mode without gradients on its own device; its training mode is restored afterwards.
    """
    if convention not in CONVENTIONS:
        raise ConfigError(f"unknown FLOPs convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    size = tuple(int(s) for s in input_size)
    if len(size) != 3 or min(size) < 1:
        raise ConfigError(
            f"input_size must be (channels, height, width) with positive sizes, got {input_size!r}"
        )
    first: torch.Tensor | None = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32

    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
            total += _module_flops(module, inputs[0], output, convention)

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    ctx = full_graph(model) if full else contextlib.nullcontext(model)
    try:
        model.eval()
        with ctx, torch.no_grad():
            model(torch.zeros((1, *size), device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)
