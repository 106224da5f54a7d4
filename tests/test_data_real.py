"""robnas.data on the real reference data (CIFAR-10 subset, MNIST test set) and scikit-learn digits."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from robnas.data import dataset_info, get_reader, load_dataset
from robnas.data.files import DIFFERS
from robnas.errors import DataError

CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture(scope="module")
def cifar_train(shared_data):
    return load_dataset("cifar10", "train", root=shared_data)


@pytest.fixture(scope="module")
def cifar_test(shared_data):
    return load_dataset("cifar10", "test", root=shared_data)


def _raw_batch(shared_data, name):
    with open(shared_data / "cifar10" / "cifar-10-batches-py" / name, "rb") as fh:
        return pickle.load(fh, encoding="bytes")


def test_cifar10_subset_train(cifar_train, shared_data):
    assert len(cifar_train) == 10_000
    assert cifar_train.images.shape == (10_000, 3, 32, 32)
    assert cifar_train.images.dtype == torch.uint8
    assert cifar_train.labels.dtype == torch.int64
    assert cifar_train.class_counts().tolist() == [1000] * 10
    # class names come from batches.meta
    meta = _raw_batch(shared_data, "batches.meta")
    assert tuple(n.decode() for n in meta[b"label_names"]) == CIFAR10_NAMES == cifar_train.info.class_names
    # pixels and labels equal those read independently from the pickles, in file order
    first = _raw_batch(shared_data, "data_batch_1")
    assert cifar_train.labels[:10].tolist() == [3, 8, 1, 0, 4, 0, 9, 3, 4, 9] == first[b"labels"][:10]
    assert np.array_equal(cifar_train.images[0].numpy(), first[b"data"][0].reshape(3, 32, 32))
    second = _raw_batch(shared_data, "data_batch_2")
    assert np.array_equal(
        cifar_train.images[2000, :, 5, 7].numpy(), second[b"data"][0].reshape(3, 32, 32)[:, 5, 7]
    )
    assert int(cifar_train.labels[2000]) == second[b"labels"][0]
    image, label = cifar_train[0]
    assert image.dtype == torch.float32 and image.shape == (3, 32, 32)
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert torch.allclose(image * 255, cifar_train.images[0].float())
    assert label == 3


def test_cifar10_subset_test(cifar_test, shared_data):
    assert len(cifar_test) == 10_000
    assert cifar_test.class_counts().tolist() == [1000] * 10
    raw = _raw_batch(shared_data, "test_batch")
    assert cifar_test.labels.tolist() == list(raw[b"labels"])
    assert np.array_equal(cifar_test.images[-1].numpy(), raw[b"data"][-1].reshape(3, 32, 32))


def test_cifar10_subset_checksums_differ_but_read(shared_data):
    reader = get_reader("cifar10", shared_data)
    statuses = reader.status()
    assert {s.spec.path for s in statuses} >= {"data_batch_1", "test_batch", "batches.meta"}
    assert all(s.state == DIFFERS for s in statuses)  # a re-encoded subset, not the official files
    with pytest.raises(DataError, match="data_batch_1.*not the official"):
        reader.verify()


def test_cifar10_info():
    info = dataset_info("cifar10")
    assert info.shape == (3, 32, 32) and info.num_classes == 10 and info.hflip
    assert info.splits == {"train": 50_000, "test": 10_000}
    assert all(0 < m < 1 for m in info.mean) and all(0 < s < 1 for s in info.std)
    assert "Krizhevsky" in info.citation


def test_mnist_test_set(shared_data):
    ds = load_dataset("mnist", "test", root=shared_data)
    assert ds.images.shape == (10_000, 1, 28, 28)
    assert ds.class_counts().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert not ds.info.hflip
    statuses = {s.spec.path: s for s in get_reader("mnist", shared_data).status()}
    assert statuses["t10k-images-idx3-ubyte.gz"].ok  # re-gzipped, same content as the official file


def test_mnist_missing_train_images_is_named(shared_data):
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz.*robnas data download mnist"):
        load_dataset("mnist", "train", root=shared_data)


def test_digits_splits_are_fixed():
    train = load_dataset("digits", "train")
    test = load_dataset("digits", "test")
    assert len(train) + len(test) == 1797
    assert (len(train), len(test)) == (1438, 359)
    assert train.images.shape[1:] == (1, 8, 8) and int(train.images.max()) == 255
    again = load_dataset("digits", "test")
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)
    # stratified: every class has 35 to 37 test images
    assert test.class_counts().min() >= 35 and test.class_counts().max() <= 37
    # train and test are disjoint: no test image appears in train with the same label
    all_rows = {(bytes(x.numpy()), int(y)) for x, y in zip(train.images, train.labels, strict=True)}
    overlap = sum(
        (bytes(x.numpy()), int(y)) in all_rows for x, y in zip(test.images, test.labels, strict=True)
    )
    assert overlap <= 2  # the digits data hold a handful of exact duplicates
