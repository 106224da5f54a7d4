"""The results store: schema, atomic job writes, failures, queries, source view, export."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
import time

import numpy as np
import pytest

from robnas.spaces.nb201 import NUM_ARCHS, isomorphism_classes
from robnas.store import ResultRow, ResultStore, StoreError, StoreSource, export
from robnas.store.db import SCHEMA_VERSION


def _rows(uid: int, seed: int, values: dict[str, float], protocol: str = "p1", dataset: str = "digits"):
    t = time.time()
    return [
        ResultRow(uid=uid, dataset=dataset, protocol=protocol, seed=seed, metric=m, value=v,
                  config_hash="c1", robnas_version="0.1.0", torch_version="2.x", device="cpu",
                  host="h", started=t - 1, finished=t)
        for m, v in values.items()
    ]  # fmt: skip


def test_store_is_torch_free():
    import subprocess

    code = "import sys, robnas.store; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_schema_wal_and_reopen(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.execute("PRAGMA journal_mode")[0][0] == "wal"
        store.write_results("k0", _rows(0, 0, {"digits/clean": 0.5}))
    with ResultStore(path) as store:
        assert store.done_jobs() == {"k0"}
        assert store.integrity_check() == []


def test_write_is_atomic_and_idempotent(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    rows = _rows(5, 1, {"digits/clean": 0.9, "digits/pgd@8": 0.3, "params": 1000.0})
    assert store.write_results("k", rows) == 3
    store.write_results("k", rows)  # a repeated write replaces, never duplicates
    assert len(store.query()) == 3
    # a bad row aborts the whole job: nothing of it is written
    bad = _rows(6, 0, {"digits/clean": 0.1}) + _rows(7, 0, {"digits/clean": 0.2})
    with pytest.raises(ValueError, match="share uid"):
        store.write_results("k2", bad)
    assert "k2" not in store.done_jobs()
    # an exception inside the transaction rolls back everything
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:
        conn.execute("INSERT INTO jobs (job_key, uid, dataset, protocol, seed, state, updated) "
                     "VALUES ('x', 1, 'd', 'p', 0, 'done', 0)")  # fmt: skip
        conn.execute("INSERT INTO jobs (job_key, uid, dataset, protocol, seed, state, updated) "
                     "VALUES ('x', 1, 'd', 'p', 0, 'done', 0)")  # fmt: skip
    assert "x" not in store.done_jobs()
    assert store.integrity_check() == []


def test_nan_provenance_and_query(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.write_results("a", _rows(0, 0, {"digits/clean": float("nan"), "digits/pgd@8": 0.25}))
    store.write_results("b", _rows(0, 1, {"digits/pgd@8": 0.35}))
    df = store.query("digits/pgd@8")
    assert list(df["seed"]) == [0, 1]
    for col in ("config_hash", "robnas_version", "torch_version", "device", "host", "started", "duration"):
        assert df[col].notna().all()
    assert math.isnan(store.query("digits/clean")["value"].iloc[0])
    assert store.seed_means("digits/pgd@8") == {0: pytest.approx(0.3)}
    assert store.metrics() == ["digits/clean", "digits/pgd@8"]


def test_failures_and_attempts(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    meta = dict(uid=3, dataset="digits", protocol="p", seed=0)
    assert store.record_failure("k", "divergence", "loss is nan", **meta) == 1
    assert store.record_failure("k", "out-of-memory", "CUDA out of memory", **meta) == 2
    failed = store.failed_jobs()["k"]
    assert (failed.state, failed.attempts, failed.reason) == ("failed", 2, "out-of-memory")
    with pytest.raises(ValueError, match="reason"):
        store.record_failure("k", "cosmic-ray", "?", **meta)
    store.write_results("k", _rows(3, 0, {"digits/clean": 0.5}, protocol="p"))
    assert store.done_jobs() == {"k"} and store.failed_jobs() == {}
    store.record_failure("k", "other", "late", **meta)  # a done job stays done
    assert store.done_jobs() == {"k"}
    assert store.counts() == {"done": 1, "failed": 0, "results": 1}


def test_not_a_store_and_newer_schema(tmp_path):
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(StoreError, match="not a robnas results store"):
        ResultStore(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a readable SQLite"):
        ResultStore(junk)
    newer = tmp_path / "newer.sqlite"
    ResultStore(newer).execute("SELECT 1")
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this robnas"):
        ResultStore(newer)
    with pytest.raises(StoreError, match="not found"):
        ResultStore(tmp_path / "missing.sqlite", readonly=True)


def test_store_source_values(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    cls = next(m for u, m in isomorphism_classes().items() if u > 0 and len(m) > 2)
    uid = cls[0]
    store.write_results("a", _rows(uid, 0, {"digits/clean": 0.4}))
    store.write_results("b", _rows(uid, 1, {"digits/clean": 0.6}))
    store.write_results("c", _rows(0, 0, {"digits/clean": 0.9}))
    src = StoreSource(store)
    vals = src.values("digits/clean")
    assert vals.shape == (NUM_ARCHS,)
    assert np.allclose(vals[cls], 0.5)  # seed mean, shared by isomorphs
    assert vals[0] == pytest.approx(0.9)
    assert np.isnan(vals).sum() == NUM_ARCHS - len(cls) - len(isomorphism_classes()[0])
    assert src.metrics() == ["digits/clean"]
    with pytest.raises(KeyError, match="metrics present: digits/clean"):
        src.values("digits/pgd@8")
    store.write_results("d", _rows(0, 0, {"digits/clean": 0.1}, protocol="p2"))
    with pytest.raises(ValueError, match="2 protocols"):
        src.values("digits/clean")
    assert StoreSource(store, protocol="p2").values("digits/clean")[0] == pytest.approx(0.1)


def test_export_jung2023(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.write_results(
        "a",
        _rows(
            0,
            0,
            {
                "digits/clean": 0.8,
                "digits/pgd@8": 0.2,
                "digits/pgd@2": 0.5,
                "digits/fog#3": 0.6,
                "digits/apgd-ce@8": 0.1,
                "params": 9.0,
            },
        ),
    )
    store.write_results("b", _rows(1, 0, {"digits/clean": 0.7, "digits/pgd@8": 0.3}))  # fmt: skip
    report = export(store, "jung2023", tmp_path / "out")
    assert report.skipped_metrics == ["params"] and report.architectures == 2
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert len(meta["ids"]) == NUM_ARCHS and meta["ids"]["0"]["isomorph"] == "0"
    assert meta["epsilons"] == {"pgd@Linf": [2.0, 8.0], "aa_apgd-ce@Linf": [8.0]}
    pgd = json.loads((tmp_path / "out" / "digits" / "pgd@Linf_accuracy.json").read_text())
    assert pgd["digits"]["pgd@Linf"]["accuracy"] == {"0": [0.5, 0.2], "1": [None, 0.3]}
    clean = json.loads((tmp_path / "out" / "digits" / "clean_accuracy.json").read_text())
    assert clean["digits"]["clean"]["accuracy"] == {"0": 0.8, "1": 0.7}
    fog = json.loads((tmp_path / "out" / "digits" / "fog_accuracy.json").read_text())
    assert fog["digits"]["fog"]["accuracy"]["0"] == [None, None, 0.6, None, None]
    with pytest.raises(ValueError, match="unknown export layout"):
        export(store, "nope", tmp_path / "x")


def test_store_is_a_benchmarks_source(tmp_path):
    from robnas.benchmarks import get_source

    store = ResultStore(tmp_path / "b.sqlite")
    store.write_results("a", _rows(0, 0, {"digits/clean": 0.8, "digits/pgd@8": 0.2, "digits/params": 9.0}))
    store.write_results("b", _rows(1, 0, {"digits/clean": 0.6, "digits/pgd@8": 0.4, "digits/params": 7.0}))
    src = get_source("store", tmp_path / "b.sqlite")
    assert {str(m) for m in src.metrics()} == {"digits/clean", "digits/pgd@8", "digits/params"}
    assert src.query(0)["digits/pgd@8"] == pytest.approx(0.2)
    top = src.top("digits/pgd@8", k=2)
    assert list(top["index"]) == [1, 0]
    # the source re-reads the database: results written during a build appear
    store.write_results("c", _rows(2, 0, {"digits/clean": 0.9, "digits/pgd@8": 0.5, "digits/params": 8.0}))
    assert get_source("store", tmp_path / "b.sqlite").top("digits/pgd@8", k=1)["index"].iloc[0] == 2
    with pytest.raises(Exception, match="not found"):
        get_source("store", tmp_path / "missing").metrics()
