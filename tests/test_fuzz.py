"""A corpus of bad inputs run through the command line in-process: every one must end with a
non-zero exit, one error line on standard error and no traceback.

Inputs are kept tiny (digits, one or two architectures, a handful of images), so that a case
that wrongly starts real work still ends quickly instead of hanging; the corpus itself never
relies on timeouts. Cases cover bad options (devices, seeds, sizes, ranges), bad YAML, corrupt
files, and destinations that are folders, missing directories, read-only (``/proc``) or full
(``/dev/full``).

What counts as "one error line": either exactly one non-empty line, or a usage error of the
option parser (its ``Usage:`` and ``Try ... --help`` lines followed by one ``Error:`` line).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

# case name -> (arguments, with {tmp} and {data} substituted; optional setup(tmp))
Setup = Callable[[Path], None]


def _yaml(text: str) -> Setup:
    def setup(tmp: Path) -> None:
        (tmp / "c.yaml").write_text(text)

    return setup


BUILD_OK = (
    "kind: synthetic\narchitectures: sample:2\ndataset: digits\nattacks: {pgd: [8]}\nsynthetic: {sleep: 0}\n"
)


def _file(name: str, data: bytes) -> Setup:
    def setup(tmp: Path) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(data)

    return setup


def _folder(name: str) -> Setup:
    def setup(tmp: Path) -> None:
        (tmp / name).mkdir(parents=True, exist_ok=True)

    return setup


def _foreign_sqlite(tmp: Path) -> None:
    conn = sqlite3.connect(tmp / "other.sqlite")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()


def _store(tmp: Path) -> None:
    from robnas.store import ResultStore

    ResultStore(tmp / "x.sqlite").close()


def _cut_checkpoint(tmp: Path) -> None:
    from robnas.training.checkpoint import save_checkpoint

    save_checkpoint({"format": "robnas-checkpoint/1", "w": torch.zeros(100)}, tmp / "ck.pt")
    raw = (tmp / "ck.pt").read_bytes()
    (tmp / "ck.pt").write_bytes(raw[: len(raw) // 2])


TRAIN = ("train", "0", "--dataset", "digits", "--epochs", "1", "--root", "{data}")
ATTACK = ("attack", "0", "--dataset", "digits", "--n", "4", "--attacks", "fgsm", "--C", "4", "--N", "1",
          "--root", "{data}")  # fmt: skip
DNAS = ("dnas", "search", "--dataset", "digits", "--epochs", "1", "--n-train", "32", "--batch", "8",
        "--root", "{data}", "--out", "{tmp}/d")  # fmt: skip
MEASURE = ("measure", "-m", "jacobian", "--archs", "0", "--dataset", "digits", "--batch", "8", "--C", "4",
           "--N", "1", "--root", "{data}")  # fmt: skip

CORPUS: dict[str, tuple[tuple[str, ...], Setup | None]] = {
    # devices
    "train-device-gpu": ((*TRAIN, "--device", "gpu"), None),
    "train-device-cuda-x": ((*TRAIN, "--device", "cuda:x"), None),
    "attack-device-cuda-99": ((*ATTACK, "--device", "cuda:99"), None),
    "dnas-device-bogus": ((*DNAS, "--device", "tpu"), None),
    "quickstart-device": (("quickstart", "--device", "gpu0", "-n", "2", "--out", "{tmp}/q"), None),
    # numbers and ranges
    "train-seed-huge": ((*TRAIN, "--seed", str(2**63)), None),
    "attack-seed-negative": ((*ATTACK, "--seed", "-1"), None),
    "attack-C-huge": (("attack", "0", "--dataset", "digits", "--n", "4", "--C", "100000000"), None),
    "dnas-C-huge": ((*DNAS, "--C", "10000000"), None),
    "measure-C-huge": (("measure", "-m", "jacobian", "--archs", "0", "--C", "10000000"), None),
    "measure-seed-huge": ((*MEASURE, "--seed", str(2**64)), None),
    "search-warm-k-negative": (
        ("search", "run", "-o", "cifar10/clean", "--warm-k", "-5", "--warm-start", "jung2023:cifar10/clean"),
        None,
    ),  # fmt: skip
    "search-budget-zero": (("search", "run", "-o", "cifar10/clean", "--budget", "0"), None),
    "compare-algos-empty": (("search", "compare", "-o", "cifar10/clean", "--algos", ""), None),
    "compare-tolerance-negative": (("search", "compare", "-o", "cifar10/clean", "--tolerance", "-1"), None),
    "search-inf-weight": (("search", "run", "-o", "inf*jung2023:cifar10/clean", "--budget", "5"), None),
    "attack-eps-out-of-range": ((*ATTACK, "--eps", "300"), None),
    "attack-n-negative": ((*ATTACK[:4], "--n", "-1"), None),
    # YAML configurations
    "yaml-syntax": (("build", "{tmp}/c.yaml"), _yaml("kind: [synthetic\n")),
    "yaml-not-mapping": (("build", "{tmp}/c.yaml"), _yaml("- 1\n- 2\n")),
    "yaml-eval-examples-negative": (
        ("build", "{tmp}/c.yaml"),
        _yaml("architectures: sample:2\ndataset: digits\neval: {examples: -1}\n"),
    ),
    "yaml-lr-negative": (
        ("build", "{tmp}/c.yaml"),
        _yaml("architectures: sample:2\ndataset: digits\ntraining: {preset: cpu-tiny, lr: -1}\n"),
    ),
    "yaml-lr-text": (
        ("build", "{tmp}/c.yaml"),
        _yaml("architectures: sample:2\ndataset: digits\ntraining: {preset: cpu-tiny, lr: fast}\n"),
    ),
    "yaml-seed-huge": (("build", "{tmp}/c.yaml"), _yaml(BUILD_OK + f"seeds: [{2**63}]\n")),
    "yaml-C-huge": (("build", "{tmp}/c.yaml"), _yaml(BUILD_OK + "model: {C: 100000000}\n")),
    "yaml-device": (("build", "{tmp}/c.yaml"), _yaml(BUILD_OK + "device: cuda:x\n")),
    "yaml-unknown-field": (("build", "{tmp}/c.yaml"), _yaml(BUILD_OK + "epohcs: 3\n")),
    "yaml-missing-data": (
        ("build", "{tmp}/c.yaml"),
        _yaml("architectures: sample:2\ndataset: cifar10\nroot: /nonexistent\n"),
    ),  # fmt: skip
    "yaml-config-is-folder": (("build", "{tmp}/cfgdir"), _folder("cfgdir")),
    "yaml-synthetic-log-outside": (
        ("build", "{tmp}/c.yaml"),
        _yaml(BUILD_OK + "synthetic: {log: /tmp/../etc/robnas.log}\n"),
    ),
    # destinations
    "build-out-folder": (
        ("build", "{tmp}/c.yaml", "--out", "{tmp}/adir"),
        lambda t: (_yaml(BUILD_OK)(t), _folder("adir")(t)),
    ),  # fmt: skip
    "build-out-not-a-directory": (("build", "{tmp}/c.yaml", "--out", "/dev/full/b.sqlite"), _yaml(BUILD_OK)),
    "build-out-read-only": (("build", "{tmp}/c.yaml", "--out", "/proc/robnas.sqlite"), _yaml(BUILD_OK)),
    "build-out-foreign-sqlite": (
        ("build", "{tmp}/c.yaml", "--out", "{tmp}/other.sqlite"),
        lambda t: (_yaml(BUILD_OK)(t), _foreign_sqlite(t)),
    ),  # fmt: skip
    "build-out-full": (("build", "{tmp}/c.yaml", "--out", "/dev/full"), _yaml(BUILD_OK)),
    "train-out-not-a-directory": ((*TRAIN, "--out", "/dev/full/run"), None),
    "train-out-read-only": ((*TRAIN, "--out", "/proc/robnas-run"), None),
    "measure-out-full": ((*MEASURE, "--out", "/dev/full"), None),
    "measure-out-folder": ((*MEASURE, "--out", "{tmp}"), None),
    "measure-out-read-only": ((*MEASURE, "--out", "/proc/m.csv"), None),
    "export-out-full": (("build", "export", "{tmp}/x.sqlite", "--out", "/dev/full"), lambda t: _store(t)),
    "export-out-read-only": (
        ("build", "export", "{tmp}/x.sqlite", "--out", "/proc/robnas-export"),
        lambda t: _store(t),
    ),  # fmt: skip
    "bench-plot-out-full": (
        ("bench", "plot", "jung2023:cifar10/clean", "-o", "/dev/full", "--root", "{data}"),
        None,
    ),
    "bench-plot-out-folder": (
        ("bench", "plot", "jung2023:cifar10/clean", "-o", "{tmp}", "--root", "{data}"),
        None,
    ),
    "bench-export-out-folder": (
        ("bench", "export", "jung2023", "-m", "cifar10/clean", "-o", "{tmp}", "--root", "{data}"),
        None,
    ),  # fmt: skip
    "bench-export-out-full": (
        ("bench", "export", "jung2023", "-m", "cifar10/clean", "-o", "/dev/full", "--root", "{data}"),
        None,
    ),  # fmt: skip
    "quickstart-out-not-a-directory": (("quickstart", "-n", "2", "--out", "/dev/full/q"), None),
    # corrupt files
    "attack-random-bytes": (("attack", "{tmp}/ck.pt"), _file("ck.pt", os.urandom(256))),
    "attack-empty-file": (("attack", "{tmp}/ck.pt"), _file("ck.pt", b"")),
    "attack-cut-checkpoint": (("attack", "{tmp}/ck.pt"), _cut_checkpoint),
    "attack-folder-without-checkpoint": (("attack", "{tmp}/empty"), _folder("empty")),
    "status-not-sqlite": (("build", "status", "{tmp}/x.sqlite"), _file("x.sqlite", b"not a database" * 40)),
    "status-missing": (("build", "status", "{tmp}/none.sqlite"), None),
    "status-folder": (("build", "status", "{tmp}"), None),
    "status-foreign-sqlite": (("build", "status", "{tmp}/other.sqlite"), _foreign_sqlite),
    "measure-garbage-csv": ((*MEASURE, "--out", "{tmp}/m.csv"), _file("m.csv", b"a,b\n\xff\xfe,2\n")),
    "correlate-missing": (("measure", "correlate", "{tmp}/none.csv"), None),
}


def _one_error_line(err: str) -> bool:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if len(lines) == 1:
        return True
    usage = [ln for ln in lines if not (ln.startswith("Usage:") or ln.startswith("Try "))]
    return len(usage) == 1 and usage[0].startswith("Error:")


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_input_gives_one_line(cli, tmp_path, shared_data, monkeypatch, case) -> None:
    args, setup = CORPUS[case]
    if setup is not None:
        setup(tmp_path)
    monkeypatch.chdir(tmp_path)  # anything written by mistake lands here
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{data}", str(shared_data)) for a in args]
    beside_dev_full = {"/dev/full-journal", "/dev/full-wal", "/dev/full.png", "/dev/full.tmp"}
    before = {p for p in beside_dev_full if os.path.exists(p)}
    code, _, err = cli(*argv)
    assert {p for p in beside_dev_full if os.path.exists(p)} == before, f"{case} wrote beside /dev/full"
    assert code != 0, f"{case}: exit 0"
    assert "Traceback" not in err, err
    assert _one_error_line(err), f"{case}: {err!r}"
