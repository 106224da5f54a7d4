"""scikit-learn's bundled 8x8 handwritten digits: real data that needs no download.

The UCI "Optical Recognition of Handwritten Digits" test set (Alpaydin and Kaynak, 1998) as
shipped with scikit-learn: 1,797 images of 8x8 pixels with values 0..16, scaled here to uint8
0..255. There is no official split; robnas fixes one: a stratified 80/20 split drawn with seed 0
(1,438 train, 359 test), the same on every machine. It is the offline default for the
quickstart and smoke tests.
"""

from __future__ import annotations

import numpy as np
import torch

from robnas.errors import DataError

from .dataset import stratified_order
from .files import FileStatus
from .info import DatasetInfo
from .registry import DatasetReader, register_dataset

SPLIT_SEED = 0
TEST_FRACTION = 0.2
TOTAL = 1797
TEST_SIZE = int(round(TEST_FRACTION * TOTAL))


@register_dataset("digits")
class Digits(DatasetReader):
    """8x8 handwritten digits bundled with scikit-learn (offline, 1,797 images, 10 classes)."""

    info = DatasetInfo(
        name="digits",
        description="scikit-learn digits: 8x8 greyscale handwritten digits, bundled (no download)",
        num_classes=10,
        channels=1,
        image_size=(8, 8),
        mean=(0.3053,),
        std=(0.3759,),
        class_names=tuple(str(i) for i in range(10)),
        splits={"train": TOTAL - TEST_SIZE, "test": TEST_SIZE},
        url="bundled with scikit-learn (sklearn.datasets.load_digits)",
        citation=(
            "Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of Handwritten Digits. "
            "UCI Machine Learning Repository."
        ),
        folder="",
        hflip=False,
    )

    def availability(self) -> str:
        return "bundled"

    def split_available(self, split: str) -> bool:
        return True

    def download(self, progress: bool = True) -> list[FileStatus]:
        """Nothing to download: the data ships with scikit-learn."""
        return []

    def read_all(self) -> tuple[np.ndarray, np.ndarray]:
        """All 1,797 images (uint8 ``[N, 1, 8, 8]``) and labels."""
        try:
            from sklearn.datasets import load_digits
        except ImportError:  # pragma: no cover - scikit-learn is a dependency
            raise DataError(
                "the digits dataset needs scikit-learn; install it with `pip install scikit-learn`"
            ) from None
        bunch = load_digits()
        values = np.asarray(bunch.data, dtype=np.float64)
        images = np.clip(np.round(values * (255.0 / 16.0)), 0, 255).astype(np.uint8).reshape(-1, 1, 8, 8)
        return images, np.asarray(bunch.target, dtype=np.int64)

    def read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        images, labels = self.read_all()
        order = stratified_order(torch.from_numpy(labels), SPLIT_SEED).numpy()
        test_size = int(round(TEST_FRACTION * len(labels)))
        chosen = order[:test_size] if split == "test" else order[test_size:]
        chosen = np.sort(chosen)
        return images[chosen], labels[chosen]
