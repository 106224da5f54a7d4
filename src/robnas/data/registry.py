"""The dataset registry: one reader class per dataset, looked up by name.

A reader knows its :class:`DatasetInfo` (files, checksums, class names, mean/std), where its
folder lies below the data root (:func:`robnas.paths.data_root`), how to read a split into
uint8 arrays, and how to download its files. Adding a dataset is one new module with a class
decorated by :func:`register_dataset`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np

from robnas.errors import ConfigError, DataError
from robnas.paths import data_root
from robnas.registry import Registry

from .dataset import ImageDataset
from .files import DIFFERS, MISSING, FileStatus, fetch, file_status, locate
from .info import DatasetInfo, Download, FileSpec

PathLike = str | os.PathLike[str]


class DatasetReader:
    """Base class of dataset readers. Subclasses set :attr:`info` and implement :meth:`read`."""

    info: ClassVar[DatasetInfo]
    downloads: ClassVar[tuple[Download, ...]] = ()
    #: what to tell a user who lacks the files and cannot use ``robnas data download``
    manual: ClassVar[str] = ""

    def __init__(self, root: PathLike | None = None) -> None:
        self.root = data_root(root)

    # -- layout ------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        """The folder holding the dataset's files."""
        return self.root / self.info.folder

    def describe(self) -> DatasetInfo:
        """The info of the data at this root (differs from :attr:`info` only for user folders)."""
        return self.info

    def splits(self) -> tuple[str, ...]:
        return tuple(self.describe().splits)

    def status(self, checksum: bool = True) -> list[FileStatus]:
        """Checksum status of every file of the official layout."""
        return [file_status(self.folder, spec, checksum) for spec in self.info.files]

    def availability(self) -> str:
        """``"found"``, ``"partial"`` (some split readable) or ``"missing"``."""
        found = [self.split_available(s) for s in self.splits()]
        if all(found):
            return "found"
        return "partial" if any(found) else "missing"

    def split_available(self, split: str) -> bool:
        return all(locate(self.folder, spec) is not None for spec in self.info.files_for(split))

    def how_to_get(self) -> str:
        """Advice for a missing file, as the tail of a sentence."""
        if self.downloads:
            return (
                f"run `robnas data download {self.info.name} --root {self.root}`"
                f" or get {self.info.url} and put its files in {self.folder}"
            )
        return self.manual or f"put the files in {self.folder}"

    def require(self, spec: FileSpec) -> Path:
        """The path of a required file; :class:`DataError` naming it and how to get it if missing."""
        path = locate(self.folder, spec)
        if path is None:
            alt = f" (or {', '.join(spec.alternatives)})" if spec.alternatives else ""
            raise DataError(
                f"{self.info.name} file not found: {self.folder / spec.path}{alt}; {self.how_to_get()}"
            )
        return path

    def check_split(self, split: str) -> None:
        if split not in self.splits():
            raise ConfigError(
                f"dataset {self.info.name} has no split {split!r}; choose one of {', '.join(self.splits())}"
            )

    # -- reading -----------------------------------------------------------------------------
    def read(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(images uint8 [N, C, H, W], labels int64 [N])`` of ``split``."""
        raise NotImplementedError

    def load(self, split: str) -> ImageDataset:
        self.check_split(split)
        images, labels = self.read(split)
        info = self.describe()
        expected = (info.channels, *info.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise DataError(
                f"{info.name} {split}: images have shape {tuple(images.shape[1:])}, expected {expected}"
            )
        return ImageDataset(images, labels, info, split)  # type: ignore[arg-type]  # arrays are converted

    # -- downloading -------------------------------------------------------------------------
    def download(self, progress: bool = True) -> list[FileStatus]:
        """Fetch missing files, check md5s; returns the final status. :class:`DataError` on failure."""
        if not self.downloads:
            raise DataError(f"{self.info.name} cannot be downloaded by robnas; {self.how_to_get()}")
        if any(st.state == MISSING for st in self.status(checksum=False)):
            for item in self.downloads:
                target = self.folder if item.extract else self.folder / item.filename
                if item.extract or not target.is_file():
                    try:
                        fetch(item, self.folder, progress=progress)
                    except DataError as exc:
                        raise DataError(f"{exc}; {self.manual_download_hint(item)}") from None
        return self.verify()

    def manual_download_hint(self, item: Download) -> str:
        """How to do one download by hand (when robnas cannot reach the address)."""
        if item.extract:
            return (
                f"download {item.url} by hand (md5 {item.md5}) and extract it into {self.folder.parent}, "
                f"which creates {self.folder.name}/"
            )
        return f"download {item.url} by hand (md5 {item.md5}) into {self.folder}"

    def verify(self) -> list[FileStatus]:
        """Check every file against the official md5; :class:`DataError` on any missing or differing file."""
        statuses = self.status(checksum=True)
        for st in statuses:
            if st.state == MISSING:
                raise DataError(f"{self.info.name} file not found: {st.path}; {self.how_to_get()}")
            if st.state == DIFFERS:
                fix = (
                    f"delete it and run `robnas data download {self.info.name} --root {self.root}`"
                    if self.downloads
                    else self.how_to_get()
                )
                raise DataError(
                    f"{st.path} has md5 {st.md5}, not the official {st.spec.md5}: it is not the official "
                    f"file (a modified copy, a subset or a corrupt download); {fix}"
                )
        return statuses


R = TypeVar("R", bound=type[DatasetReader])

DATASETS: Registry[type[DatasetReader]] = Registry(
    "dataset",
    builtin={
        "cifar10": "robnas.data.cifar",
        "cifar100": "robnas.data.cifar",
        "cifar10-c": "robnas.data.corrupted",
        "cifar100-c": "robnas.data.corrupted",
        "digits": "robnas.data.digits",
        "fashion-mnist": "robnas.data.idx",
        "imagefolder": "robnas.data.imagefolder",
        "imagenet16-120": "robnas.data.imagenet16",
        "mnist": "robnas.data.idx",
    },
    aliases={"imagenet16": "imagenet16-120", "fashion_mnist": "fashion-mnist"},
)
"""The dataset registry: name -> reader class (built-in readers imported on first use)."""


def register_dataset(name: str) -> Callable[[R], R]:
    """Class decorator adding a :class:`DatasetReader` subclass to :data:`DATASETS` under ``name``."""

    def deco(cls: R) -> R:
        if cls.info.name != name:
            raise ConfigError(
                f"reader {cls.__name__} describes {cls.info.name!r} but is registered as {name!r}"
            )
        DATASETS.register(name, cls)
        return cls

    return deco


def available_datasets() -> list[str]:
    """Registered dataset names, sorted (imports no reader)."""
    return DATASETS.names()


def get_reader(name: str, root: PathLike | None = None) -> DatasetReader:
    """The reader of dataset ``name`` at data root ``root``."""
    return DATASETS.get(name)(root)


def dataset_info(name: str, root: PathLike | None = None) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` (for ``imagefolder``, of the folder ``root``)."""
    if name in DATASETS and root is None:
        return DATASETS.get(name).info
    return get_reader(name, root).describe()


def load_dataset(
    name: str, split: str = "train", root: PathLike | None = None, download: bool = False
) -> ImageDataset:
    """Read one split of a registered dataset into memory.

    Args:
        name: a registered name (:func:`available_datasets`).
        split: ``"train"`` or ``"test"``.
        root: the data root (default: ``ROBNAS_DATA`` or the per-user directory); for
            ``imagefolder`` the image folder itself.
        download: fetch missing files from the official address first (md5-checked).

    Raises:
        DataError: a file is missing, truncated, corrupt or of the wrong shape.
        ConfigError: unknown dataset or split.
    """
    reader = get_reader(name, root)
    reader.check_split(split)
    if download and reader.downloads and not reader.split_available(split):
        reader.download()
    return reader.load(split)


def download_dataset(name: str, root: PathLike | None = None, progress: bool = True) -> list[FileStatus]:
    """Download ``name`` into the data root (if needed) and verify its md5s."""
    return get_reader(name, root).download(progress=progress)
