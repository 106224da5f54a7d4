"""What robnas knows about a dataset before reading it: :class:`DatasetInfo` and its file list.

Mean and standard deviation are per channel, in pixel units of [0, 1]; they are meant for the
model's input-normalisation layer (robnas never normalises pixels in the data pipeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from robnas.errors import ConfigError


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset's official layout.

    ``path`` is relative to the dataset folder. ``md5`` is the checksum of the official release
    (``None`` when unknown). ``alternatives`` are other accepted names for the same content (for
    example the uncompressed IDX file next to the ``.gz``); ``raw_md5`` is the md5 of the
    decompressed content of a ``.gz`` file, where known. ``splits`` lists the splits that need
    the file.
    """

    path: str
    md5: str | None = None
    splits: tuple[str, ...] = ("train", "test")
    alternatives: tuple[str, ...] = ()
    raw_md5: str | None = None


@dataclass(frozen=True)
class Download:
    """One file to fetch: ``url`` saved as ``filename`` in the dataset folder, checked by ``md5``.

    With ``extract`` set, the file is a tar archive extracted into the parent of the folder
    (the archives of CIFAR contain the folder itself) and then deleted.
    """

    url: str
    filename: str
    md5: str | None
    extract: bool = False


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset.

    Attributes:
        name: registry name (``cifar10``).
        num_classes: number of classes.
        channels: image channels (1 or 3).
        image_size: ``(height, width)``.
        mean, std: per-channel mean and standard deviation of pixels in [0, 1], for the model's
            ``Normalize`` layer.
        class_names: one name per class, in label order.
        splits: split name -> number of images in the official release.
        files: the official file layout (relative to ``folder``) with md5 checksums where known.
        url: where the official files come from.
        citation: the reference to cite.
        folder: the dataset's folder below the data root (``cifar10/cifar-10-batches-py``).
        hflip: whether random horizontal flips are a sensible augmentation (not for digits).
        description: one line for listings.
    """

    name: str
    num_classes: int
    channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    splits: Mapping[str, int] = field(default_factory=dict, hash=False)
    files: tuple[FileSpec, ...] = ()
    url: str = ""
    citation: str = ""
    folder: str = ""
    hflip: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", MappingProxyType(dict(self.splits)))
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ConfigError(f"dataset {self.name}: mean and std need one value per channel")
        if len(self.class_names) != self.num_classes:
            raise ConfigError(
                f"dataset {self.name}: {len(self.class_names)} class names for {self.num_classes} classes"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one image."""
        return (self.channels, *self.image_size)

    def model_kwargs(self) -> dict[str, object]:
        """What a network built for this dataset needs to know: ``num_classes``, ``in_channels``,
        and the ``mean`` / ``std`` of its normalisation layer (models take pixels in [0, 1])."""
        return {
            "num_classes": self.num_classes,
            "in_channels": self.channels,
            "mean": self.mean,
            "std": self.std,
        }

    def files_for(self, split: str) -> tuple[FileSpec, ...]:
        """The files needed to read ``split``."""
        return tuple(f for f in self.files if split in f.splits)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return {
            "name": self.name,
            "description": self.description,
            "num_classes": self.num_classes,
            "channels": self.channels,
            "image_size": list(self.image_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "class_names": list(self.class_names),
            "splits": dict(self.splits),
            "hflip": self.hflip,
            "folder": self.folder,
            "url": self.url,
            "citation": self.citation,
            "files": [{"path": f.path, "md5": f.md5, "splits": list(f.splits)} for f in self.files],
        }
