"""ImageNet16-120: the 16x16 downsampled ImageNet restricted to its first 120 classes.

Chrabaszcz, P., Loshchilov, I. and Hutter, F. (2017). *A Downsampled Variant of ImageNet as an
Alternative to the CIFAR datasets*. arXiv:1707.08819. The 120-class subset is the one of
NAS-Bench-201: Dong, X. and Yang, Y. (2020). *NAS-Bench-201: Extending the Scope of
Reproducible Neural Architecture Search*. ICLR.

File format (the downsampled-ImageNet "pickle" release, folder ``ImageNet16``): ten training
files ``train_data_batch_1 .. train_data_batch_10`` and one ``val_data``, each a pickled dict
with ``data`` (uint8 ``N x 768``, channel-major 16x16 RGB) and ``labels`` (1-based ImageNet
class ids 1..1000). ImageNet16-120 keeps the images with label 1..120 and subtracts one: 151,700
training and 6,000 test (the official validation) images. Class names are not part of the
release files; classes are named by their 1-based id in the release's ``map_clsloc.txt`` order.
"""

from __future__ import annotations

import numpy as np

from robnas.errors import DataError

from .files import load_pickle
from .info import DatasetInfo, FileSpec
from .registry import DatasetReader, register_dataset

NUM_CLASSES = 120

_TRAIN_MD5 = (
    "27846dcaa50de8e21a7d1a35f30f0e91",
    "c7254a054e0e795c69120a5727050e3f",
    "4333d3df2e5ffb114b05d2ffc19b1e87",
    "1620cdf193304f4a92677b695d70d10f",
    "348b3c2fdbb3940c4e9e834affd3b18d",
    "6e765307c242a1b3d7d5ef9139b48945",
    "564926d8cbf8fc4818ba23d2faac7564",
    "f4755871f718ccb653440b9dd0ebac66",
    "bb6dd660c38c58552125b1a92f86b5d4",
    "8f03f34ac4b42271a294f91bf480f29b",
)


@register_dataset("imagenet16-120")
class ImageNet16_120(DatasetReader):
    """ImageNet16-120 (Chrabaszcz et al., 2017; NAS-Bench-201): 16x16 colour images, 120 classes."""

    info = DatasetInfo(
        name="imagenet16-120",
        description="ImageNet16-120: 16x16 downsampled ImageNet, first 120 classes (NAS-Bench-201)",
        num_classes=NUM_CLASSES,
        channels=3,
        image_size=(16, 16),
        mean=(122.68 / 255, 116.66 / 255, 104.01 / 255),
        std=(63.22 / 255, 61.26 / 255, 65.09 / 255),
        class_names=tuple(f"imagenet_class_{i}" for i in range(1, NUM_CLASSES + 1)),
        splits={"train": 151_700, "test": 6_000},
        files=(
            *(FileSpec(f"train_data_batch_{i}", md5, ("train",)) for i, md5 in enumerate(_TRAIN_MD5, 1)),
            FileSpec("val_data", "3410e3017fdaefba8d5073aaa65e4bd6", ("test",)),
        ),
        url="https://image-net.org/download-images (Downsampled ImageNet 16x16, pickle format)",
        citation=(
            "Chrabaszcz, P., Loshchilov, I. and Hutter, F. (2017). A Downsampled Variant of ImageNet as an "
            "Alternative to the CIFAR datasets. arXiv:1707.08819. Dong, X. and Yang, Y. (2020). "
            "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search. ICLR."
        ),
        folder="imagenet16-120/ImageNet16",
        hflip=True,
    )
    manual = (
        "download the 16x16 'Downsampled ImageNet' (pickle files Imagenet16_train.zip and "
        "Imagenet16_val.zip) from https://image-net.org/download-images, or NAS-Bench-201's "
        "ImageNet16.tar, and put train_data_batch_1..10 and val_data in {folder}"
    )

    def how_to_get(self) -> str:
        return self.manual.format(folder=self.folder)

    def read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for spec in self.info.files_for(split):
            path = self.require(spec)
            entry = load_pickle(path, f"; {self.how_to_get()}")
            if "data" not in entry or "labels" not in entry:
                raise DataError(f"{path} lacks the 'data' or 'labels' entry of a downsampled-ImageNet batch")
            data = np.asarray(entry["data"])
            lab = np.asarray(entry["labels"])
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 16 * 16:
                raise DataError(
                    f"{path}: 'data' has shape {data.shape} and type {data.dtype}, expected uint8 N x 768 "
                    "(16x16 RGB); is this the 16x16 release?"
                )
            if lab.ndim != 1 or len(lab) != len(data) or not np.issubdtype(lab.dtype, np.integer):
                raise DataError(f"{path}: {len(data)} images but {lab.size} integer labels")
            if len(lab) and (lab.min() < 1 or lab.max() > 1000):
                raise DataError(
                    f"{path}: labels range over {lab.min()}..{lab.max()}, outside the 1-based 1..1000"
                )
            keep = lab <= NUM_CLASSES
            images.append(data[keep].reshape(-1, 3, 16, 16))
            labels.append(lab[keep].astype(np.int64) - 1)
        return np.concatenate(images), np.concatenate(labels)
