"""In-memory image datasets: uint8 images, int64 labels, and deterministic splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from robnas.errors import ConfigError, DataError

from .info import DatasetInfo


@dataclass(eq=False)
class ImageDataset:
    """A whole split in memory.

    Attributes:
        images: ``torch.uint8`` tensor ``[N, C, H, W]`` (pixels 0..255).
        labels: ``torch.int64`` tensor ``[N]`` in ``0 .. info.num_classes - 1``.
        info: the dataset's :class:`DatasetInfo`.
        split: which split this is (``"train"``, ``"test"``, ``"train/val"`` ...), for messages.

    Indexing returns ``(image, label)`` with the image as float32 in [0, 1] and the label as int.
    """

    images: torch.Tensor
    labels: torch.Tensor
    info: DatasetInfo
    split: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.images, np.ndarray):
            self.images = torch.from_numpy(np.ascontiguousarray(self.images))
        if isinstance(self.labels, np.ndarray):
            self.labels = torch.from_numpy(np.ascontiguousarray(self.labels).astype(np.int64))
        where = f"{self.info.name} {self.split}".strip()
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DataError(
                f"{where}: images must be a uint8 tensor [N, C, H, W], got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        self.labels = self.labels.to(torch.int64)
        if self.labels.shape != (self.images.shape[0],):
            raise DataError(
                f"{where}: {self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}"
            )
        if self.images.shape[1] != self.info.channels:
            raise DataError(
                f"{where}: images have {self.images.shape[1]} channels, expected {self.info.channels}"
            )
        if len(self.labels) and (
            int(self.labels.min()) < 0 or int(self.labels.max()) >= self.info.num_classes
        ):
            raise DataError(
                f"{where}: labels range over {int(self.labels.min())}..{int(self.labels.max())}, "
                f"outside 0..{self.info.num_classes - 1}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float().div_(255.0), int(self.labels[index])

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return f"ImageDataset({self.info.name!r}, split={self.split!r}, n={len(self)}, shape=({c}, {h}, {w}))"

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    def class_counts(self) -> torch.Tensor:
        """Number of images per class (``int64 [num_classes]``)."""
        return torch.bincount(self.labels, minlength=self.info.num_classes)

    def subset(
        self, indices: Sequence[int] | torch.Tensor | np.ndarray, split: str | None = None
    ) -> ImageDataset:
        """A new dataset with the images at ``indices`` (copied, in the given order)."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.int64).reshape(-1)
        if len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise ConfigError(f"subset indices must lie in 0..{len(self) - 1} for {self!r}")
        return replace(self, images=self.images[idx], labels=self.labels[idx], split=split or self.split)

    def take(self, n: int, seed: int = 0) -> ImageDataset:
        """``n`` images chosen at random with ``seed``, stratified by class, kept in dataset order."""
        if n < 0:
            raise ConfigError(f"take(n) needs n >= 0, got {n}")
        order = stratified_order(self.labels, seed)[: min(n, len(self))]
        return self.subset(torch.sort(order).values)

    def to_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """``(images uint8 [N, C, H, W], labels int64 [N])`` as numpy arrays."""
        return self.images.numpy(), self.labels.numpy()


def stratified_order(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded permutation of ``0..N-1`` in which every prefix is stratified by class.

    Each index gets the key ``(rank within its class + 0.5) / class size`` under a random
    permutation; sorting by the key interleaves the classes in proportion to their sizes, so the
    first ``k`` indices hold about ``k * n_c / N`` of class ``c``.
    """
    n = len(labels)
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen)
    if n == 0:
        return perm
    lab = labels[perm]
    counts = torch.bincount(lab)
    by_class = torch.argsort(lab, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.int64)
    rank[by_class] = torch.arange(n) - starts[lab[by_class]]
    key = (rank.double() + 0.5) / counts[lab].double()
    return perm[torch.argsort(key, stable=True)]


def train_val_split(
    ds: ImageDataset,
    val_fraction: float | None = None,
    val_size: int | None = None,
    seed: int = 0,
) -> tuple[ImageDataset, ImageDataset]:
    """Split ``ds`` into disjoint, complete ``(train, val)`` parts, stratified by class.

    Give either ``val_fraction`` (default 0.1) or ``val_size``. The split depends only on the
    labels and ``seed``; both parts keep the dataset's order.
    """
    n = len(ds)
    if val_fraction is not None and val_size is not None:
        raise ConfigError("give either val_fraction or val_size to train_val_split, not both")
    if val_size is None:
        fraction = 0.1 if val_fraction is None else float(val_fraction)
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"val_fraction must lie strictly between 0 and 1, got {fraction}")
        val_size = int(round(fraction * n))
    if not 0 < val_size < n:
        raise ConfigError(f"a validation set of {val_size} images cannot be split off {n} images")
    order = stratified_order(ds.labels, seed)
    val_idx = torch.sort(order[:val_size]).values
    train_idx = torch.sort(order[val_size:]).values
    base = ds.split or "train"
    return ds.subset(train_idx, split=f"{base}/train"), ds.subset(val_idx, split=f"{base}/val")
