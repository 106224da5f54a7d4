"""robnas.benchmarks: metric names, sources read against the released files, cache, CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from robnas.benchmarks import Metric, UnknownMetricError, frame, get_source, parse_metric
from robnas.errors import DataError
from robnas.spaces.nb201 import NUM_ARCHS, Arch, uid_of


@pytest.fixture(scope="session")
def cache_env(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("robnas-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ROBNAS_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def jung(shared_data: Path, cache_env: Path):
    src = get_source("jung2023", shared_data)
    src.load()
    return src


@pytest.fixture(scope="session")
def robbench(shared_data: Path, cache_env: Path):
    return get_source("nasrobbench201", shared_data)


@pytest.fixture(scope="session")
def nats(shared_data: Path, cache_env: Path):
    return get_source("natsbench", shared_data)


def _js(path: Path) -> dict:
    text = path.read_text()
    return json.loads(text[text.index("{") :].rstrip().rstrip(";"))


# ---------------------------------------------------------------------- metric names
@pytest.mark.parametrize(
    "text",
    [
        "cifar10/clean",
        "cifar10/pgd@8",
        "cifar10/pgd@0.1",
        "cifar10/fgsm@255",
        "cifar10/fog#3",
        "cifar100/autoattack@8",
        "imagenet16-120/square@1",
        "cifar10/corruption-mean",
        "cifar10/adversarial-mean",
        "cifar10/pgd-l2@0.5",
        "cifar10/pgd@8/confidence",
    ],
)
def test_metric_round_trip(text: str) -> None:
    m = parse_metric(text)
    assert str(m) == text
    assert parse_metric(str(m)) == m


def test_metric_fields_and_aliases() -> None:
    m = parse_metric("CIFAR-10/pgd@8.0")
    assert (m.dataset, m.kind, m.name, m.epsilon, m.norm) == ("cifar10", "attack", "pgd", 8.0, "linf")
    assert str(m) == "cifar10/pgd@8"
    assert str(parse_metric("ImageNet16-120/clean")) == "imagenet16-120/clean"
    f = parse_metric("cifar10/fog#3")
    assert (f.kind, f.name, f.severity) == ("corruption", "fog", 3)
    assert Metric.attack("cifar10", "pgd", 0.1) == parse_metric("cifar10/pgd@0.1")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("cifar10/pgdd@8", "did you mean pgd"),
        ("cifar10/fgo#3", "did you mean fog"),
        ("cifar10/pgd", "needs an epsilon"),
        ("cifar10/fog", "needs a severity"),
        ("cifar10/fog#9", "severity must be 1..5"),
        ("CIFAR 10/clean", "malformed dataset name"),
        ("cifar10/cleen", "malformed metric"),
        ("pgd@8", "expected DATASET/NAME"),
        ("cifar10/pgd@-1", "positive epsilon"),
    ],
)
def test_metric_errors(text: str, needle: str) -> None:
    with pytest.raises(UnknownMetricError, match=needle):
        parse_metric(text)


# ---------------------------------------------------------------------- jung2023 vs files
def test_jung_values_equal_release(jung, shared_data: Path) -> None:
    folder = shared_data / "robustness-dataset"
    meta = json.loads((folder / "meta.json").read_text())
    pgd = json.loads((folder / "cifar10" / "pgd@Linf_accuracy.json").read_text())["cifar10"]["pgd@Linf"][
        "accuracy"
    ]
    clean = json.loads((folder / "cifar100" / "clean_accuracy.json").read_text())["cifar100"]["clean"][
        "accuracy"
    ]
    fog = json.loads((folder / "cifar10" / "fog_accuracy.json").read_text())["cifar10"]["fog"]["accuracy"]
    eps = meta["epsilons"]["pgd@Linf"]
    for index in (0, 1, 25, 777, 15624):
        uid = meta["ids"][str(index)]["isomorph"]
        got = jung.query(index, ["cifar10/pgd@8", "cifar100/clean", "cifar10/fog#3", "cifar10/pgd@0.1"])
        assert got["cifar10/pgd@8"] == pytest.approx(pgd[uid][eps.index(8.0)], abs=1e-7)
        assert got["cifar10/pgd@0.1"] == pytest.approx(pgd[uid][eps.index(0.1)], abs=1e-7)
        assert got["cifar100/clean"] == pytest.approx(clean[uid], abs=1e-7)
        assert got["cifar10/fog#3"] == pytest.approx(fog[uid][2], abs=1e-7)
    # by string, by Arch, by index: the same architecture
    s = meta["ids"]["777"]["nb201-string"]
    assert jung.query(s, ["cifar10/clean"]) == jung.query(Arch.from_string(s), ["cifar10/clean"])


def test_jung_isomorphs_share_and_complete(jung) -> None:
    table = jung.load()
    uids = np.array([uid_of(i) for i in range(NUM_ARCHS)])
    assert np.array_equal(jung.uids(), uids)
    assert np.array_equal(table.matrix, table.matrix[:, uids])
    ours = {str(m) for m in jung.metrics()}
    assert len([m for m in ours if m.startswith("cifar10/")]) == 1 + 11 + 7 * 3 + 75 + 2
    assert {"imagenet16-120/clean", "imagenet16-120/pgd@1", "cifar100/corruption-mean"} <= ours
    assert not np.isnan(table.matrix).any()
    assert len(jung.unique_indices()) == 6466


def test_jung_summary_agrees_with_files(jung, shared_data: Path) -> None:
    acc = _js(shared_data / "robustness-dataset" / "summary_eps1_acc.js")
    cols = acc[""]
    reps = jung.unique_indices()
    summary = np.array([acc[str(u)] for u in reps])
    for col, metric in [
        ("cifar10#pgd", "cifar10/pgd@1"),
        ("cifar100#aa_square", "cifar100/square@1"),
        ("cifar10#corr", "cifar10/corruption-mean"),
        ("ImageNet16-120#fgsm", "imagenet16-120/fgsm@1"),
    ]:
        ours = jung.values(metric)[reps]
        assert np.abs(ours - summary[:, cols.index(col)]).max() <= 5e-4 + 1e-6, metric


def test_jung_adversarial_mean(jung) -> None:
    from robnas.analysis.robustness import mean_adversarial_accuracy

    mean, metrics = mean_adversarial_accuracy(jung, "cifar10")
    assert len(metrics) == 31 and "cifar10/fgsm@255" not in {str(m) for m in metrics}
    np.testing.assert_allclose(jung.values("cifar10/adversarial-mean"), mean, atol=1e-6)


def test_values_fast_path_and_top(jung) -> None:
    v = jung.values("cifar10/pgd@8")
    assert v.shape == (NUM_ARCHS,) and v.dtype == np.float32 and not v.flags.writeable
    top = jung.top("cifar10/clean", k=5)
    assert list(top["rank"]) == [1, 2, 3, 4, 5]
    assert top["cifar10/clean"].is_monotonic_decreasing
    assert top["cifar10/clean"].iloc[0] == pytest.approx(np.nanmax(jung.values("cifar10/clean")))
    df = jung.frame(["cifar10/clean", "cifar10/pgd@8"], arch_columns=True)
    assert df.shape == (6466, 4) and df.index.name == "index"
    assert df.loc[1, "arch"] == Arch.from_index(1).string


def test_unknown_metric_lists_close_matches(jung, robbench) -> None:
    with pytest.raises(UnknownMetricError, match=r"close matches: .*cifar10/pgd@8"):
        jung.values("cifar10/pgd@9")
    with pytest.raises(UnknownMetricError, match="nasrobbench201 has no metric cifar10/fog#3"):
        robbench.values("cifar10/fog#3")
    # any well-formed dataset or measure name parses (the project's own builds use them), but a
    # source that lacks it says so and names what it has
    with pytest.raises(UnknownMetricError, match=r"jung2023 has no metric cifar11/clean.*cifar10/clean"):
        jung.values("cifar11/clean")
    with pytest.raises(UnknownMetricError, match="jung2023 has no metric cifar10/synflow"):
        jung.values("cifar10/synflow")


def test_other_metrics_parse() -> None:
    m = parse_metric("digits/synflow")
    assert (m.dataset, m.kind, m.name, str(m)) == ("digits", "other", "synflow", "digits/synflow")
    assert str(parse_metric("digits/ensemble@8")) == "digits/ensemble@8"


# ---------------------------------------------------------------------- other sources
def test_nasrobbench_values_equal_release(robbench, shared_data: Path) -> None:
    acc = _js(shared_data / "nas-robbench-201" / "NAS-RobBench-201_html.json")
    cols = acc[""]
    assert acc["25"] == "3"  # index 25 is in the class of uid 3
    got = robbench.query(25, ["cifar10/pgd@8", "cifar100/autoattack@8", "imagenet16-120/clean"])
    assert got["cifar10/pgd@8"] == pytest.approx(acc["3"][cols.index("cifar10#val_pgd_8_acc")], abs=1e-6)
    assert got["cifar100/autoattack@8"] == pytest.approx(
        acc["3"][cols.index("cifar100#autoattack")], abs=1e-6
    )
    assert got["imagenet16-120/clean"] == pytest.approx(acc["3"][cols.index("imagenet#val_acc")], abs=1e-6)
    m = robbench.load().matrix
    assert np.array_equal(m, m[:, robbench.uids()])
    assert robbench.info.regime == "adversarial"


def test_natsbench_row_i_is_index_i(nats, shared_data: Path) -> None:
    import csv

    with open(shared_data / "nats-bench" / "nats_bench.csv") as fh:
        rows = list(csv.reader(fh))
    for i in (0, 1, 9000, 15624):
        row = rows[1 + i]
        assert row[3] == Arch.from_index(i).string
        got = nats.query(i, ["cifar10/test-acc-200", "imagenet16-120/test-acc-200"])
        assert got["cifar10/test-acc-200"] == pytest.approx(float(row[0]) / 100, abs=1e-6)
        assert got["imagenet16-120/test-acc-200"] == pytest.approx(float(row[2]) / 100, abs=1e-6)
    assert nats.info.regime == "standard" and not nats.info.shares_isomorphs


def test_cross_source_frame_keeps_source_in_name(shared_data: Path, cache_env: Path) -> None:
    df = frame(["jung2023:cifar10/pgd@8", "nasrobbench201:cifar10/pgd@8"], root=shared_data)
    assert list(df.columns) == ["jung2023:cifar10/pgd@8", "nasrobbench201:cifar10/pgd@8"]
    assert len(df) == 6466
    assert not np.allclose(df.iloc[:, 0], df.iloc[:, 1])


# ---------------------------------------------------------------------- files, cache, errors
def test_missing_files_name_file_and_address(tmp_path: Path, cache_env: Path) -> None:
    with pytest.raises(DataError, match=r"meta\.json not found.*http://data\.robustness\.vision/"):
        get_source("jung2023", tmp_path).values("cifar10/clean")
    with pytest.raises(
        DataError, match=r"NAS-RobBench-201_html\.json not found.*tt2408\.github\.io/nasrobbench201hp"
    ):
        get_source("nasrobbench201", tmp_path).metrics()
    with pytest.raises(DataError, match=r"nats_bench\.csv not found.*github\.com/D-X-Y/NATS-Bench"):
        get_source("natsbench", tmp_path).metrics()


def test_cache_is_invalidated_when_a_file_changes(tmp_path: Path, shared_data: Path, cache_env: Path) -> None:
    folder = tmp_path / "nas-robbench-201"
    folder.mkdir()
    target = folder / "NAS-RobBench-201_html.json"
    shutil.copy(shared_data / "nas-robbench-201" / "NAS-RobBench-201_html.json", target)
    target.chmod(0o644)
    before = get_source("nasrobbench201", tmp_path).query(3, ["cifar10/clean"])["cifar10/clean"]
    npy, _ = get_source("nasrobbench201", tmp_path).cache_paths()
    assert npy.is_file()
    acc = _js(target)
    acc["3"][0] = 0.5
    target.write_text("acc=" + json.dumps(acc))
    os.utime(target, ns=(1, 10**18))
    fresh = get_source("nasrobbench201", tmp_path)
    assert fresh.cache_paths()[0] != npy
    assert fresh.query(25, ["cifar10/clean"])["cifar10/clean"] == 0.5 != before
    assert not npy.exists()  # the stale cache was replaced


def test_truncated_files_give_data_error(tmp_path: Path, shared_data: Path, cache_env: Path) -> None:
    src_folder = shared_data / "robustness-dataset"
    folder = tmp_path / "robustness-dataset"
    for path in src_folder.rglob("*"):
        if path.is_file():
            dest = folder / path.relative_to(src_folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(path)
    bad = folder / "cifar100" / "pgd@Linf_accuracy.json"
    bad.unlink()
    data = (src_folder / "cifar100" / "pgd@Linf_accuracy.json").read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cifar100/pgd@Linf_accuracy\.json is corrupt or truncated"):
        get_source("jung2023", tmp_path).metrics()

    rb = tmp_path / "nas-robbench-201"
    rb.mkdir()
    text = (shared_data / "nas-robbench-201" / "NAS-RobBench-201_html.json").read_text()
    (rb / "NAS-RobBench-201_html.json").write_text(text[:-1000])
    with pytest.raises(DataError, match="corrupt or truncated"):
        get_source("nasrobbench201", tmp_path).metrics()

    nb = tmp_path / "nats-bench"
    nb.mkdir()
    lines = (shared_data / "nats-bench" / "nats_bench.csv").read_text().splitlines()
    (nb / "nats_bench.csv").write_text("\n".join(lines[:-10]) + "\n")
    with pytest.raises(DataError, match="rows, expected 15625"):
        get_source("natsbench", tmp_path).metrics()

    zc = tmp_path / "zero-cost"
    zc.mkdir()
    data = (shared_data / "zero-cost" / "zc_nasbench201.json").read_bytes()
    (zc / "zc_nasbench201.json").write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match=r"zc_nasbench201\.json is corrupt or truncated"):
        get_source("zerocost", tmp_path).metrics()


def test_percent_values_refused(tmp_path: Path, shared_data: Path, cache_env: Path) -> None:
    rb = tmp_path / "nas-robbench-201"
    rb.mkdir()
    acc = _js(shared_data / "nas-robbench-201" / "NAS-RobBench-201_html.json")
    acc["0"] = [v * 100 for v in acc["0"]]
    (rb / "NAS-RobBench-201_html.json").write_text("acc=" + json.dumps(acc))
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        get_source("nasrobbench201", tmp_path).metrics()


def test_unknown_source() -> None:
    from robnas.benchmarks import UnknownSourceError

    with pytest.raises(UnknownSourceError, match="did you mean jung2023"):
        get_source("jung")
