"""Loaders, augmentation invariants, subsets and train/validation splits (synthetic data, no files)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from robnas.data import (
    Augmentation,
    ImageDataset,
    augment_batch,
    dataset_info,
    default_padding,
    load_dataset,
    make_loader,
    train_val_split,
)
from robnas.errors import ConfigError, DataError


def _dataset(n=103, name="cifar10", seed=0) -> ImageDataset:
    info = dataset_info(name)
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *info.shape), generator=gen, dtype=torch.uint8)
    labels = torch.arange(n) % info.num_classes
    return ImageDataset(images, labels, info, "train")


def _batches(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


def test_eval_loader_is_ordered_complete_and_scaled():
    ds = _dataset()
    batches = _batches(make_loader(ds, 32))
    assert [len(y) for _, y in batches] == [32, 32, 32, 7]
    x = torch.cat([b[0] for b in batches])
    assert x.dtype == torch.float32 and torch.equal(x * 255, ds.images.float())
    assert torch.equal(torch.cat([b[1] for b in batches]), ds.labels)
    assert len(make_loader(ds, 32, drop_last=True)) == 3
    again = _batches(make_loader(ds, 32))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again, strict=True))


def test_shuffled_augmented_loader_is_deterministic_per_seed_and_epoch():
    ds = _dataset()
    a = make_loader(ds, 25, shuffle=True, augment=True, seed=3)
    b = make_loader(ds, 25, shuffle=True, augment=True, seed=3)
    c = make_loader(ds, 25, shuffle=True, augment=True, seed=4)
    ea, eb, ec = _batches(a), _batches(b), _batches(c)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(ea, eb, strict=True))
    assert not torch.equal(ea[0][0], ec[0][0])
    second = _batches(a)  # epoch 1 differs from epoch 0 ...
    assert not torch.equal(second[0][1], ea[0][1])
    b.set_epoch(1)  # ... and can be reproduced, e.g. when resuming
    assert all(torch.equal(x[0], y[0]) for x, y in zip(second, _batches(b), strict=True))
    # each epoch visits every image once
    assert sorted(torch.cat([y for _, y in second]).tolist()) == sorted(ds.labels.tolist())
    for x, _ in ea:
        assert x.shape[1:] == (3, 32, 32) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def _is_crop(out: torch.Tensor, image: torch.Tensor, pad: int, flip: bool) -> bool:
    padded = F.pad(image, (pad, pad, pad, pad))
    h, w = image.shape[-2:]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            window = padded[:, dy : dy + h, dx : dx + w]
            if torch.equal(out, window) or (flip and torch.equal(out, window.flip(-1))):
                return True
    return False


def test_random_crop_outputs_are_padded_crops():
    images = _dataset(12).images
    gen = torch.Generator().manual_seed(0)
    out = augment_batch(images, 4, False, gen)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert all(_is_crop(out[i], images[i], 4, flip=False) for i in range(len(images)))
    assert not all(torch.equal(out[i], images[i]) for i in range(len(images)))  # it does move things
    gen = torch.Generator().manual_seed(0)
    flipped = augment_batch(images, 2, True, gen)
    assert all(_is_crop(flipped[i], images[i], 2, flip=True) for i in range(len(images)))
    floats = augment_batch(images.float() / 255, 4, True, torch.Generator().manual_seed(1))
    assert floats.dtype == torch.float32 and 0 <= float(floats.min()) and float(floats.max()) <= 1


def test_flip_actually_flips():
    images = _dataset(64).images
    out = augment_batch(images, 0, True, torch.Generator().manual_seed(0))
    same = [torch.equal(out[i], images[i]) for i in range(64)]
    mirrored = [torch.equal(out[i], images[i].flip(-1)) for i in range(64)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert 10 < sum(mirrored) < 54  # about half are flipped
    assert torch.equal(augment_batch(images, 0, False), images)


def test_per_dataset_defaults():
    assert default_padding((32, 32)) == 4 and default_padding((16, 16)) == 2 and default_padding((8, 8)) == 1
    assert default_padding((28, 28)) == 4
    cifar = make_loader(_dataset(8), 4, augment=True)
    assert (cifar.padding, cifar.flip) == (4, True)
    digits = make_loader(load_dataset("digits", "test"), 64, augment=True)
    assert (digits.padding, digits.flip) == (1, False)
    custom = make_loader(_dataset(8), 4, augment=Augmentation(padding=0, flip=False))
    assert (custom.padding, custom.flip) == (0, False)
    with pytest.raises(ConfigError):
        make_loader(_dataset(8), 0)


def test_train_val_split_disjoint_complete_stratified():
    ds = _dataset(1000)
    train, val = train_val_split(ds, val_fraction=0.1, seed=5)
    assert (len(train), len(val)) == (900, 100)
    ids = lambda part: {bytes(x.numpy()) for x in part.images}  # noqa: E731 - images are unique here
    assert ids(train).isdisjoint(ids(val)) and ids(train) | ids(val) == ids(ds)
    assert val.class_counts().tolist() == [10] * 10
    train2, val2 = train_val_split(ds, val_fraction=0.1, seed=5)
    assert torch.equal(val.images, val2.images)
    _, val3 = train_val_split(ds, val_size=100, seed=6)
    assert not torch.equal(val.images, val3.images)
    assert val.split == "train/val"
    for bad in ({"val_fraction": 0.0}, {"val_size": 1000}, {"val_fraction": 0.1, "val_size": 5}):
        with pytest.raises(ConfigError):
            train_val_split(ds, **bad)


def test_take_and_subset():
    ds = _dataset(200)
    small = ds.take(30, seed=1)
    assert len(small) == 30 and small.class_counts().tolist() == [3] * 10
    assert torch.equal(small.images, ds.take(30, seed=1).images)
    assert len(ds.take(500)) == 200
    sub = ds.subset([5, 0, 5])
    assert torch.equal(sub.labels, ds.labels[[5, 0, 5]])
    with pytest.raises(ConfigError):
        ds.subset([200])


def test_imagedataset_validates():
    info = dataset_info("cifar10")
    with pytest.raises(DataError, match="labels range over"):
        ImageDataset(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.tensor([0, 10]), info)
    with pytest.raises(DataError, match="uint8"):
        ImageDataset(torch.zeros(2, 3, 32, 32), torch.tensor([0, 1]), info)
    with pytest.raises(DataError, match="2 images but labels"):
        ImageDataset(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.tensor([0]), info)
