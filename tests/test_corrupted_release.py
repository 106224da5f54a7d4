"""CIFAR-10-C / CIFAR-100-C read in the released ``.npy`` layout (files written by the tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from robnas.data import dataset_info, load_dataset
from robnas.data.corrupted import released_corruption_accuracy
from robnas.errors import ConfigError, DataError

PER = 4  # images per severity block in these small files (the release has 10,000)


def write_release(
    root: Path, folder: str = "CIFAR-10-C", corruptions=("fog",), classes: int = 10
) -> np.ndarray:
    d = root / folder
    d.mkdir(parents=True)
    labels = np.tile(np.arange(PER, dtype=np.uint8) % classes, 5)
    np.save(d / "labels.npy", labels)
    for c in corruptions:
        # every pixel of image i at severity s is 20 * label + s: blocks are told apart by value
        sev = np.repeat(np.arange(1, 6, dtype=np.uint8), PER)
        images = (20 * labels + sev).astype(np.uint8)[:, None, None, None] * np.ones((1, 32, 32, 3), np.uint8)
        np.save(d / f"{c}.npy", images)
    return labels


class ByBrightness(torch.nn.Module):
    """Predicts class k when the mean pixel is closest to 20 k + 3 (right at severity 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = x.mean(dim=(1, 2, 3)) * 255
        return -(level[:, None] - (20 * torch.arange(10) + 3)).abs() + 0 * self.dummy


def test_read_block_by_severity(tmp_path: Path) -> None:
    labels = write_release(tmp_path)
    ds = load_dataset("cifar10-c", "fog-3", root=tmp_path)
    assert ds.images.shape == (PER, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.tolist() == labels[:PER].tolist()
    assert ds.images[1, 0, 0, 0].item() == 20 * 1 + 3  # block 3 = severity 3
    assert load_dataset("cifar10-c", "fog-5", root=tmp_path).images[0, 2, 5, 5].item() == 5
    assert ds.info.num_classes == 10 and ds.info.mean == dataset_info("cifar10").mean


def test_released_accuracy(tmp_path: Path) -> None:
    write_release(tmp_path)
    acc = released_corruption_accuracy(
        ByBrightness(), "cifar10", ["fog"], [1, 3], root=tmp_path, batch_size=3
    )
    # severity 3 matches the model's levels exactly; severity 1 is 2 levels off: still the nearest
    assert acc == {"fog": {1: 1.0, 3: 1.0}}
    acc = released_corruption_accuracy(ByBrightness(), "cifar10", ["fog"], [3], root=tmp_path, n=2)
    assert acc == {"fog": {3: 1.0}}


def test_errors_name_file_and_fix(tmp_path: Path) -> None:
    write_release(tmp_path)
    with pytest.raises(DataError, match=r"CIFAR-10-C/snow\.npy.*zenodo\.org/record/2535967"):
        load_dataset("cifar10-c", "snow-1", root=tmp_path)
    with pytest.raises(ConfigError, match="CORRUPTION-SEVERITY, e.g. fog-3"):
        load_dataset("cifar10-c", "fog-9", root=tmp_path)
    with pytest.raises(ConfigError, match="not 'mnist'"):
        released_corruption_accuracy(ByBrightness(), "mnist", ["fog"], [1], root=tmp_path)
    np.save(tmp_path / "CIFAR-10-C" / "fog.npy", np.zeros((7, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match="not 5 severity blocks"):
        load_dataset("cifar10-c", "fog-1", root=tmp_path)
    np.save(tmp_path / "CIFAR-10-C" / "fog.npy", np.zeros((10, 32, 32, 3), np.float32))
    with pytest.raises(DataError, match="expected uint8 images"):
        load_dataset("cifar10-c", "fog-1", root=tmp_path)
    (tmp_path / "CIFAR-10-C" / "fog.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match="not a readable .npy"):
        load_dataset("cifar10-c", "fog-1", root=tmp_path)


def test_cifar100c(tmp_path: Path) -> None:
    write_release(tmp_path, "CIFAR-100-C", ("gaussian_noise", "saturate"), classes=100)
    ds = load_dataset("cifar100-c", "saturate-2", root=tmp_path)
    assert ds.info.num_classes == 100 and len(ds) == PER


def test_attack_cli_released(tmp_path: Path, shared_data: Path, cli) -> None:
    write_release(tmp_path)
    os.symlink(shared_data / "cifar10", tmp_path / "cifar10")
    args = [
        "attack",
        "1000",
        "--dataset",
        "cifar10",
        "--root",
        str(tmp_path),
        "--attacks",
        "fgsm",
        "--eps",
        "1",
    ]
    args += ["--n", "4", "--C", "4", "--N", "1", "--no-checks", "--corruptions", "fog", "--severities", "2,3"]
    code, out, err = cli(*args, "--corruption-source", "released", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["corruption_source"] == "released" and set(res["corruptions"]["fog"]) == {"2", "3"}
    code, out, err = cli(*args, "--corruption-source", "downloaded")
    assert code != 0 and "generated or released" in out + err


def test_compare_script_round_trip(tmp_path: Path, shared_data: Path, capsys) -> None:
    """benchmarks/compare_corruptions.py: a 'release' made by robnas's own (deterministic)
    brightness corruption differs from it by 0; without the release the script says what to get."""
    import importlib.util

    from robnas.attacks.corruptions import corrupt

    spec = importlib.util.spec_from_file_location(
        "cmp", Path(__file__).parents[1] / "benchmarks" / "compare_corruptions.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--root", str(tmp_path), "--corruptions", "brightness"]) == 2
    assert "CIFAR-10-C.tar" in capsys.readouterr().err
    os.symlink(shared_data / "cifar10", tmp_path / "cifar10")
    clean = load_dataset("cifar10", "test", root=tmp_path)
    x0, y0 = clean.images[:PER].numpy(), clean.labels[:PER].numpy()
    d = tmp_path / "CIFAR-10-C"
    d.mkdir()
    blocks = [corrupt(x0, "brightness", s).transpose(0, 2, 3, 1) for s in range(1, 6)]
    np.save(d / "brightness.npy", np.concatenate(blocks).astype(np.uint8))
    np.save(d / "labels.npy", np.tile(y0, 5).astype(np.uint8))
    assert mod.main(["--root", str(tmp_path), "--n", str(PER), "--corruptions", "brightness", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["severity"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["mad"] == 0 and r["mad_ref"] > 0 for r in rows)


def test_build_job_with_released_corruptions(tmp_path: Path, shared_data: Path) -> None:
    """A train-attack job reads the released corruptions with ``eval: {corruption_source: released}``."""
    from robnas.runner.build import all_jobs
    from robnas.runner.config import BuildConfig
    from robnas.runner.train_attack import check, run

    os.symlink(shared_data / "cifar10", tmp_path / "cifar10")
    base = {
        "architectures": [1000],
        "dataset": "cifar10",
        "root": str(tmp_path),
        "model": {"C": 4, "N": 1},
        "training": {"preset": "cpu-tiny", "epochs": 1, "examples": 100},
        "corruptions": {"fog": [2, 3]},
        "eval": {"examples": 8, "corruption_source": "released"},
    }
    with pytest.raises(ConfigError, match=r"CIFAR-10-C/fog\.npy"):
        check(BuildConfig.from_dict(base))  # refused before any job: the files are not there
    write_release(tmp_path)
    cfg = BuildConfig.from_dict(base)
    check(cfg)
    generated = BuildConfig.from_dict({**base, "eval": {"examples": 8}})
    assert generated.protocol_hash != cfg.protocol_hash  # released vs generated never mix
    out = run(all_jobs(cfg)[0], "cpu")
    # the released block holds 4 images (this small file); its accuracy is a multiple of 1/4
    assert {"cifar10/fog#2", "cifar10/fog#3"} <= set(out)
    assert all(out[k] * 4 == int(out[k] * 4) for k in ("cifar10/fog#2", "cifar10/fog#3"))
    with pytest.raises(ConfigError, match="generated or released"):
        check(BuildConfig.from_dict({**base, "eval": {"corruption_source": "bogus"}}))
