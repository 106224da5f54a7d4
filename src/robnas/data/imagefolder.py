"""Users' own images: a folder of class sub-folders.

Layouts (``root`` is the folder itself):

* ``root/train/<class>/*`` and ``root/test/<class>/*`` (``val`` is accepted for ``test``): the
  splits are the sub-folders;
* ``root/<class>/*``: robnas draws a stratified 80/20 train/test split with seed 0.

Images are read with Pillow (``.png .jpg .jpeg .bmp .gif .ppm .pgm .pbm .tif .tiff .webp``) or
numpy (``.npy``: ``H x W`` or ``H x W x C`` uint8, or floats in [0, 1]). All images must have the
same size (robnas does not resize); if any is in colour, greyscale ones are repeated to RGB. Mean
and std are measured on the training images.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from robnas.errors import ConfigError, DataError

from .dataset import stratified_order
from .files import FileStatus
from .info import DatasetInfo
from .registry import DatasetReader, PathLike, register_dataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp"}
SPLIT_SEED = 0
TEST_FRACTION = 0.2
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def read_image(path: Path) -> np.ndarray:
    """One image as uint8 ``H x W x C`` (C = 1 or 3); :class:`DataError` if unreadable."""
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{path} is not a readable .npy image ({exc})") from None
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3 or arr.shape[2] not in (1, 3):
            raise DataError(f"{path} has shape {arr.shape}; a .npy image must be H x W or H x W x 1/3")
        if arr.dtype != np.uint8:
            if not np.issubdtype(arr.dtype, np.floating) or arr.min() < 0 or arr.max() > 1:
                raise DataError(f"{path} must hold uint8 pixels or floats in [0, 1], got {arr.dtype}")
            if not np.isfinite(arr).all():  # NaN passes the range test and would become black
                raise DataError(f"{path} holds NaN or infinite pixels; floats must lie in [0, 1]")
            arr = np.round(arr * 255).astype(np.uint8)
        return arr
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        raise DataError(
            f"reading {path} needs Pillow (`pip install pillow`), or save images as .npy"
        ) from None
    try:
        with Image.open(path) as img:
            img.load()
            grey = img.mode in _GREY_MODES
            arr = np.asarray(img.convert("L" if grey else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable image ({exc})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and (p.suffix.lower() in IMAGE_SUFFIXES or p.suffix.lower() == ".npy")
    )


@register_dataset("imagefolder")
class ImageFolder(DatasetReader):
    """A folder of class sub-folders of images (``root`` is the folder itself)."""

    info = DatasetInfo(
        name="imagefolder",
        description="your own images: a folder of class sub-folders (pass the folder as --root)",
        num_classes=0,
        channels=3,
        image_size=(0, 0),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        class_names=(),
        splits={"train": 0, "test": 0},
        url="",
        citation="",
        folder="",
        hflip=True,
    )

    def __init__(self, root: PathLike | None = None) -> None:
        if root is None or str(root) == "":
            raise ConfigError(
                "the imagefolder dataset needs root= (--root) set to the folder of class sub-folders"
            )
        self.root = Path(root).expanduser()

    @property
    def folder(self) -> Path:
        return self.root

    def how_to_get(self) -> str:
        return f"put one sub-folder of images per class in {self.root}"

    def _split_dirs(self) -> dict[str, Path] | None:
        train = self.root / "train"
        test = next((self.root / n for n in ("test", "val") if (self.root / n).is_dir()), None)
        if train.is_dir() and test is not None:
            return {"train": train, "test": test}
        return None

    @cached_property
    def _index(self) -> dict[str, tuple[list[Path], np.ndarray]]:
        """split -> (files, labels) and the class names, from the folder layout."""
        if not self.root.is_dir():
            raise DataError(f"image folder not found: {self.root}; {self.how_to_get()}")
        split_dirs = self._split_dirs()
        base = split_dirs["train"] if split_dirs else self.root
        classes = [d.name for d in _class_dirs(base)]
        if not classes:
            raise DataError(f"{base} has no class sub-folders; {self.how_to_get()}")
        self._classes = tuple(classes)

        def scan(folder: Path) -> tuple[list[Path], np.ndarray]:
            files: list[Path] = []
            labels: list[int] = []
            for d in _class_dirs(folder):
                if d.name not in classes:
                    raise DataError(
                        f"{d} is a class that {base} does not have; use the same classes in every split"
                    )
                found = _image_files(d)
                files += found
                labels += [classes.index(d.name)] * len(found)
            if not files:
                raise DataError(f"no images found in the class sub-folders of {folder}; {self.how_to_get()}")
            return files, np.asarray(labels, dtype=np.int64)

        if split_dirs:
            return {s: scan(d) for s, d in split_dirs.items()}
        files, labels = scan(self.root)
        if len(files) < 2:
            raise DataError(
                f"{self.root} holds {len(files)} image; at least 2 are needed for a train/test split"
            )
        order = stratified_order(torch.from_numpy(labels), SPLIT_SEED).numpy()
        k = min(max(1, int(round(TEST_FRACTION * len(files)))), len(files) - 1)
        test, train = np.sort(order[:k]), np.sort(order[k:])
        return {
            "train": ([files[i] for i in train], labels[train]),
            "test": ([files[i] for i in test], labels[test]),
        }

    def availability(self) -> str:
        return "found" if self.root.is_dir() else "missing"

    def split_available(self, split: str) -> bool:
        return self.root.is_dir()

    def download(self, progress: bool = True) -> list[FileStatus]:
        raise DataError(f"imagefolder reads your own images from {self.root}; there is nothing to download")

    def status(self, checksum: bool = True) -> list[FileStatus]:
        return []

    def _read_files(self, files: list[Path]) -> np.ndarray:
        arrays = [read_image(p) for p in files]
        first = arrays[0].shape[:2]
        for p, a in zip(files, arrays, strict=True):
            if a.shape[:2] != first:
                raise DataError(
                    f"{p} is {a.shape[1]}x{a.shape[0]} pixels but {files[0]} is {first[1]}x{first[0]}; "
                    "resize the images to one size first"
                )
        channels = max(a.shape[2] for a in arrays)
        arrays = [np.repeat(a, channels, axis=2) if a.shape[2] != channels else a for a in arrays]
        return np.stack(arrays).transpose(0, 3, 1, 2).copy()

    @cached_property
    def _train_images(self) -> np.ndarray:
        return self._read_files(self._index["train"][0])

    def describe(self) -> DatasetInfo:
        index = self._index
        images = self._train_images
        x = images.astype(np.float64) / 255.0
        mean = tuple(float(v) for v in x.mean(axis=(0, 2, 3)))
        std = tuple(float(max(v, 1e-3)) for v in x.std(axis=(0, 2, 3)))
        return DatasetInfo(
            name="imagefolder",
            description=f"images from {self.root}",
            num_classes=len(self._classes),
            channels=images.shape[1],
            image_size=(images.shape[2], images.shape[3]),
            mean=mean,
            std=std,
            class_names=self._classes,
            splits={s: len(files) for s, (files, _) in index.items()},
            folder=str(self.root),
            hflip=True,
            url="",
            citation="",
        )

    def read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        files, labels = self._index[split]
        images = self._train_images if split == "train" else self._read_files(files)
        if images.shape[1] == 1 and self._train_images.shape[1] == 3:
            images = np.repeat(images, self._train_images.shape[1], axis=1)
        return images, labels
