"""Batches straight from the uint8 tensor, with standard augmentation written in torch.

Augmentation is the usual CIFAR recipe: a random crop of the image padded with zeros (padding 4
for 32x32 images, scaled with the image size: 2 for 16x16, 1 for 8x8) and, where the dataset
allows it (not for digits), a random horizontal flip. Both are done for a whole batch at once by
one gather on the padded uint8 batch, so the cost is one indexing operation per batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from robnas.errors import ConfigError

from .dataset import ImageDataset


def default_padding(image_size: tuple[int, int]) -> int:
    """Crop padding scaled from 4 pixels at 32x32 (at least 1)."""
    return max(1, int(round(4 * min(image_size) / 32)))


@dataclass(frozen=True)
class Augmentation:
    """Settings of the training augmentation; ``None`` takes the dataset's default."""

    padding: int | None = None
    flip: bool | None = None


def augment_batch(
    images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random crop with zero padding and optional random horizontal flip of a batch ``[B, C, H, W]``.

    Works on any dtype (uint8 or float) and returns the same shape and dtype; pixel values are
    only moved, or replaced by zeros from the padding. Random numbers come from ``generator``
    (on the CPU), so a seeded generator gives the same result on every device.
    """
    if images.ndim != 4:
        raise ConfigError(f"augment_batch needs a batch [B, C, H, W], got shape {tuple(images.shape)}")
    if padding < 0:
        raise ConfigError(f"crop padding must be >= 0, got {padding}")
    b, c, h, w = images.shape
    device = images.device
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator)
    flips = torch.rand(b, generator=generator) < 0.5
    if padding == 0 and not flip:
        return images
    rows = offsets[0, :, None] + torch.arange(h)  # [B, H]
    cols = offsets[1, :, None] + torch.arange(w)  # [B, W]
    if flip:
        cols = torch.where(flips[:, None], cols.flip(1), cols)
    padded = F.pad(images, (padding, padding, padding, padding)) if padding else images
    rows, cols = rows.to(device), cols.to(device)
    bi = torch.arange(b, device=device)[:, None, None, None]
    ci = torch.arange(c, device=device)[None, :, None, None]
    return padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


class BatchLoader:
    """An iterable of ``(x float32 [B, C, H, W] in [0, 1], y int64 [B])`` batches.

    Every pass (``iter``) is one epoch; the shuffle order and augmentation of epoch ``e`` depend
    only on ``(seed, e)``, so two loaders built alike give identical batches. ``set_epoch`` sets
    the next epoch, e.g. when resuming. Without shuffling and augmentation the batches are the
    same in every epoch.
    """

    def __init__(
        self,
        ds: ImageDataset,
        batch_size: int,
        shuffle: bool = False,
        augment: bool | Augmentation = False,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset = ds
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        if isinstance(augment, Augmentation):
            self.augment = True
            padding, flip = augment.padding, augment.flip
        else:
            self.augment = bool(augment)
            padding, flip = None, None
        self.padding = default_padding(ds.info.image_size) if padding is None else int(padding)
        self.flip = ds.info.hflip if flip is None else bool(flip)
        # Keep the uint8 data where the batches are needed: one transfer instead of one per batch.
        self._images = ds.images.to(self.device)
        self._labels = ds.labels.to(self.device)
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch ``epoch``."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        return self._batches(epoch)

    def _batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.dataset)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            x = self._images[idx]
            if self.augment:
                x = augment_batch(x, self.padding, self.flip, gen)
            yield x.float().div_(255.0), self._labels[idx]


def make_loader(
    ds: ImageDataset,
    batch_size: int,
    shuffle: bool = False,
    augment: bool | Augmentation = False,
    seed: int = 0,
    drop_last: bool = False,
    device: torch.device | str | None = None,
) -> BatchLoader:
    """Batches of ``ds`` as ``(x float32 [B, C, H, W] in [0, 1], y int64 [B])``.

    ``augment=True`` applies random crop (dataset-scaled padding) and, where the dataset allows,
    horizontal flip; pass an :class:`Augmentation` to choose padding or flip. ``device`` moves
    the whole uint8 split there once. Deterministic for a given ``seed`` and epoch.
    """
    return BatchLoader(ds, batch_size, shuffle, augment, seed, drop_last, device)
