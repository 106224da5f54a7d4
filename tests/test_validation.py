"""Values checked before work, measure tables that survive cuts, caches keyed by content."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from robnas.errors import ConfigError, DataError


def test_yaml_numbers_written_as_text_are_numbers(tmp_path) -> None:
    from robnas.runner import load_config
    from robnas.runner.train_attack import check

    # PyYAML reads 1e-3 and 5e-4 (no dot) as strings
    (tmp_path / "c.yaml").write_text(
        "architectures: sample:2\ndataset: digits\ntraining: {preset: cpu-tiny, lr: 1e-3, weight_decay: 5e-4}\n"
    )
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.training["lr"] == "1e-3"  # as YAML gives it
    check(cfg)  # accepted
    from robnas.training import get_preset

    p = get_preset("cpu-tiny").replace(lr="1e-3", weight_decay="5e-4", epochs="2")
    assert (p.lr, p.weight_decay, p.epochs) == (0.001, 0.0005, 2)
    for bad, needle in [({"lr": -1}, "lr must be above 0"), ({"lr": "fast"}, "lr must be a number"),
                        ({"C": 10**8}, "C must lie between"), ({"momentum": float("nan")}, "momentum"),
                        ({"epochs": 2.5}, "whole number"), ({"augment": "yes"}, "true or false")]:  # fmt: skip
        with pytest.raises(ConfigError, match=needle):
            get_preset("cpu-tiny").replace(**bad)


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"eval": {"examples": -1}}, "eval: examples must be a positive"),
        ({"eval": {"batch_size": 0}}, "eval: batch_size"),
        ({"training": {"preset": "cpu-tiny", "weight_decay": -1}}, "weight_decay"),
        ({"seeds": [2**63]}, "at most"),
        ({"model": {"C": 10**8}}, "model.C"),
        ({"device": "cuda:x"}, "unknown device"),
    ],
)
def test_build_config_values_checked_before_jobs(over, needle) -> None:
    from robnas.runner import load_config
    from robnas.runner.jobs import check_kind

    with pytest.raises(ConfigError, match=needle):
        cfg = load_config({"architectures": "sample:2", "dataset": "digits", **over})
        check_kind(cfg.kind, cfg)


def test_missing_data_file_named_before_any_job(tmp_path) -> None:
    from robnas.runner import build

    cfg = {"architectures": "sample:2", "dataset": "cifar10", "root": str(tmp_path / "nowhere"),
           "output": str(tmp_path / "b.sqlite")}  # fmt: skip
    with pytest.raises(DataError, match=r"cifar10 file not found: .*nowhere/cifar10/.*data_batch_1"):
        build(cfg, progress=False)
    assert not (tmp_path / "b.sqlite").exists()


def test_check_device_and_seed() -> None:
    from robnas.checks import check_device, check_seed

    assert check_device("CPU") == "cpu"
    assert check_device("auto") in ("cpu", "cuda")
    for bad in ("gpu", "cuda:x", "cuda:-1", "", "cpu:0"):
        if bad == "":
            continue
        with pytest.raises(ConfigError, match="--device"):
            check_device(bad)
    with pytest.raises(ConfigError):
        check_device("cuda:99")  # no machine has 100 GPUs; without CUDA: "sees no CUDA device"
    assert check_seed(2**32 - 1) == 2**32 - 1
    for bad in (-1, 2**32, 2**63, True):
        with pytest.raises(ConfigError, match="--seed"):
            check_seed(bad)


def test_nan_pixels_refused(tmp_path) -> None:
    from robnas.data.imagefolder import read_image

    img = np.full((4, 4), 0.5, dtype=np.float32)
    np.save(tmp_path / "ok.npy", img)
    assert read_image(tmp_path / "ok.npy").max() == 128
    img[1, 1] = np.nan
    np.save(tmp_path / "nan.npy", img)
    with pytest.raises(DataError, match="NaN"):
        read_image(tmp_path / "nan.npy")


def test_nan_weights_refused(tmp_path) -> None:
    import torch

    from robnas.training.loop import load_weights

    net = torch.nn.Linear(2, 2)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["weight"][0, 0] = float("nan")
    with pytest.raises(DataError, match="NaN or infinite"):
        load_weights(net, state, "ck.pt")


# ---------------------------------------------------------------------- measure tables
def _job(**over):
    from robnas.measures.study import MeasureJob

    d = {"measures": ["params"], "dataset": "digits", "batch": 8, "seed": 0, "C": 4, "N": 1, "root": None}
    d.update(over)
    return MeasureJob(**d)


def test_measure_table_cut_row_is_dropped_and_settings_keyed(tmp_path, shared_data, monkeypatch) -> None:
    from robnas.measures.study import done_indices, run_measures

    monkeypatch.setenv("ROBNAS_DATA", str(shared_data))
    out = tmp_path / "m.csv"
    assert run_measures([5, 17], _job(), out) == 2
    text = out.read_bytes()
    out.write_bytes(text[:-7])  # the last row is cut (a kill or a full disk)
    assert done_indices(out, _job()) == {5}
    assert out.read_bytes() == text[: text.rfind(b"\n", 0, len(text) - 1) + 1]
    assert run_measures([5, 17], _job(), out) == 1  # 17 again, on a line of its own
    assert [ln.split(",")[0] for ln in out.read_text().splitlines()[1:]] == ["5", "17"]
    for other in ({"C": 8}, {"seed": 1}, {"batch": 16}, {"N": 2}):
        with pytest.raises(ConfigError, match="other settings"):
            run_measures([5], _job(**other), out)


def test_measure_output_must_be_a_writable_file(tmp_path) -> None:
    from robnas.measures.study import prepare_output

    with pytest.raises(ConfigError, match="not a regular file"):
        prepare_output("/dev/full")
    with pytest.raises(ConfigError, match="not a regular file"):
        prepare_output(tmp_path)
    with pytest.raises(DataError, match="cannot write"):
        prepare_output("/proc/robnas-m.csv")


# ---------------------------------------------------------------------- benchmark cache
def test_cache_sees_a_file_replaced_with_same_size_and_mtime(tmp_path, shared_data, monkeypatch) -> None:
    from robnas.benchmarks import get_source

    monkeypatch.setenv("ROBNAS_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "nas-robbench-201"
    folder.mkdir()
    target = folder / "NAS-RobBench-201_html.json"
    shutil.copy(shared_data / "nas-robbench-201" / "NAS-RobBench-201_html.json", target)
    st = target.stat()
    first = get_source("nasrobbench201", tmp_path)
    before = first.cache_paths()[0]
    first.metrics()
    raw = bytearray(target.read_bytes())
    i = raw.index(b"0.", 100)
    raw[i + 2] = ord("1") if raw[i + 2] != ord("1") else ord("2")  # same size
    target.write_bytes(bytes(raw))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same modification time
    assert target.stat().st_size == st.st_size and target.stat().st_mtime_ns == st.st_mtime_ns
    assert get_source("nasrobbench201", tmp_path).cache_paths()[0] != before


def test_export_json_has_no_nan_or_infinity(tmp_path) -> None:
    import json

    from robnas.store.export import _atomic_json

    _atomic_json(tmp_path / "a.json", {"x": [1.0, float("inf"), float("nan")], "y": {"z": float("-inf")}})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": [1.0, None, None], "y": {"z": None}}


def test_wrong_root_is_named_at_once_by_the_quickstart(cli, tmp_path) -> None:
    code, _, err = cli("quickstart", "--dataset", "cifar10", "--root", str(tmp_path / "nowhere"), "-n", "2",
                       "--out", str(tmp_path / "q"))  # fmt: skip
    assert code != 0 and "Traceback" not in err
    assert "cifar10 file not found" in err and "nowhere" in err


def test_search_optimum_is_a_reachable_uid() -> None:
    from robnas.search.oracle import Oracle
    from robnas.spaces.nb201 import NUM_ARCHS, uid_of

    values = np.linspace(0.0, 0.5, NUM_ARCHS)  # per-index values, as zero-cost proxies give
    top = NUM_ARCHS - 2
    values[top] = 1.0
    assert uid_of(top) != top  # the global maximum sits on an index no query reads
    best, uid = Oracle(values, budget=5).optimum()
    assert uid == NUM_ARCHS - 1 == uid_of(uid) and best == values[uid] < values[top]
