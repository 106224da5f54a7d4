"""The store as a benchmark: the regime comes from the training objective, protocols never mix,
timings are job metadata (issue 14, item 2)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from robnas.analysis.report import summarise_protocols, summarise_store
from robnas.benchmarks import get_source
from robnas.errors import ConfigError
from robnas.runner.config import BuildConfig
from robnas.store import ResultRow, ResultStore, StoreSource
from robnas.store.source import regime_of_config


def _rows(uid: int, values: dict[str, float], protocol: str, seed: int = 0) -> list[ResultRow]:
    t = time.time()
    return [
        ResultRow(uid=uid, dataset="digits", protocol=protocol, seed=seed, metric=m, value=v,
                  config_hash="c-" + protocol, robnas_version="0", torch_version="2.x", device="cpu",
                  host="h", started=t - 1, finished=t)
        for m, v in values.items()
    ]  # fmt: skip


def _config(training: dict | str, epochs: int | None = None) -> BuildConfig:
    tr = {"preset": training} if isinstance(training, str) else dict(training)
    if epochs is not None:
        tr["epochs"] = epochs
    return BuildConfig.from_dict({"architectures": [0, 1], "dataset": "digits", "training": tr})


def _write(db: Path, cfg: BuildConfig, offset: float) -> str:
    store = ResultStore(db)
    store.write_config(cfg.config_hash, cfg.protocol_hash, cfg.to_dict())
    p = cfg.protocol_hash
    store.write_results(f"{p}-0", _rows(0, {"digits/clean": 0.8 + offset, "digits/pgd@8": 0.2 + offset,
                                            "digits/train-seconds": 12.5}, p))  # fmt: skip
    store.write_results(f"{p}-1", _rows(1, {"digits/clean": 0.6 + offset, "digits/pgd@8": 0.4 + offset,
                                            "digits/train-seconds": 9.0}, p))  # fmt: skip
    store.close()
    time.sleep(0.01)  # distinct creation times for "latest" (ordering, not synchronisation)
    return p


@pytest.mark.parametrize(
    ("training", "regime"),
    [
        ("cpu-tiny", "standard"),
        ("cpu-tiny-at", "adversarial"),
        ("nasrobbench201", "adversarial"),
        ("fast-at", "adversarial"),
        ("trades", "adversarial"),
        ({"preset": "cpu-tiny", "objective": "mixed", "beta": 0.5}, "mixed"),
        ({"preset": "cpu-tiny", "objective": "mixed", "beta": 1.0}, "adversarial"),
        ({"preset": "cpu-tiny-at", "objective": "standard"}, "standard"),
    ],
)
def test_regime_from_objective(training, regime) -> None:
    assert regime_of_config(_config(training).to_dict()) == regime


def test_pgd_at_build_is_adversarial_everywhere(tmp_path: Path, cli) -> None:
    db = tmp_path / "b.sqlite"
    p = _write(db, _config("cpu-tiny-at"), 0.0)
    src = get_source("store", db)
    assert src.info.regime == "adversarial" and "robnas" not in src.info.url
    for args in (
        ("info", "store"),
        ("query", "store", "0"),
        ("top", "store", "-m", "digits/pgd@8"),
        ("list",),
    ):
        code, out, err = cli("bench", *args, "--root", str(db))
        assert code == 0, err
        assert "adversarial" in out, args
        assert "standard" not in out.split("jung2023")[0] or args == ("list",), args
    code, out, _ = cli("bench", "info", "store", "--root", str(db), "--json")
    info = json.loads(out)
    assert info["training_regime"] == "adversarial" and info["protocols"][0]["protocol"] == p
    assert info["url"].startswith("none: a local build")
    # timings are job metadata, not benchmark metrics
    assert "digits/train-seconds" not in info["metrics"]
    meta = StoreSource(db).job_metadata()
    assert sorted(meta["train-seconds"]) == [9.0, 12.5]


def test_protocols_never_averaged(tmp_path: Path, cli) -> None:
    db = tmp_path / "b.sqlite"
    p4 = _write(db, _config("cpu-tiny", epochs=4), 0.0)
    p5 = _write(db, _config("cpu-tiny-at", epochs=5), 0.1)
    with pytest.raises(ConfigError, match="2 protocols.*--protocol HASH or --protocol latest"):
        get_source("store", db).metrics()
    assert get_source("store", db, protocol=p4).query(0)["digits/clean"] == pytest.approx(0.8)
    latest = get_source("store", db, protocol="latest")
    assert latest.protocol == p5 and latest.query(0)["digits/clean"] == pytest.approx(0.9)
    assert latest.info.regime == "adversarial"
    assert get_source("store", db, protocol=p4[:6]).info.regime == "standard"
    with pytest.raises(ConfigError, match="no protocol 'zzz'"):
        get_source("store", db, protocol="zzz")
    with pytest.raises(ConfigError, match="applies to a results store"):
        get_source("jung2023", None, protocol="latest")
    # the report: one protocol per summary
    with pytest.raises(ConfigError, match="never averaged"):
        summarise_store(db)
    groups = summarise_protocols(db)
    assert set(groups) == {p4, p5}
    assert groups[p4].table.loc[0, "clean"] == pytest.approx(0.8)
    assert groups[p5].table.loc[0, "clean"] == pytest.approx(0.9) and groups[p5].regime == "adversarial"
    assert "train-seconds" not in groups[p4].table
    # the CLI: every command takes --protocol
    code, out, err = cli("bench", "top", "store", "-m", "digits/clean", "--root", str(db))
    assert code != 0 and "--protocol" in out + err
    code, out, err = cli(
        "bench", "top", "store", "-m", "digits/clean", "--root", str(db), "--protocol", "latest"
    )
    assert code == 0 and "0.9000" in out and "adversarial" in out, err
    code, out, err = cli("bench", "query", "store", "0", "--root", str(db), "--protocol", p4, "--json")
    assert code == 0 and json.loads(out)["values"]["digits/clean"] == pytest.approx(0.8)
    assert json.loads(out)["regime"] == "standard"
    code, out, err = cli("bench", "info", "store", "--root", str(db))
    assert code == 0 and p4 in out and p5 in out and "--protocol" in out
    code, out, err = cli(
        "bench", "export", "store", "--root", str(db), "--protocol", p5, "-o", str(tmp_path / "x.csv")
    )
    assert code == 0 and "adversarial" in out
    code, out, err = cli(
        "bench", "correlate", "store:digits/clean", "store:digits/pgd@8", "--root", str(db), "--protocol", p4
    )
    assert code == 0 and "store: standard" in out, err
