"""``robnas bench download SOURCE``: fetch a benchmark release from its authors' address.

Each source declares its releases (:class:`Release`: address, file name, checksum when known,
whether it is an archive to extract into the source's folder) and, for what robnas cannot fetch
(Google Drive folders need a browser), a sentence saying which files to put where
(:data:`MANUAL`). :func:`download` fetches into a ``.part`` file, checks the SHA-256 when robnas
knows it (and deletes a file that does not match), extracts zip and tar archives safely (no
absolute paths, no ``..``, no links), and writes ``download-manifest.json`` in the folder with
the address, size and SHA-256 of every file fetched, so that a later download can be compared.
When an address cannot be reached, :class:`DataError` says which files to put where.

Choice: the authors publish no checksums for these releases, so the manifest records what was
fetched (SHA-256) rather than pretending to verify it; a checksum given in :data:`RELEASES` (or
``--sha256`` on the command line) is enforced.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from robnas.benchmarks.registry import get_source
from robnas.errors import ConfigError, DataError


@dataclass(frozen=True)
class Release:
    """One file of a benchmark release: fetched from ``url`` and saved as ``filename``."""

    url: str
    filename: str
    sha256: str | None = None
    extract: bool = False
    what: str = ""


RELEASES: dict[str, tuple[Release, ...]] = {
    "jung2023": (
        Release("http://data.robustness.vision/meta.zip", "meta.zip", extract=True, what="meta.json"),
        Release(
            "http://data.robustness.vision/cifar10-accuracies.zip",
            "cifar10-accuracies.zip",
            extract=True,
            what="cifar10/*_accuracy.json",
        ),
        Release(
            "http://data.robustness.vision/cifar100-accuracies.zip",
            "cifar100-accuracies.zip",
            extract=True,
            what="cifar100/*_accuracy.json",
        ),
        Release(
            "http://data.robustness.vision/ImageNet16-120-accuracies.zip",
            "ImageNet16-120-accuracies.zip",
            extract=True,
            what="ImageNet16-120/*_accuracy.json",
        ),
    ),
}
"""Releases robnas can fetch itself (addresses of the authors' download page)."""

MANUAL: dict[str, str] = {
    "jung2023": (
        "from http://data.robustness.vision/ get meta.zip and <dataset>-accuracies.zip (optionally "
        "<dataset>.zip for confidences and confusion matrices) and extract them into {folder}, so that "
        "{folder}/meta.json and {folder}/cifar10/clean_accuracy.json exist"
    ),
    "nasrobbench201": (
        "from the authors' Google Drive folder "
        "https://drive.google.com/drive/folders/1Hhv2R1EfpnQOAyClX09mj7rj1Zbbbj0G (linked in "
        "https://github.com/TT2408/nasrobbench201) put NAS-RobBench-201_all.json and meta.json into "
        "{folder} (per-seed values); or the project page's NAS-RobBench-201_html.json "
        "(https://tt2408.github.io/nasrobbench201hp/, seed means only) into {folder}"
    ),
    "natsbench": (
        "download NATS-tss-v1_0-3ffb9-simple.tar (Google Drive link in https://github.com/D-X-Y/NATS-Bench) "
        "and extract it into {folder}, so that {folder}/NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2 exists; "
        "then `pip install 'robnas[natsbench]'` and `robnas bench convert natsbench`"
    ),
    "zerocost": (
        "get zc_nasbench201.json from NASLib (https://github.com/automl/NASLib, zero-cost benchmark "
        "files) into {folder}"
    ),
    "store": "the store is your own build: create it with `robnas build CONFIG` or `robnas quickstart`",
}


def manual(source: str, folder: Path) -> str:
    """Which files to put where for ``source`` (a sentence)."""
    return MANUAL.get(source, "see `robnas bench info {source}`").format(folder=folder, source=source)


def sha256sum(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, dest: Path, sha256: str | None, timeout: float) -> str:
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"could not download {url} ({getattr(exc, 'reason', None) or exc})") from None
    got = sha256sum(part)
    if sha256 is not None and got != sha256.lower():
        part.unlink(missing_ok=True)
        raise DataError(
            f"the file downloaded from {url} has SHA-256 {got}, not {sha256}; it was deleted "
            "(a corrupted download, or the file changed upstream)"
        )
    part.replace(dest)
    return got


def _safe_members(names: list[str], archive: Path) -> None:
    for name in names:
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts:
            raise DataError(f"{archive} holds the unsafe path {name!r}; not extracted")


def _extract(archive: Path, into: Path) -> list[str]:
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                names = zf.namelist()
                _safe_members(names, archive)
                zf.extractall(into)
                return names
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            tar.extractall(into, filter="data")
            return names
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"could not extract {archive} ({exc}); delete it and download again") from None


def download(
    source: str,
    root: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    sha256: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Fetch every release file of ``source`` into its folder; returns what was done.

    ``mirror`` replaces the authors' address (``file:///path/`` or ``https://host/dir/``): each
    file is fetched from ``mirror + filename``. ``sha256`` adds checksums by file name.
    """
    src = get_source(source, root)
    folder = src.folder
    releases = RELEASES.get(src.name, ())
    if not releases:
        raise DataError(f"{src.name}: robnas cannot fetch this release itself; {manual(src.name, folder)}")
    if mirror is not None and not mirror.strip():
        raise ConfigError("--mirror needs an address, e.g. file:///data/mirror/ or https://host/dir/")
    folder.mkdir(parents=True, exist_ok=True)
    fetched = []
    for rel in releases:
        url = mirror.rstrip("/") + "/" + rel.filename if mirror else rel.url
        check = (sha256 or {}).get(rel.filename, rel.sha256)
        dest = folder / rel.filename
        try:
            digest = _fetch(url, dest, check, timeout)
        except DataError as exc:
            raise DataError(f"{exc}; to install by hand: {manual(src.name, folder)}") from None
        entry: dict[str, object] = {
            "file": rel.filename,
            "url": url,
            "bytes": dest.stat().st_size,
            "sha256": digest,
            "checked": check is not None,
        }
        if rel.extract:
            entry["extracted"] = len(_extract(dest, folder))
            dest.unlink()
        fetched.append(entry)
    manifest = {
        "source": src.name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": fetched,
    }
    (folder / "download-manifest.json").write_text(json.dumps(manifest, indent=1))
    return {"source": src.name, "folder": str(folder), "files": fetched, "available": src.available()}
