"""``robnas bench download``: releases fetched from file:// archives, checksums, manual advice."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from robnas.benchmarks import get_source


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBNAS_CACHE", str(tmp_path_factory.mktemp("cache")))


def _mirror(tmp_path: Path, shared_data: Path) -> Path:
    """The four archives of the Jung et al. download page, made from the shared copy of the release."""
    src = shared_data / "robustness-dataset"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "meta.zip", "w") as zf:
        zf.write(src / "meta.json", "meta.json")
    with zipfile.ZipFile(mirror / "cifar10-accuracies.zip", "w") as zf:
        zf.write(src / "cifar10" / "clean_accuracy.json", "cifar10/clean_accuracy.json")
        zf.write(src / "cifar10" / "pgd@Linf_accuracy.json", "cifar10/pgd@Linf_accuracy.json")
    for name in ("cifar100-accuracies.zip", "ImageNet16-120-accuracies.zip"):
        with zipfile.ZipFile(mirror / name, "w") as zf:
            zf.write(src / "cifar100" / "clean_accuracy.json", "cifar100/clean_accuracy.json")
    return mirror


def test_download_from_file_mirror(tmp_path: Path, shared_data: Path, cli) -> None:
    mirror = _mirror(tmp_path, shared_data)
    root = tmp_path / "data"
    digest = hashlib.sha256((mirror / "meta.zip").read_bytes()).hexdigest()
    code, out, err = cli(
        "bench", "download", "jung2023", "--root", str(root), "--mirror", mirror.as_uri() + "/",
        "--sha256", f"meta.zip={digest}",
    )  # fmt: skip
    assert code == 0, err
    assert "checked" in out and "no published checksum; recorded" in out and "ready" in out
    folder = root / "robustness-dataset"
    assert (folder / "meta.json").is_file() and not (folder / "meta.zip").exists()
    manifest = json.loads((folder / "download-manifest.json").read_text())
    assert manifest["files"][0]["sha256"] == digest and manifest["files"][0]["checked"] is True
    want = get_source("jung2023", shared_data).query(1000, "cifar10/pgd@8")
    assert get_source("jung2023", root).query(1000, "cifar10/pgd@8") == want


def test_download_checksum_mismatch_and_unreachable(tmp_path: Path, shared_data: Path, cli) -> None:
    mirror = _mirror(tmp_path, shared_data)
    root = tmp_path / "data"
    code, out, err = cli(
        "bench", "download", "jung2023", "--root", str(root), "--mirror", mirror.as_uri(),
        "--sha256", "meta.zip=" + "0" * 64,
    )  # fmt: skip
    assert code != 0 and "not 000000" in err and "it was deleted" in err
    assert not (root / "robustness-dataset" / "meta.zip").exists()
    assert not (root / "robustness-dataset" / "meta.zip.part").exists()
    code, out, err = cli(
        "bench", "download", "jung2023", "--root", str(root), "--mirror", (tmp_path / "nowhere").as_uri()
    )
    assert code != 0 and "could not download" in err and "to install by hand" in err
    assert "data.robustness.vision" in err


def test_download_says_what_to_put_where(tmp_path: Path, cli) -> None:
    code, out, err = cli("bench", "download", "nasrobbench201", "--root", str(tmp_path))
    assert code != 0
    assert "NAS-RobBench-201_all.json and meta.json" in err and str(tmp_path / "nas-robbench-201") in err
    code, out, err = cli("bench", "download", "natsbench", "--root", str(tmp_path))
    assert code != 0 and "NATS-tss-v1_0-3ffb9-simple.tar" in err


def test_unsafe_archive_refused(tmp_path: Path, cli) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "meta.zip", "w") as zf:
        zf.writestr("../escape.json", "{}")
    code, out, err = cli(
        "bench", "download", "jung2023", "--root", str(tmp_path / "d"), "--mirror", mirror.as_uri()
    )
    assert code != 0 and "unsafe path" in err and not (tmp_path / "d" / "escape.json").exists()
