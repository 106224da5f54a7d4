"""Never lose a result: SIGKILL the build at random points, rerun, check the store.

Also the command line: a second run does nothing, status and export work, Ctrl-C exits 130.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import yaml

from robnas.runner import all_jobs, build, load_config
from robnas.store import ResultStore

WORKERS = 2


def _command(config, *extra):
    return [
        sys.executable,
        "-m",
        "robnas.cli.main",
        "build",
        str(config),
        "--workers",
        str(WORKERS),
        "-q",
        *extra,
    ]


def _write_config(tmp_path, n=12, sleep=0.1):
    cfg = {
        "name": "kill-test",
        "kind": "synthetic",
        "architectures": f"sample:{n}",
        "dataset": "digits",
        "seeds": [0, 1],
        "attacks": {"pgd": [2, 8]},
        "corruptions": {"fog": [3]},
        "output": "kill.sqlite",
        "synthetic": {"sleep": sleep, "log": str(tmp_path / "executions.log")},
    }
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _done_count(db):
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM jobs WHERE state = 'done'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _children(pid):
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    except OSError:
        return set()
    return {int(p) for p in out.stdout.split()}


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_sigkill_at_random_points_loses_nothing(tmp_path):
    config = _write_config(tmp_path)
    cfg = load_config(config)
    expected_jobs = len(all_jobs(cfg))
    db = tmp_path / "kill.sqlite"
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = partial_kills = 0
    workers: set[int] = set()
    for _ in range(3):
        before = _done_count(db)
        proc = subprocess.Popen(_command(config), cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        # wait until this run has written something, then kill it at a random moment
        deadline = time.monotonic() + 30
        while _done_count(db) == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.5))
        if proc.poll() is None:
            workers.update(_children(proc.pid))
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        if 0 < _done_count(db) < expected_jobs:
            partial_kills += 1
    assert kills >= 2 and partial_kills >= 2, "the kills should land in the middle of the build"
    # orphaned workers notice that their driver is gone and exit
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers and not [pid for pid in workers if _running(pid)], "workers outlived their driver"
    final = build(config, workers=WORKERS, progress=False)
    assert final.failed == 0 and not final.interrupted

    store = ResultStore(db)
    assert store.integrity_check() == []
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.counts()["done"] == expected_jobs and store.counts()["failed"] == 0
    frame = store.query()
    metrics_per_job = 6  # clean, pgd@2, pgd@8, fog#3, params, flops
    assert len(frame) == expected_jobs * metrics_per_job
    assert not frame.duplicated(["uid", "dataset", "protocol", "seed", "metric"]).any()
    assert frame["value"].notna().all()

    # at most the jobs in flight at each kill were computed again
    executions = Counter((tmp_path / "executions.log").read_text().split())
    assert set(executions) == {j.key for j in all_jobs(cfg)}
    recomputed = sum(executions.values()) - expected_jobs
    assert recomputed <= kills * WORKERS, (recomputed, kills)

    # the same configuration again does nothing
    again = build(config, workers=WORKERS, progress=False)
    assert (again.executions, again.done, again.skipped) == (0, 0, expected_jobs)
    assert sum(Counter((tmp_path / "executions.log").read_text().split()).values()) == sum(
        executions.values()
    )


def test_ctrl_c_finishes_writing_and_exits_130(tmp_path):
    config = _write_config(tmp_path, n=8, sleep=0.2)
    db = tmp_path / "kill.sqlite"
    proc = subprocess.Popen(_command(config), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while _done_count(db) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "resume" in err
    store = ResultStore(db)
    done = store.counts()["done"]
    assert 0 < done < 16 and store.integrity_check() == []
    resumed = build(config, workers=WORKERS, progress=False)
    assert resumed.skipped == done and resumed.failed == 0
    assert store.counts()["done"] == 16


def _cli(capsys, *argv):
    from robnas.cli.main import main

    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, " ".join(out.out.split()), " ".join(out.err.split())


def test_status_and_export_commands(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _write_config(tmp_path, n=3, sleep=0.0)
    code, out, err = _cli(capsys, "build", str(config), "--workers", "1", "-q")
    assert code == 0, err
    assert "6 done" in out
    code, out, err = _cli(capsys, "build", "status", "kill.sqlite")
    assert code == 0, err
    assert "6 done" in out and "digits/pgd@8" in out
    code, out, err = _cli(capsys, "build", "export", "kill.sqlite", "--layout", "jung2023", "--out", "jung")
    assert code == 0, err
    assert (tmp_path / "jung" / "meta.json").is_file()
    assert (tmp_path / "jung" / "digits" / "pgd@Linf_accuracy.json").is_file()
    code, out, err = _cli(capsys, "build", "status", "nope.sqlite")
    assert code == 2 and "not found" in err
    code, out, err = _cli(capsys, "build", "export", "kill.sqlite", "--layout", "nope", "--out", "x")
    assert code == 2 and "unknown export layout" in err
    code, out, err = _cli(capsys, "build", str(config), "--dry-run")
    assert code == 0 and "6 jobs" in out and "0 to run" in out
