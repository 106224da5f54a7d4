"""Untrusted input never executes; checkpoints are checksummed and refuse other runs.

A crafted ``checkpoint.pt`` (a pickle whose ``__reduce__`` would run a shell command that writes
a marker file) goes through every command that reads checkpoints: ``robnas attack FILE``,
``robnas attack DIR``, ``robnas train --out DIR`` (resume) and ``robnas dnas search --out DIR``
(resume). Each must exit non-zero with one line and leave no marker.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from robnas.errors import DataError
from robnas.training.checkpoint import read_checkpoint, save_checkpoint


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - the attack under test
        return (os.system, (f"touch {self.marker}",))


def _crafted(path: Path, marker: Path, zip_format: bool) -> Path:
    state = {"format": "robnas-checkpoint/1", "model": {}, "payload": _Evil(marker)}
    path.parent.mkdir(parents=True, exist_ok=True)
    if zip_format:
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state))
    return path


def _one_line_failure(code: int, err: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("zip_format", [True, False], ids=["torch-zip", "raw-pickle"])
@pytest.mark.parametrize("how", ["attack-file", "attack-dir", "train-resume", "dnas-resume"])
def test_crafted_checkpoint_executes_nothing(cli, tmp_path, shared_data, how, zip_format) -> None:
    marker = tmp_path / "PWNED"
    run = tmp_path / "run"
    ckpt = _crafted(run / "checkpoint.pt", marker, zip_format)
    root = ("--root", str(shared_data))
    args = {
        "attack-file": ("attack", str(ckpt), "--attacks", "fgsm", "--n", "4", *root),
        "attack-dir": ("attack", str(run), "--attacks", "fgsm", "--n", "4", *root),
        "train-resume": ("train", "0", "--dataset", "digits", "--epochs", "1", "--out", str(run), *root),
        "dnas-resume": ("dnas", "search", "--dataset", "digits", "--epochs", "1", "--n-train", "64",
                        "--batch", "16", "--out", str(run), *root),
    }[how]  # fmt: skip
    code, _, err = cli(*args)
    assert not marker.exists(), "the crafted checkpoint ran code"
    _one_line_failure(code, err)
    assert "nothing in it was run" in err


def test_checkpoint_round_trip_and_corruption(tmp_path) -> None:
    path = tmp_path / "c.pt"
    state = {"w": torch.arange(6.0), "torch": str(torch.__version__), "nested": {"a": [1, 2.5, None, "x"]}}
    save_checkpoint(state, path)
    back = read_checkpoint(path)
    assert torch.equal(back["w"], state["w"]) and back["nested"] == state["nested"]
    assert not (tmp_path / "c.pt.tmp").exists()
    raw = bytearray(path.read_bytes())
    at = raw.find(torch.arange(6.0).numpy().tobytes())
    assert at > 0
    raw[at + 5] ^= 0x40  # flip one bit of the stored weights
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="checksum does not match"):
        read_checkpoint(path)
    path.write_bytes(bytes(raw[:200]))
    with pytest.raises(DataError, match="truncated or foreign"):
        read_checkpoint(path)
    torch.save({"format": "robnas-checkpoint/1", "model": {}}, path)  # an older robnas wrote it
    with pytest.raises(DataError, match="older robnas version or another program"):
        read_checkpoint(path)
    with pytest.raises(DataError, match="is a folder"):
        read_checkpoint(tmp_path)


def test_train_refuses_another_runs_folder_unless_forced(cli, tmp_path, shared_data) -> None:
    out = tmp_path / "run"
    base = ("--dataset", "digits", "--epochs", "1", "--out", str(out), "--root", str(shared_data), "--json")
    assert cli("train", "0", *base)[0] == 0
    code, _, err = cli("train", "1", *base)
    _one_line_failure(code, err)
    assert "belongs to another run" in err and "network" in err and "--force" in err
    code, out_text, _ = cli("train", "1", *base, "--force")
    assert code == 0 and '"completed": true' in out_text
    from robnas.spaces import Arch
    from robnas.training import load_checkpoint

    assert load_checkpoint(out)["network"]["arch"] == Arch.parse(1).string
    # the stored torch version is a plain string (no TorchVersion object to unpickle)
    assert type(load_checkpoint(out)["torch"]) is str


def test_weights_of_another_architecture_give_one_line(cli, tmp_path, shared_data) -> None:
    from robnas.models import build_network
    from robnas.training import model_from_checkpoint

    out = tmp_path / "run"
    assert cli("train", "0", "--dataset", "digits", "--epochs", "1", "--out", str(out),
               "--root", str(shared_data), "--json")[0] == 0  # fmt: skip
    ckpt = read_checkpoint(out / "checkpoint.pt")
    other = build_network("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
                          C=ckpt["network"]["C"], N=ckpt["network"]["N"], num_classes=10, in_channels=1)  # fmt: skip
    ckpt["network"]["arch"] = other.arch.string
    save_checkpoint(ckpt, out / "checkpoint.pt")
    with pytest.raises(DataError, match="do not fit this network"):
        model_from_checkpoint(out)
    code, _, err = cli("attack", str(out), "--attacks", "fgsm", "--n", "4", "--root", str(shared_data))
    _one_line_failure(code, err)
