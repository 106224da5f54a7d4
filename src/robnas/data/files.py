"""File handling shared by the dataset readers: checksums, safe unpickling, downloads.

Dataset pickles (CIFAR, downsampled ImageNet) are read with a restricted unpickler that only
rebuilds numpy arrays, lists, dicts, strings and numbers: a dataset file never needs more, and a
crafted pickle cannot run code.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robnas.errors import DataError

from .info import Download, FileSpec

# (module, name) pairs a dataset pickle may reference: numpy array reconstruction only.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it references {module}.{name}, which no dataset file contains")


def _str_keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    return obj


def load_pickle(path: Path, hint: str = "") -> dict[str, Any]:
    """Read a dataset pickle (Python 2 or 3) as a dict with ``str`` keys; :class:`DataError` if unreadable."""
    try:
        with open(path, "rb") as fh:
            obj = _DataUnpickler(fh, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}{hint}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise DataError(
            f"{path} is truncated or corrupt and cannot be read ({_short(exc)}); "
            f"replace it with a fresh copy{hint}"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} does not hold a dataset batch (a pickled dict); replace it{hint}")
    return _str_keys(obj)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def read_maybe_gzip(path: Path) -> bytes:
    """The bytes of ``path``, decompressed if it ends in ``.gz``; :class:`DataError` if corrupt."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path} is truncated or corrupt and cannot be decompressed ({_short(exc)}); replace it"
        ) from None


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    """Hex md5 of a file."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- checksum status

MATCHES = "matches the official release"
MATCHES_CONTENT = "matches the official release (decompressed content)"
DIFFERS = "differs from the official release"
MISSING = "missing"
UNKNOWN = "no official checksum known"


@dataclass(frozen=True)
class FileStatus:
    """Where a dataset file was found and how its checksum compares with the official release."""

    spec: FileSpec
    path: Path  # the found file, or the expected path when missing
    found: bool
    md5: str | None
    state: str  # one of MATCHES, MATCHES_CONTENT, DIFFERS, MISSING, UNKNOWN

    @property
    def ok(self) -> bool:
        """Found and identical to the official release."""
        return self.state in (MATCHES, MATCHES_CONTENT)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.spec.path,
            "path": str(self.path),
            "found": self.found,
            "md5": self.md5,
            "official_md5": self.spec.md5,
            "status": self.state,
        }


def locate(folder: Path, spec: FileSpec) -> Path | None:
    """The existing file for ``spec`` in ``folder`` (its name or an accepted alternative)."""
    for name in (spec.path, *spec.alternatives):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def file_status(folder: Path, spec: FileSpec, checksum: bool = True) -> FileStatus:
    """Check one file of the official layout."""
    path = locate(folder, spec)
    if path is None:
        return FileStatus(spec, folder / spec.path, False, None, MISSING)
    if not checksum:
        return FileStatus(spec, path, True, None, UNKNOWN)
    digest = md5sum(path)
    if spec.md5 is None and spec.raw_md5 is None:
        return FileStatus(spec, path, True, digest, UNKNOWN)
    if digest == spec.md5:
        return FileStatus(spec, path, True, digest, MATCHES)
    if spec.raw_md5 is not None:
        # A re-compressed or decompressed copy of an official .gz file: compare the content.
        try:
            raw = md5_bytes(read_maybe_gzip(path))
        except DataError:
            return FileStatus(spec, path, True, digest, DIFFERS)
        if raw == spec.raw_md5:
            return FileStatus(spec, path, True, digest, MATCHES_CONTENT)
    return FileStatus(spec, path, True, digest, DIFFERS)


# --------------------------------------------------------------------------- downloads


def download_file(
    url: str, dest: Path, md5: str | None, progress: bool = True, timeout: float = 30.0
) -> Path:
    """Fetch ``url`` to ``dest`` (via a ``.part`` file), check its md5; :class:`DataError` on failure."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            if progress:
                from rich.progress import (
                    BarColumn,
                    DownloadColumn,
                    Progress,
                    TextColumn,
                    TransferSpeedColumn,
                )

                with Progress(
                    TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()
                ) as bar:
                    task = bar.add_task(dest.name, total=total)
                    while block := response.read(1 << 20):
                        out.write(block)
                        bar.advance(task, len(block))
            else:
                shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"could not download {url} ({reason})") from None
    if md5 is not None:
        got = md5sum(part)
        if got != md5:
            part.unlink(missing_ok=True)
            raise DataError(
                f"the file downloaded from {url} has md5 {got}, not the official {md5}; "
                "the download was corrupted or the file changed upstream, so it was deleted"
            )
    part.replace(dest)
    return dest


def extract_tar(archive: Path, into: Path) -> None:
    """Extract a tar archive safely (no absolute paths, links or devices) into ``into``."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"could not extract {archive} ({_short(exc)}); delete it and download again"
        ) from None


def fetch(download: Download, folder: Path, progress: bool = True) -> Path:
    """Download one :class:`Download` into ``folder`` (extracting archives into its parent)."""
    if download.extract:
        archive = folder.parent / download.filename
        download_file(download.url, archive, download.md5, progress=progress)
        extract_tar(archive, folder.parent)
        archive.unlink(missing_ok=True)
        return folder
    return download_file(download.url, folder / download.filename, download.md5, progress=progress)
