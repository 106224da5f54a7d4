"""Measures on trained networks and the batch every measure run uses.

Jung, Lukasik and Keuper (ICLR 2023) evaluate the input Jacobian and Hessian of *trained*
networks; at initialisation the same quantities are trainability proxies. A trained network keeps
its own BatchNorm statistics (``bn="as-is"``: eval mode, running statistics as trained), never
the statistics of the measuring batch.

* :func:`measure_batch`: the images and labels measures are taken on: ``n`` images of the
  dataset's *train* split, stratified by class and drawn with ``seed`` (the same batch for the
  CLI, the ``measure`` job kind of the builder and the ``train-attack`` kind).
* :func:`load_trained`: a network from a ``robnas train`` checkpoint, read with
  ``torch.load(weights_only=True)`` (tensors and plain containers only; nothing executes).
* :func:`measure_trained`: :func:`~robnas.measures.compute_measures` on such a network with
  ``bn="as-is"`` (one set of weights: the NTK scores use ``n_init=1``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from robnas.errors import ConfigError, DataError

CHECKPOINT_FORMAT = "robnas-checkpoint/1"

_BATCHES: dict[tuple[Any, ...], tuple[Tensor, Tensor, Any]] = {}


def measure_batch(
    dataset: str, n: int = 64, seed: int = 0, root: str | os.PathLike[str] | None = None
) -> tuple[Tensor, Tensor, Any]:
    """``(x in [0, 1] float [n, C, H, W], y int64 [n], dataset info)`` from the train split.

    Stratified by class and seeded (:meth:`robnas.data.ImageDataset.take`); cached per process.
    """
    if n < 2:
        raise ConfigError(f"a measure batch needs at least 2 images (kernels need pairs), got {n}")
    key = (dataset, n, seed, str(root) if root is not None else None)
    if key not in _BATCHES:
        from robnas.data import load_dataset

        ds = load_dataset(dataset, "train", root).take(n, seed)
        _BATCHES[key] = (ds.images.float().div(255.0), ds.labels.long(), ds.info)
    return _BATCHES[key]


def load_trained(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """``(network in eval mode, checkpoint dict)`` from a ``robnas train`` checkpoint.

    ``path`` is the checkpoint file or the run directory holding ``checkpoint.pt``. The file is
    read by :func:`robnas.training.checkpoint.read_checkpoint` (``torch.load(weights_only=True)``
    and a checksum): a file that needs arbitrary unpickling, or a damaged one, is refused.
    """
    from robnas.models import build_network

    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise DataError(f"no checkpoint at {p}; give a run directory of `robnas train` or its checkpoint.pt")
    from robnas.training.checkpoint import read_checkpoint

    ckpt = read_checkpoint(p, device)  # sealed, weights_only=True, checksum verified
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{p} is not a robnas checkpoint (written by `robnas train`)")
    cfg = dict(ckpt.get("network") or {})
    if "arch" not in cfg:
        raise DataError(f"{p}: the checkpoint does not record a network architecture")
    model = build_network(cfg.pop("arch"), **cfg)
    try:
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError) as exc:
        raise DataError(f"{p}: the weights do not fit the recorded network ({exc})") from None
    return model.to(device).eval(), ckpt


def measure_trained(
    names: str | Sequence[str],
    model: nn.Module | str | os.PathLike[str],
    x: Tensor,
    y: Tensor,
    seed: int = 0,
    options: dict[str, dict[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
    flags: dict[str, str] | None = None,
) -> dict[str, float]:
    """Measures of a trained network (a module, or a checkpoint path) with its own BatchNorm
    statistics (``bn="as-is"``). NTK measures score the one set of weights (``n_init`` is 1).
    ``timings`` and ``flags`` as in :func:`~robnas.measures.registry.compute_measures`."""
    from robnas.measures.registry import compute_measures, parse_measures

    net = load_trained(model)[0] if not isinstance(model, nn.Module) else model
    return compute_measures(
        parse_measures(names), net, x, y, seed=seed, options=options, timings=timings, bn="as-is", flags=flags
    )
