"""Datasets: a registry of readers, in-memory splits, deterministic loaders with augmentation.

Pixels stay in [0, 1] (uint8 in memory); normalisation with ``DatasetInfo.mean``/``std`` is the
model's first layer. Quick use::

    from robnas.data import load_dataset, train_val_split, make_loader

    ds = load_dataset("cifar10", "train", root="/data")      # ImageDataset, uint8 [N, 3, 32, 32]
    train, val = train_val_split(ds, val_fraction=0.1, seed=0)
    for x, y in make_loader(train, 256, shuffle=True, augment=True, seed=0):
        ...                                                  # x float32 in [0, 1], y int64

Registered datasets: ``cifar10``, ``cifar100`` (Krizhevsky, 2009), ``imagenet16-120``
(Chrabaszcz et al., 2017; NAS-Bench-201), ``mnist`` (LeCun et al., 1998), ``fashion-mnist``
(Xiao et al., 2017), ``digits`` (scikit-learn, offline) and ``imagefolder`` (your own images).
"""

from __future__ import annotations

from . import cifar, corrupted, digits, idx, imagefolder, imagenet16  # noqa: F401  (register the readers)
from .dataset import ImageDataset, stratified_order, train_val_split
from .files import FileStatus
from .info import DatasetInfo, Download, FileSpec
from .loader import Augmentation, BatchLoader, augment_batch, default_padding, make_loader
from .registry import (
    DATASETS,
    DatasetReader,
    available_datasets,
    dataset_info,
    download_dataset,
    get_reader,
    load_dataset,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "Augmentation",
    "BatchLoader",
    "DatasetInfo",
    "DatasetReader",
    "Download",
    "FileSpec",
    "FileStatus",
    "ImageDataset",
    "augment_batch",
    "available_datasets",
    "dataset_info",
    "default_padding",
    "download_dataset",
    "get_reader",
    "load_dataset",
    "make_loader",
    "register_dataset",
    "stratified_order",
    "train_val_split",
]
