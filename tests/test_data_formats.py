"""File formats on small files written by the tests: CIFAR-100, ImageNet16-120, IDX, image folders,
corrupt and truncated files, checksums and the download path (with a local file:// address)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from robnas.data import DATASETS, dataset_info, get_reader, load_dataset
from robnas.data.cifar import Cifar10
from robnas.data.info import Download, FileSpec
from robnas.errors import ConfigError, DataError

RNG = np.random.default_rng(0)


def _dump(path, obj, protocol=2):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)


# --------------------------------------------------------------------------- CIFAR-10 / CIFAR-100


def _write_cifar10(root, per_batch=4):
    folder = root / "cifar10" / "cifar-10-batches-py"
    names = [n.encode() for n in dataset_info("cifar10").class_names]
    _dump(folder / "batches.meta", {b"label_names": names})
    for i in range(1, 6):
        data = RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        _dump(folder / f"data_batch_{i}", {b"data": data, b"labels": list(RNG.integers(0, 10, per_batch))})
    _dump(
        folder / "test_batch",
        {b"data": RNG.integers(0, 256, (3, 3072), dtype=np.uint8), b"labels": [1, 2, 3]},
    )
    return folder


def test_cifar100_reader(tmp_path):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    names = list(dataset_info("cifar100").class_names)
    _dump(folder / "meta", {"fine_label_names": names, "coarse_label_names": [f"c{i}" for i in range(20)]})
    data = RNG.integers(0, 256, (6, 3072), dtype=np.uint8)
    fine = [0, 99, 5, 17, 42, 99]
    _dump(folder / "train", {"data": data, "fine_labels": fine, "coarse_labels": [0] * 6}, protocol=4)
    _dump(folder / "test", {b"data": data[:2], b"fine_labels": [3, 4], b"coarse_labels": [0, 0]})
    ds = load_dataset("cifar100", "train", root=tmp_path)
    assert ds.images.shape == (6, 3, 32, 32) and ds.labels.tolist() == fine
    assert np.array_equal(ds.images[1].numpy(), data[1].reshape(3, 32, 32))
    assert ds.info.num_classes == 100 and ds.info.class_names[-1] == "worm"
    assert len(load_dataset("cifar100", "test", root=tmp_path)) == 2


def test_cifar_missing_file_says_what_to_do(tmp_path):
    folder = _write_cifar10(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(
        DataError, match=r"data_batch_3.*robnas data download cifar10.*cifar-10-python\.tar\.gz"
    ):
        load_dataset("cifar10", "train", root=tmp_path)
    assert len(load_dataset("cifar10", "test", root=tmp_path)) == 3  # the test split does not need it


def test_cifar_truncated_pickle_names_file(tmp_path):
    folder = _write_cifar10(tmp_path)
    path = folder / "data_batch_2"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match=r"data_batch_2 is truncated or corrupt"):
        load_dataset("cifar10", "train", root=tmp_path)


def test_cifar_garbage_and_wrong_shapes(tmp_path):
    folder = _write_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(b"this is not a pickle at all")
    with pytest.raises(DataError, match="test_batch"):
        load_dataset("cifar10", "test", root=tmp_path)
    _dump(folder / "test_batch", {b"data": np.zeros((3, 1024), np.uint8), b"labels": [0, 1, 2]})
    with pytest.raises(DataError, match=r"test_batch: 'data' has shape \(3, 1024\)"):
        load_dataset("cifar10", "test", root=tmp_path)
    _dump(folder / "test_batch", {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 10]})
    with pytest.raises(DataError, match=r"test_batch: labels range over 0\.\.10"):
        load_dataset("cifar10", "test", root=tmp_path)
    _dump(folder / "test_batch", {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DataError, match="3 images but 2"):
        load_dataset("cifar10", "test", root=tmp_path)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo owned > /dev/null",))


def test_pickle_with_code_is_refused(tmp_path):
    folder = _write_cifar10(tmp_path)
    _dump(folder / "test_batch", {b"data": _Evil(), b"labels": [0]})
    with pytest.raises(DataError, match=r"test_batch is truncated or corrupt.*system"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_cifar_wrong_folder_detected_by_class_names(tmp_path):
    folder = _write_cifar10(tmp_path)
    _dump(folder / "batches.meta", {b"label_names": [b"x"] * 10})
    with pytest.raises(DataError, match="not the cifar10 classes"):
        load_dataset("cifar10", "test", root=tmp_path)


# --------------------------------------------------------------------------- ImageNet16-120


def test_imagenet16_120_reader(tmp_path):
    folder = tmp_path / "imagenet16-120" / "ImageNet16"
    kept = 0
    first = None
    for i in range(1, 11):
        labels = [1, 120, 121, 1000, 60] if i == 1 else [500, 2]
        data = RNG.integers(0, 256, (len(labels), 768), dtype=np.uint8)
        first = data if i == 1 else first
        kept += sum(lab <= 120 for lab in labels)
        _dump(folder / f"train_data_batch_{i}", {"data": data, "labels": labels, "mean": np.zeros(768)})
    _dump(
        folder / "val_data", {"data": RNG.integers(0, 256, (3, 768), dtype=np.uint8), "labels": [7, 300, 120]}
    )
    train = load_dataset("imagenet16-120", "train", root=tmp_path)
    assert len(train) == kept == 3 + 9
    assert train.images.shape[1:] == (3, 16, 16)
    assert train.labels[:3].tolist() == [0, 119, 59]  # 1-based ids 1..120 become 0..119, others dropped
    assert np.array_equal(train.images[2].numpy(), first[4].reshape(3, 16, 16))
    test = load_dataset("imagenet16-120", "test", root=tmp_path)
    assert test.labels.tolist() == [6, 119]
    assert train.info.num_classes == 120 and train.info.image_size == (16, 16)


def test_imagenet16_missing_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"train_data_batch_1.*image-net\.org.*ImageNet16"):
        load_dataset("imagenet16-120", "train", root=tmp_path)
    with pytest.raises(DataError, match="cannot be downloaded"):
        get_reader("imagenet16-120", tmp_path).download(progress=False)


# --------------------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()


def _write_fashion(root, n=5, gz=True):
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = RNG.integers(0, 10, n).astype(np.uint8)
    for stem, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(_idx(arr)))
        else:
            (folder / stem).write_bytes(_idx(arr))
    return folder, images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_idx_reader(tmp_path, gz):
    _, images, labels = _write_fashion(tmp_path, gz=gz)
    ds = load_dataset("fashion-mnist", "test", root=tmp_path)
    assert ds.images.shape == (5, 1, 28, 28)
    assert np.array_equal(ds.images[:, 0].numpy(), images)
    assert ds.labels.tolist() == labels.tolist()
    assert ds.info.class_names[9] == "Ankle boot" and not ds.info.hflip
    with pytest.raises(DataError, match=r"fashion-mnist file not found: .*train-images-idx3-ubyte\.gz"):
        load_dataset("fashion-mnist", "train", root=tmp_path)


def test_idx_truncated_and_mismatched(tmp_path):
    folder, images, labels = _write_fashion(tmp_path)
    path = folder / "t10k-images-idx3-ubyte.gz"
    raw = _idx(images)
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is truncated or corrupt"):
        load_dataset("fashion-mnist", "test", root=tmp_path)
    path.write_bytes(gzip.compress(raw)[:-30])  # a cut-off gzip stream
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is truncated or corrupt"):
        load_dataset("fashion-mnist", "test", root=tmp_path)
    path.write_bytes(gzip.compress(_idx(images[:4])))
    with pytest.raises(DataError, match="4 images but .* 5 labels"):
        load_dataset("fashion-mnist", "test", root=tmp_path)
    path.write_bytes(gzip.compress(b"\x08\x03\x00\x00" + raw[4:]))
    with pytest.raises(DataError, match="not an IDX file"):
        load_dataset("fashion-mnist", "test", root=tmp_path)


# --------------------------------------------------------------------------- image folders


def _png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_imagefolder_flat_layout(tmp_path):
    classes = ["cat", "dog", "fish"]
    for c in classes:
        for i in range(5):
            _png(tmp_path / c / f"{i}.png", RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    _png(tmp_path / "cat" / "grey.png", np.full((12, 10), 7, np.uint8))  # greyscale joins as RGB
    train = load_dataset("imagefolder", "train", root=tmp_path)
    test = load_dataset("imagefolder", "test", root=tmp_path)
    assert len(train) + len(test) == 16 and len(test) == 3
    assert train.images.shape[1:] == (3, 12, 10) and train.info.class_names == tuple(classes)
    assert sorted(test.labels.tolist()) == [0, 1, 2]  # stratified
    assert len(train.info.mean) == 3 and all(0 < s for s in train.info.std)
    again = load_dataset("imagefolder", "test", root=tmp_path)
    assert torch.equal(again.images, test.images)


def test_imagefolder_split_layout_and_errors(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for c in ("a", "b"):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                np.save(tmp_path / split / c / f"{i}.npy", np.full((6, 6), 40 * i, np.uint8))
    train = load_dataset("imagefolder", "train", root=tmp_path)
    test = load_dataset("imagefolder", "test", root=tmp_path)
    assert (len(train), len(test)) == (6, 4) and train.images.shape[1:] == (1, 6, 6)
    np.save(tmp_path / "train" / "a" / "big.npy", np.zeros((7, 6), np.uint8))
    with pytest.raises(DataError, match=r"big\.npy is 6x7 pixels.*resize"):
        load_dataset("imagefolder", "train", root=tmp_path)
    (tmp_path / "train" / "a" / "big.npy").unlink()
    (tmp_path / "train" / "a" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad\.png is not a readable image"):
        load_dataset("imagefolder", "train", root=tmp_path)
    with pytest.raises(DataError, match="image folder not found"):
        load_dataset("imagefolder", "train", root=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="needs root"):
        load_dataset("imagefolder", "train")


# --------------------------------------------------------------------------- registry, checksums, download


def test_unknown_names_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset 'cifar' .*did you mean"):
        load_dataset("cifar", root=tmp_path)
    with pytest.raises(ConfigError, match="no split 'validation'"):
        load_dataset("digits", "validation")


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _tiny_reader(tmp_path, archive_md5):
    """A CIFAR-10 look-alike whose official checksums are those of files the test wrote."""
    src = tmp_path / "src"
    folder = _write_cifar10(src)
    archive = tmp_path / "tiny.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    files = tuple(
        dataclasses.replace(spec, md5=_md5((folder / spec.path).read_bytes())) for spec in Cifar10.info.files
    )

    class TinyCifar(Cifar10):
        info = dataclasses.replace(
            Cifar10.info, name="tiny-cifar", files=files, folder="tiny/cifar-10-batches-py"
        )
        downloads = (
            Download(
                archive.as_uri(), "tiny.tar.gz", archive_md5 or _md5(archive.read_bytes()), extract=True
            ),
        )

    return TinyCifar


def test_download_extract_and_verify(tmp_path, monkeypatch):
    reader_cls = _tiny_reader(tmp_path, None)
    monkeypatch.setitem(DATASETS, "tiny-cifar", reader_cls)
    root = tmp_path / "root"
    ds = load_dataset("tiny-cifar", "test", root=root, download=True)
    assert len(ds) == 3
    assert not (root / "tiny" / "tiny.tar.gz").exists()  # the archive is removed after extraction
    assert all(s.ok for s in get_reader("tiny-cifar", root).verify())
    # a modified file is reported, and verify fails hard on it
    path = root / "tiny" / "cifar-10-batches-py" / "data_batch_4"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    states = {s.spec.path: s.state for s in get_reader("tiny-cifar", root).status()}
    assert states["data_batch_4"] == "differs from the official release"
    with pytest.raises(DataError, match=r"data_batch_4 has md5 .* not the official"):
        get_reader("tiny-cifar", root).verify()


def test_download_with_wrong_md5_fails_and_cleans_up(tmp_path, monkeypatch):
    monkeypatch.setitem(DATASETS, "tiny-cifar", _tiny_reader(tmp_path, "0" * 32))
    root = tmp_path / "root"
    with pytest.raises(DataError, match="has md5 .* not the official 0000"):
        load_dataset("tiny-cifar", "train", root=root, download=True)
    assert not any((root / "tiny").glob("tiny.tar.gz*"))


def test_download_unreachable_address(tmp_path, monkeypatch):
    cls = _tiny_reader(tmp_path, None)
    cls.downloads = (Download((tmp_path / "absent.tar.gz").as_uri(), "x.tar.gz", None, extract=True),)
    monkeypatch.setitem(DATASETS, "tiny-cifar", cls)
    with pytest.raises(
        DataError, match=r"could not download .*absent\.tar\.gz.*by hand .* and extract it into"
    ):
        get_reader("tiny-cifar", tmp_path / "root").download(progress=False)


def test_filespec_alternatives_and_raw_md5(tmp_path):
    from robnas.data.files import file_status

    content = b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"
    (tmp_path / "f.gz").write_bytes(gzip.compress(content, mtime=0))
    spec = FileSpec("f.gz", "0" * 32, ("test",), ("f",), _md5(content))
    assert file_status(tmp_path, spec).state == "matches the official release (decompressed content)"
    (tmp_path / "f.gz").unlink()
    (tmp_path / "f").write_bytes(content)
    assert file_status(tmp_path, spec).ok
    (tmp_path / "f").unlink()
    assert file_status(tmp_path, spec).state == "missing"
