"""CIFAR-10 and CIFAR-100 in the official "python version" layout.

Krizhevsky, A. (2009). *Learning Multiple Layers of Features from Tiny Images*. Technical
report, University of Toronto. https://www.cs.toronto.edu/~kriz/cifar.html

Each batch file is a pickled dict with ``data`` (uint8 ``N x 3072``, channel-major 32x32 RGB)
and ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100); the meta file holds the class names.
Mean and std are the values used by NAS-Bench-201 (Dong and Yang, 2020), so that models match
the benchmark's trained networks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robnas.errors import DataError

from .files import load_pickle
from .info import DatasetInfo, Download, FileSpec
from .registry import DatasetReader, register_dataset

_KRIZHEVSKY = (
    "Krizhevsky, A. (2009). Learning Multiple Layers of Features from Tiny Images. "
    "Technical report, University of Toronto."
)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle",
    "bicycle", "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel",
    "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud",
    "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant",
    "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree",
    "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter",
    "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea",
    "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television",
    "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip


class _CifarReader(DatasetReader):
    """Shared reading of CIFAR pickles."""

    meta_file: str
    meta_key: str
    label_key: str

    def _class_names(self) -> tuple[str, ...]:
        spec = next(f for f in self.info.files if f.path == self.meta_file)
        meta = load_pickle(self.require(spec), self._hint())
        names = meta.get(self.meta_key)
        if not isinstance(names, list) or len(names) != self.info.num_classes:
            raise DataError(
                f"{self.folder / self.meta_file} has no list of {self.info.num_classes} class names "
                f"under {self.meta_key!r}; replace it{self._hint()}"
            )
        return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)

    def _hint(self) -> str:
        return f" (official files: {self.info.url})"

    def _batch(self, spec: FileSpec) -> tuple[np.ndarray, np.ndarray]:
        path = self.require(spec)
        entry: dict[str, Any] = load_pickle(path, self._hint())
        if "data" not in entry or self.label_key not in entry:
            raise DataError(
                f"{path} lacks the 'data' or {self.label_key!r} entry of a CIFAR batch; "
                f"replace it{self._hint()}"
            )
        data = np.asarray(entry["data"])
        labels = np.asarray(entry[self.label_key])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(
                f"{path}: 'data' has shape {data.shape} and type {data.dtype}, "
                f"expected uint8 N x 3072; replace it{self._hint()}"
            )
        if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"{path}: {len(data)} images but {labels.size} integer labels; replace it{self._hint()}"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= self.info.num_classes):
            raise DataError(
                f"{path}: labels range over {labels.min()}..{labels.max()}, outside "
                f"0..{self.info.num_classes - 1}; replace it{self._hint()}"
            )
        return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)

    def read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        names = self._class_names()
        if names != self.info.class_names:
            raise DataError(
                f"{self.folder / self.meta_file} names classes {', '.join(names[:3])}... which are not "
                f"the {self.info.name} classes; is this the right folder?"
            )
        parts = [self._batch(spec) for spec in self.info.files_for(split) if spec.path != self.meta_file]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        return images, labels


@register_dataset("cifar10")
class Cifar10(_CifarReader):
    """CIFAR-10 (Krizhevsky, 2009): 60,000 32x32 colour images in 10 classes."""

    meta_file = "batches.meta"
    meta_key = "label_names"
    label_key = "labels"
    info = DatasetInfo(
        name="cifar10",
        description="CIFAR-10: 32x32 colour images, 10 classes",
        num_classes=10,
        channels=3,
        image_size=(32, 32),
        mean=(125.3 / 255, 123.0 / 255, 113.9 / 255),
        std=(63.0 / 255, 62.1 / 255, 66.7 / 255),
        class_names=CIFAR10_CLASSES,
        splits={"train": 50_000, "test": 10_000},
        files=(
            FileSpec("data_batch_1", "c99cafc152244af753f735de768cd75f", ("train",)),
            FileSpec("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec", ("train",)),
            FileSpec("data_batch_3", "54ebc095f3ab1f0389bbae665268c751", ("train",)),
            FileSpec("data_batch_4", "634d18415352ddfa80567beed471001a", ("train",)),
            FileSpec("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb", ("train",)),
            FileSpec("test_batch", "40351d587109b95175f43aff81a1287e", ("test",)),
            FileSpec("batches.meta", "5ff9c542aee3614f3951f8cda6e48888", ("train", "test")),
        ),
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        citation=_KRIZHEVSKY,
        folder="cifar10/cifar-10-batches-py",
        hflip=True,
    )
    downloads = (
        Download(
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
            extract=True,
        ),
    )


@register_dataset("cifar100")
class Cifar100(_CifarReader):
    """CIFAR-100 (Krizhevsky, 2009): 60,000 32x32 colour images in 100 fine classes."""

    meta_file = "meta"
    meta_key = "fine_label_names"
    label_key = "fine_labels"
    info = DatasetInfo(
        name="cifar100",
        description="CIFAR-100: 32x32 colour images, 100 classes",
        num_classes=100,
        channels=3,
        image_size=(32, 32),
        mean=(129.3 / 255, 124.1 / 255, 112.4 / 255),
        std=(68.2 / 255, 65.4 / 255, 70.4 / 255),
        class_names=CIFAR100_CLASSES,
        splits={"train": 50_000, "test": 10_000},
        files=(
            FileSpec("train", "16019d7e3df5f24257cddd939b257f8d", ("train",)),
            FileSpec("test", "f0ef6b0ae62326f3e7ffdfab6717acfc", ("test",)),
            FileSpec("meta", "7973b15100ade9c7d40fb424638fde48", ("train", "test")),
        ),
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        citation=_KRIZHEVSKY,
        folder="cifar100/cifar-100-python",
        hflip=True,
    )
    downloads = (
        Download(
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            "cifar-100-python.tar.gz",
            "eb9058c3a382ffc7106e4002c42a8d85",
            extract=True,
        ),
    )
