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


# ---------------------------------------------------------------------- builds and the store
def _synthetic_yaml(folder: Path, **over) -> Path:
    import yaml

    cfg = {"kind": "synthetic", "architectures": "sample:4", "dataset": "digits", "seeds": [0],
           "attacks": {"pgd": [8]}, "output": "b.sqlite", "retries": 0, "synthetic": {"sleep": 0.0}}  # fmt: skip
    cfg.update(over)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "build.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_foreign_sqlite_refused_before_wal(cli, tmp_path) -> None:
    import sqlite3

    foreign = tmp_path / "other.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    assert before[18:20] == b"\x01\x01"  # rollback journal, not WAL
    code, _, err = cli("build", str(_synthetic_yaml(tmp_path / "cfg")), "--out", str(foreign), "-q")
    _one_line_failure(code, err)
    assert "another application" in err
    assert foreign.read_bytes() == before  # not switched to WAL, not touched at all


def test_markup_in_paths_and_messages_is_printed_as_text(cli, tmp_path) -> None:
    from robnas.runner import load_config

    folder = tmp_path / "odd[/b][red]"
    uids = load_config({"kind": "synthetic", "architectures": "sample:4"}).arch_uids()
    cfg = _synthetic_yaml(folder, synthetic={"sleep": 0.0, "fail": [uids[0]]}, output="x[/b].sqlite")
    code, out, err = cli("build", str(cfg))  # with the progress bar, whose title is the file's stem
    assert code == 1 and "Traceback" not in err
    assert "odd[/b][red]" in out.replace("\n", "")
    code, out, err = cli("build", "status", str(folder / "x[/b].sqlite"))
    assert code == 0 and "odd[/b][red]" in out.replace("\n", "") and "synthetic failure" in out


def test_rerun_says_how_to_retry_failed_jobs(cli, tmp_path) -> None:
    from robnas.runner import load_config

    uids = load_config({"kind": "synthetic", "architectures": "sample:4"}).arch_uids()
    cfg = _synthetic_yaml(tmp_path, synthetic={"sleep": 0.0, "fail": [uids[1]]})
    assert cli("build", str(cfg), "-q")[0] == 1
    code, out, err = cli("build", str(cfg), "-q")
    out = " ".join(out.split())  # rich wraps long lines
    assert code == 1
    assert "3 already in the store" in out and "1 failed in earlier runs" in out
    assert "--retry-failed" in err and len(err.strip().splitlines()) == 1
    code, out, _ = cli("build", str(cfg), "-q", "--retry-failed")
    assert code == 1 and "0 done, 1 failed" in " ".join(out.split())


def test_synthetic_log_stays_inside_the_build_folder(cli, tmp_path) -> None:
    outside = tmp_path / "home" / ".bashrc"
    outside.parent.mkdir()
    outside.write_text("original\n")
    for log in (str(outside), "../home/.bashrc"):
        cfg = _synthetic_yaml(tmp_path / "b", synthetic={"sleep": 0.0, "log": log})
        code, _, err = cli("build", str(cfg), "-q")
        _one_line_failure(code, err)
        assert "outside the build folder" in err
    (tmp_path / "b" / "link.log").symlink_to(outside)
    cfg = _synthetic_yaml(tmp_path / "b", synthetic={"sleep": 0.0, "log": "link.log"})
    _one_line_failure(*cli("build", str(cfg), "-q")[::2])
    assert outside.read_text() == "original\n"
    cfg = _synthetic_yaml(tmp_path / "b", synthetic={"sleep": 0.0, "log": "runs.log"})
    assert cli("build", str(cfg), "-q")[0] == 0
    assert len((tmp_path / "b" / "runs.log").read_text().splitlines()) == 4


def test_second_concurrent_build_of_one_database_is_refused(tmp_path) -> None:
    from robnas.runner import build, load_config
    from robnas.runner.build import _BuildLock

    cfg = load_config(_synthetic_yaml(tmp_path))
    held = _BuildLock(Path(cfg.output))  # a build in progress holds this lock
    try:
        with pytest.raises(DataError, match="another build is writing"):
            build(cfg, progress=False)
    finally:
        held.release()
    assert build(cfg, progress=False).done == 4  # the lock dies with its holder


def test_export_never_overwrites_without_force(cli, tmp_path) -> None:
    cfg = _synthetic_yaml(tmp_path)
    assert cli("build", str(cfg), "-q")[0] == 0
    out = tmp_path / "release"
    db = str(tmp_path / "b.sqlite")
    assert cli("build", "export", db, "--out", str(out))[0] == 0
    marker = out / "meta.json"
    marker.write_text("{}")
    code, _, err = cli("build", "export", db, "--out", str(out))
    _one_line_failure(code, err)
    assert "--force" in err and marker.read_text() == "{}"
    assert cli("build", "export", db, "--out", str(out), "--force")[0] == 0
    assert marker.read_text() != "{}"
    import json

    def refuse(constant: str) -> None:
        pytest.fail(f"the export holds {constant}")

    for f in out.rglob("*.json"):  # strict JSON: no NaN / Infinity
        json.loads(f.read_text(), parse_constant=refuse)


def test_read_only_wal_store_is_readable(tmp_path, monkeypatch) -> None:
    """A store in a folder nobody may write (no ``-shm`` file can be made) still opens for
    reading: SQLite's plain read-only open fails there, and robnas falls back to ``immutable``.
    The failing open is simulated (as root, a read-only folder does not stop SQLite)."""
    import sqlite3

    from robnas.store import ResultStore
    from robnas.store.db import StoreError

    db = tmp_path / "x.sqlite"
    ResultStore(db).close()
    real = sqlite3.connect

    class NoShm:
        def __init__(self, conn) -> None:
            self.conn = conn

        def execute(self, *args):
            raise sqlite3.OperationalError("unable to open database file")

        def close(self) -> None:
            self.conn.close()

    def connect(target, *args, **kwargs):
        conn = real(target, *args, **kwargs)
        return NoShm(conn) if "mode=ro" in str(target) else conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    with ResultStore(db, readonly=True) as store:
        assert store.counts() == {"done": 0, "failed": 0, "results": 0}
    (tmp_path / "x.sqlite-wal").write_bytes(b"x" * 100)  # unfinished writes: cannot be ignored
    with pytest.raises(StoreError, match="unfinished writes"):
        ResultStore(db, readonly=True)
