"""NATS-Bench read from its official archive layout, written here with nats_bench's own classes
(``ArchResults`` / ``ResultsCount`` state dicts in bz2 pickles, ``meta.pickle.pbz2`` + one file
per index), and the CSV fallback (issue 11: a CSV in fractions is not divided by 100 again)."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from nats_bench.api_utils import ArchResults, ResultsCount, pickle_save  # the dev extra has it

from robnas.benchmarks import get_source
from robnas.errors import DataError
from robnas.spaces.nb201 import NUM_ARCHS, Arch


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBNAS_CACHE", str(tmp_path_factory.mktemp("cache")))


def _result(name: str, seed: int, epochs: int, base: float, sets: list[str]) -> ResultsCount:
    r = ResultsCount(name, None, {e: base for e in range(epochs)}, {e: 1.0 for e in range(epochs)},
                     1.0, 10.0, {"arch_str": "x", "channel": 16, "num_cells": 5, "class_num": 10}, seed,
                     epochs, None)  # fmt: skip
    r.update_train_info({e: base for e in range(epochs)}, None, {e: 1.0 for e in range(epochs)},
                        {e: 2.0 for e in range(epochs)})  # fmt: skip
    accs, losses, times = {}, {}, {}
    for k, s in enumerate(sets):
        for e in range(epochs):
            accs[f"{s}@{e}"] = base + k  # valid = base, test = base + 1 (percent)
            losses[f"{s}@{e}"] = 1.0
            times[f"{s}@{e}"] = 0.5
    r.update_eval(accs, losses, times)
    return r


def _arch(index: int, hp: int) -> dict:
    res = ArchResults(index, Arch.from_index(index).string)
    base = 40.0 + index / 1000 + (hp == 200) * 30
    for seed, shift in ((777, 0.0), (888, 2.0)):
        res.update(
            "cifar10-valid", seed, _result("cifar10-valid", seed, hp, base + shift, ["x-valid", "ori-test"])
        )
        res.update("cifar10", seed, _result("cifar10", seed, hp, base + 5 + shift, ["ori-test"]))
        res.update("cifar100", seed, _result("cifar100", seed, hp, base - 20 + shift, ["x-valid", "x-test"]))
    return res.state_dict()


def write_archive(root: Path, indices=(0, 6111, NUM_ARCHS - 1)) -> Path:
    folder = root / "nats-bench" / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir(parents=True)
    pickle_save({"meta_archs": [Arch.from_index(i).string for i in range(NUM_ARCHS)]}, folder / "meta.pickle")
    for i in indices:
        pickle_save({"12": _arch(i, 12), "200": _arch(i, 200)}, folder / f"{i:06d}.pickle")
    return folder


def test_archive_values(tmp_path: Path, cli) -> None:
    write_archive(tmp_path)
    src = get_source("natsbench", tmp_path)
    assert "NATS-tss-v1_0-3ffb9-simple" in src.reading()
    names = {str(m) for m in src.metrics()}
    assert "cifar10/clean" not in names  # no name that hides which split it is on
    assert {"cifar10/valid-acc-12", "cifar10/test-acc-200", "cifar100/train-time-200"} <= names
    assert not any(n.startswith("imagenet16-120") for n in names)  # not in this archive
    v = src.query(6111)
    base12, base200 = 40.0 + 6.111, 70.0 + 6.111
    # means over the two seeds (shifts 0 and 2), percent -> fraction
    assert v["cifar10/valid-acc-12"] == pytest.approx((base12 + 1) / 100, abs=1e-6)
    assert v["cifar10/test-acc-12"] == pytest.approx((base12 + 5 + 1) / 100, abs=1e-6)  # cifar10 ori-test
    assert v["cifar100/valid-acc-200"] == pytest.approx((base200 - 20 + 1) / 100, abs=1e-6)
    assert v["cifar100/test-acc-200"] == pytest.approx((base200 - 20 + 1 + 1) / 100, abs=1e-6)
    assert v["cifar10/train-time-200"] == pytest.approx(2.0 * 200)
    assert np.isnan(src.query(5)["cifar10/valid-acc-12"])
    code, out, err = cli("bench", "convert", "natsbench", "--root", str(tmp_path))
    assert code == 0 and "NATS-tss-v1_0-3ffb9-simple" in out and ".npy" in out, err
    code, out, err = cli("bench", "top", "natsbench", "-m", "cifar10/valid-acc-200", "-k", "1", "--json",
                         "--root", str(tmp_path))  # fmt: skip
    assert code == 0 and json.loads(out)[0]["index"] == NUM_ARCHS - 1


def test_archive_refuses_code(tmp_path: Path) -> None:
    folder = write_archive(tmp_path, indices=(0,))

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    import bz2

    with bz2.open(folder / "000000.pickle.pbz2", "wb") as fh:
        pickle.dump({"12": Evil()}, fh)
    with pytest.raises(DataError, match="builtins.print"):
        get_source("natsbench", tmp_path).metrics()


@pytest.mark.parametrize("scale", [100.0, 1.0])
def test_csv_percent_or_fraction(tmp_path: Path, shared_data: Path, scale: float) -> None:
    """issue 11: a CSV in fractions was divided by 100 a second time."""
    folder = tmp_path / "nats-bench"
    folder.mkdir()
    with open(shared_data / "nats-bench" / "nats_bench.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    cols = [rows[0].index(c) for c in ("CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs",
                                       "ImageNetTestAccuracy200Epochs")]  # fmt: skip
    for r in rows[1:]:
        for c in cols:
            r[c] = repr(float(r[c]) / 100 * scale)
    with open(folder / "nats_bench.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    src = get_source("natsbench", tmp_path)
    assert "nats_bench.csv" in src.reading()
    want = float(rows[1 + 6111][cols[0]]) / scale
    assert src.query(6111, "cifar10/test-acc-200")["cifar10/test-acc-200"] == pytest.approx(want, abs=1e-6)
