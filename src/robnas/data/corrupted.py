"""CIFAR-10-C and CIFAR-100-C as released (Hendrycks and Dietterich, ICLR 2019).

Hendrycks, D. and Dietterich, T. (2019). *Benchmarking Neural Network Robustness to Common
Corruptions and Perturbations*. ICLR. Releases: https://zenodo.org/record/2535967 (CIFAR-10-C),
https://zenodo.org/record/3555552 (CIFAR-100-C); code: https://github.com/hendrycks/robustness.

Layout of the release (``CIFAR-10-C.tar`` / ``CIFAR-100-C.tar`` extracted below the data root)::

    CIFAR-10-C/<corruption>.npy    uint8 [50000, 32, 32, 3]: the 10,000 test images corrupted at
                                   severity 1, then the same images at severity 2, ... 5
    CIFAR-10-C/labels.npy          uint8 [50000]: the test labels, repeated for each severity

with the 15 benchmark corruptions (those of Jung et al. and of :mod:`robnas.attacks.corruptions`)
and four extra ones (``speckle_noise``, ``gaussian_blur``, ``spatter``, ``saturate``).

The reader's splits are ``"<corruption>-<severity>"`` (``load_dataset("cifar10-c", "fog-3")``): one
severity block, read through a memory map (one block is 30 MB; a whole file 150 MB). Choice: a
file whose length is a multiple of 5 but not 50,000 is read as five equal severity blocks, so
that tests (and subsets made the same way) can use small files; the release itself always has
50,000 images. Files are read with ``allow_pickle=False``; shapes, types and label ranges are
checked before use.

:func:`released_corruption_accuracy` evaluates a network on these images: the counterpart of
:func:`robnas.attacks.evaluate_corruptions`, which corrupts the clean test set with robnas's own
re-implementation of the corruptions (``robnas attack --corruption-source generated|released``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from robnas.errors import ConfigError, DataError

from .cifar import Cifar10, Cifar100
from .info import FileSpec
from .registry import DatasetReader, load_dataset, register_dataset

if TYPE_CHECKING:
    import torch

BENCHMARK_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression",
)  # fmt: skip
"""The 15 corruptions of the benchmark (Hendrycks and Dietterich, Table/Figure order)."""
EXTRA_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
"""The four held-out corruptions of the release."""
RELEASED_CORRUPTIONS = BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS
SEVERITIES = (1, 2, 3, 4, 5)
PER_SEVERITY = 10_000
LABELS = "labels.npy"


def split_name(corruption: str, severity: int) -> str:
    """``("fog", 3) -> "fog-3"``."""
    return f"{corruption}-{severity}"


def _splits() -> dict[str, int]:
    return {split_name(c, s): PER_SEVERITY for c in RELEASED_CORRUPTIONS for s in SEVERITIES}


def _files() -> tuple[FileSpec, ...]:
    # md5s of the single files are not published (the release gives the tar's): None = unknown
    files = [
        FileSpec(f"{c}.npy", None, tuple(split_name(c, s) for s in SEVERITIES)) for c in RELEASED_CORRUPTIONS
    ]
    files.append(FileSpec(LABELS, None, tuple(_splits())))
    return tuple(files)


class _CorruptedReader(DatasetReader):
    """The released ``.npy`` files of one corrupted test set."""

    tar: str

    @property
    def manual(self) -> str:  # type: ignore[override]
        return (
            f"download {self.tar} from {self.info.url} and extract it into {self.root} "
            f"(it creates {self.info.folder}/ with one .npy file per corruption and {LABELS})"
        )

    def parse_split(self, split: str) -> tuple[str, int]:
        """``"fog-3" -> ("fog", 3)`` with a clear error for anything else."""
        name, _, sev = split.rpartition("-")
        if name not in RELEASED_CORRUPTIONS or not sev.isdigit() or int(sev) not in SEVERITIES:
            raise ConfigError(
                f"{self.info.name} splits are CORRUPTION-SEVERITY, e.g. fog-3 (severity 1..5; corruptions: "
                f"{', '.join(RELEASED_CORRUPTIONS)}); got {split!r}"
            )
        return name, int(sev)

    def check_split(self, split: str) -> None:
        self.parse_split(split)

    def _array(self, spec: FileSpec) -> np.ndarray:
        path = self.require(spec)
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"{path} is not a readable .npy array ({exc}); {self.how_to_get()}") from None

    def read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        corruption, severity = self.parse_split(split)
        spec = next(f for f in self.info.files if f.path == f"{corruption}.npy")
        images = self._array(spec)
        labels = self._array(next(f for f in self.info.files if f.path == LABELS))
        path = self.folder / spec.path
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
            raise DataError(
                f"{path}: expected uint8 images [N, 32, 32, 3], got {images.dtype} {tuple(images.shape)}; "
                f"{self.how_to_get()}"
            )
        n = images.shape[0]
        if n == 0 or n % len(SEVERITIES):
            raise DataError(f"{path}: {n} images is not 5 severity blocks of equal size; {self.how_to_get()}")
        if labels.ndim != 1 or labels.shape[0] != n or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"{self.folder / LABELS}: {labels.shape} labels of type {labels.dtype} for {n} images in "
                f"{path}; {self.how_to_get()}"
            )
        block = n // len(SEVERITIES)
        part = slice(block * (severity - 1), block * severity)
        x = np.ascontiguousarray(np.asarray(images[part]).transpose(0, 3, 1, 2))
        y = np.asarray(labels[part]).astype(np.int64)
        if y.size and (y.min() < 0 or y.max() >= self.info.num_classes):
            raise DataError(
                f"{self.folder / LABELS}: labels range over {y.min()}..{y.max()}, outside "
                f"0..{self.info.num_classes - 1}; {self.how_to_get()}"
            )
        return x, y


@register_dataset("cifar10-c")
class Cifar10C(_CorruptedReader):
    """CIFAR-10-C (Hendrycks and Dietterich, 2019): the CIFAR-10 test set under 19 corruptions."""

    tar = "CIFAR-10-C.tar"
    info = replace(
        Cifar10.info,
        name="cifar10-c",
        description="CIFAR-10-C: the CIFAR-10 test set under 19 corruptions x 5 severities (as released)",
        splits=_splits(),
        files=_files(),
        url="https://zenodo.org/record/2535967",
        citation=(
            "Hendrycks, D. and Dietterich, T. (2019). Benchmarking Neural Network Robustness to Common "
            "Corruptions and Perturbations. ICLR."
        ),
        folder="CIFAR-10-C",
    )


@register_dataset("cifar100-c")
class Cifar100C(_CorruptedReader):
    """CIFAR-100-C (Hendrycks and Dietterich, 2019): the CIFAR-100 test set under 19 corruptions."""

    tar = "CIFAR-100-C.tar"
    info = replace(
        Cifar100.info,
        name="cifar100-c",
        description="CIFAR-100-C: the CIFAR-100 test set under 19 corruptions x 5 severities (as released)",
        splits=_splits(),
        files=_files(),
        url="https://zenodo.org/record/3555552",
        citation=Cifar10C.info.citation,
        folder="CIFAR-100-C",
    )


def corrupted_name(dataset: str) -> str:
    """``"cifar10" -> "cifar10-c"``; other datasets have no released corrupted test set."""
    key = dataset.strip().lower()
    if key in ("cifar10", "cifar100"):
        return f"{key}-c"
    if key in ("cifar10-c", "cifar100-c"):
        return key
    raise ConfigError(
        f"released corruptions exist for cifar10 and cifar100 (CIFAR-10-C, CIFAR-100-C), not {dataset!r}; "
        "use --corruption-source generated"
    )


def released_corruption_accuracy(
    model: torch.nn.Module,
    dataset: str,
    corruptions: list[str],
    severities: list[int],
    *,
    root: Any = None,
    n: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> dict[str, dict[int, float]]:
    """Accuracy of ``model`` on the released corrupted images (the first ``n`` of each block).

    The images of a block are the test images in test-set order, so the first ``n`` are the same
    images that :func:`robnas.attacks.evaluate_corruptions` corrupts itself with ``n``.
    """
    import torch

    name = corrupted_name(dataset)
    for c in corruptions:
        if c not in RELEASED_CORRUPTIONS:
            raise ConfigError(f"{name} has no corruption {c!r}; released: {', '.join(RELEASED_CORRUPTIONS)}")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: dict[str, dict[int, float]] = {}
    try:
        with torch.no_grad():
            for c in corruptions:
                out[c] = {}
                for s in severities:
                    ds = load_dataset(name, split_name(c, s), root=root)
                    total = min(len(ds), n) if n is not None else len(ds)
                    correct = 0
                    for start in range(0, total, batch_size):
                        stop = min(start + batch_size, total)
                        x = ds.images[start:stop].to(dev).float().div_(255.0)
                        y = ds.labels[start:stop].to(dev)
                        correct += int((model(x).argmax(1) == y).sum())
                    out[c][s] = correct / total
    finally:
        model.train(was_training)
    return out
