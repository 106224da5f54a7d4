"""Values checked before work, measure studies that resume and keep settings apart, caches keyed by content."""

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
def _study(tmp_path, **over):
    config = {
        "kind": "measure",
        "architectures": [5, 17],
        "dataset": "digits",
        "model": {"C": 4, "N": 1},
        "seeds": [0],
        "measures": ["params"],
        "eval": {"measure_batch": 8},
        "output": str(tmp_path / "m.sqlite"),
    }
    config.update(over)
    return config


def test_measure_study_resumes_and_keys_rows_by_settings(tmp_path, shared_data, monkeypatch) -> None:
    from robnas.measures.study import export_csv, study_rows
    from robnas.runner import build

    monkeypatch.setenv("ROBNAS_DATA", str(shared_data))
    first = build(_study(tmp_path, architectures=[5]), workers=1, progress=False)  # cut short after 5
    assert (first.done, first.failed) == (1, 0)
    report = build(_study(tmp_path), workers=1, progress=False)  # the study resumes: 17 only
    assert (report.skipped, report.done, report.failed) == (1, 1, 0)
    out = tmp_path / "m.csv"
    assert export_csv(tmp_path / "m.sqlite", _study(tmp_path), out) == 2
    lines = out.read_text().splitlines()
    assert lines[0].split(",")[:4] == ["index", "uid", "arch", "params"]
    assert [ln.split(",")[0] for ln in lines[1:]] == ["5", "17"]
    # rows of other settings are other jobs: none of these rows belongs to them
    for other in (
        {"model": {"C": 8, "N": 1}},
        {"seeds": [1]},
        {"eval": {"measure_batch": 16}},
        {"model": {"C": 4, "N": 2}},
        {"measures": ["params", "flops"]},
    ):
        assert study_rows(tmp_path / "m.sqlite", _study(tmp_path, **other))[1] == []


def test_measure_output_must_be_a_writable_file(tmp_path) -> None:
    from robnas.measures.study import check_export

    store = tmp_path / "m.sqlite"
    with pytest.raises(ConfigError, match="not a regular file"):
        check_export("/dev/full", store)
    with pytest.raises(ConfigError, match="not a regular file"):
        check_export(tmp_path, store)
    with pytest.raises(DataError, match="cannot write"):
        check_export("/proc/robnas-m.csv", store)
    with pytest.raises(ConfigError, match="is the CSV export"):
        check_export(tmp_path / "m.db", store)
    other = tmp_path / "data.csv"
    other.write_text("x,y\n1,2\n")
    with pytest.raises(ConfigError, match="not a measure table"):
        check_export(other, store)  # not replaced by an export
    old = tmp_path / "old.csv"
    old.write_text("index,uid,arch,params\n5,5,a,0.1\n")
    with pytest.raises(ConfigError, match="in no store"):
        check_export(old, store)  # a table of an older robnas: its rows are nowhere else
    store.write_bytes(b"")
    assert check_export(old, store) == old
    assert check_export(tmp_path / "new" / "m.csv", store) == tmp_path / "new" / "m.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "m.sqlite", "new", "old.csv"]


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
