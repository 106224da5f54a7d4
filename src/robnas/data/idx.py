"""MNIST and Fashion-MNIST from IDX files (gzipped or not).

LeCun, Y., Bottou, L., Bengio, Y. and Haffner, P. (1998). *Gradient-based learning applied to
document recognition*. Proceedings of the IEEE 86(11). http://yann.lecun.com/exdb/mnist/

Xiao, H., Rasul, K. and Vollgraf, R. (2017). *Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms*. arXiv:1708.07747.

IDX format: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then
one big-endian int32 per dimension, then the data in C order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robnas.errors import DataError

from .files import read_maybe_gzip
from .info import DatasetInfo, Download, FileSpec
from .registry import DatasetReader, register_dataset


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file with ``ndim`` dimensions; :class:`DataError` if malformed."""
    raw = read_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number); replace it")
    if raw[2] != 0x08:
        raise DataError(f"{path} holds IDX type 0x{raw[2]:02x}, expected unsigned bytes (0x08); replace it")
    if raw[3] != ndim:
        raise DataError(f"{path} has {raw[3]} dimensions, expected {ndim}; is it the right file?")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated (incomplete header); replace it")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    size = int(np.prod(dims))
    if len(raw) - header != size:
        raise DataError(
            f"{path} is truncated or corrupt: its header announces {size} bytes of data for shape {dims} "
            f"but it holds {len(raw) - header}; replace it"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _idx_files(raw_md5: dict[str, str], gz_md5: dict[str, str]) -> tuple[FileSpec, ...]:
    specs = []
    for stem, split in (
        ("train-images-idx3-ubyte", "train"),
        ("train-labels-idx1-ubyte", "train"),
        ("t10k-images-idx3-ubyte", "test"),
        ("t10k-labels-idx1-ubyte", "test"),
    ):
        specs.append(FileSpec(f"{stem}.gz", gz_md5.get(stem), (split,), (stem,), raw_md5.get(stem)))
    return tuple(specs)


class _IdxReader(DatasetReader):
    def read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        image_spec, label_spec = self.info.files_for(split)
        images = read_idx(self.require(image_spec), 3)
        labels = read_idx(self.require(label_spec), 1)
        if images.shape[1:] != (28, 28):
            raise DataError(
                f"{self.folder / image_spec.path} holds {images.shape[1:]} images, expected 28x28"
            )
        if len(images) != len(labels):
            raise DataError(
                f"{self.folder / image_spec.path} has {len(images)} images but "
                f"{self.folder / label_spec.path} has {len(labels)} labels; "
                "the two files do not belong together"
            )
        if len(labels) and labels.max() >= self.info.num_classes:
            raise DataError(
                f"{self.folder / label_spec.path} has label {labels.max()}, outside 0..9; replace it"
            )
        return images[:, None, :, :].copy(), labels.astype(np.int64)


@register_dataset("mnist")
class Mnist(_IdxReader):
    """MNIST (LeCun et al., 1998): 70,000 28x28 greyscale handwritten digits."""

    info = DatasetInfo(
        name="mnist",
        description="MNIST: 28x28 greyscale handwritten digits, 10 classes",
        num_classes=10,
        channels=1,
        image_size=(28, 28),
        mean=(0.1307,),
        std=(0.3081,),
        class_names=tuple(str(i) for i in range(10)),
        splits={"train": 60_000, "test": 10_000},
        files=_idx_files(
            # md5 of the decompressed official files (where recorded) and of the official .gz files
            raw_md5={
                "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
                "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            },
            gz_md5={
                "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
            },
        ),
        url="https://ossci-datasets.s3.amazonaws.com/mnist/ (mirror of http://yann.lecun.com/exdb/mnist/)",
        citation=(
            "LeCun, Y., Bottou, L., Bengio, Y. and Haffner, P. (1998). Gradient-based learning applied to "
            "document recognition. Proceedings of the IEEE 86(11), 2278-2324."
        ),
        folder="mnist",
        hflip=False,
    )
    downloads = tuple(
        Download(f"https://ossci-datasets.s3.amazonaws.com/mnist/{f.path}", f.path, f.md5) for f in info.files
    )


@register_dataset("fashion-mnist")
class FashionMnist(_IdxReader):
    """Fashion-MNIST (Xiao et al., 2017): 70,000 28x28 greyscale images of clothing, 10 classes."""

    info = DatasetInfo(
        name="fashion-mnist",
        description="Fashion-MNIST: 28x28 greyscale clothing images, 10 classes",
        num_classes=10,
        channels=1,
        image_size=(28, 28),
        mean=(0.2860,),
        std=(0.3530,),
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),  # fmt: skip
        splits={"train": 60_000, "test": 10_000},
        files=_idx_files(
            raw_md5={},
            gz_md5={
                "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
                "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
                "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
            },
        ),
        url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        citation=(
            "Xiao, H., Rasul, K. and Vollgraf, R. (2017). Fashion-MNIST: a Novel Image Dataset for "
            "Benchmarking Machine Learning Algorithms. arXiv:1708.07747."
        ),
        folder="fashion-mnist",
        hflip=False,
    )
    downloads = tuple(
        Download(f"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{f.path}", f.path, f.md5)
        for f in info.files
    )
