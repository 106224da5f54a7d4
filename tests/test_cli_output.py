"""Output shared by every command: --json (rounded, strict), flags shown as flags, plain
progress lines off a terminal, tables that never cut an architecture string, one epsilon text."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from robnas.cli._output import dumps, jsonable, round_float
from robnas.progress import PlainProgress, format_duration
from robnas.units import format_epsilon


def test_round_float_drops_float32_noise_keeps_float64_digits() -> None:
    assert round_float(float(np.float32(0.4438))) == 0.4438  # 0.4438000023365021 in float64
    assert round_float(float(np.float32(0.7))) == 0.7
    assert round_float(155.584192) == 155.584192  # exact float64 values keep their digits
    assert round_float(0.1 + 0.2) == 0.3
    assert round_float(1073466.0) == 1073466.0
    assert round_float(0.0) == 0.0
    assert round_float(math.nan) is None and round_float(math.inf) is None and round_float(-math.inf) is None


def test_jsonable_is_strict_json() -> None:
    from pathlib import Path

    import pandas as pd

    obj = {
        "a": np.float32(0.4438),
        "b": [math.nan, np.inf, np.int64(3)],
        "c": np.array([0.5, np.nan]),
        "d": pd.DataFrame({"x": [1.0, math.nan]}),
        "p": Path("/tmp/x"),
        "t": (1, 2),
    }
    text = dumps(obj)
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back == {
        "a": 0.4438,
        "b": [None, None, 3],
        "c": [0.5, None],
        "d": [{"x": 1.0}, {"x": None}],
        "p": "/tmp/x",
        "t": [1, 2],
    }
    assert jsonable(True) is True  # bool stays bool, not 1


def test_format_epsilon_is_in_units_of_1_255() -> None:
    assert format_epsilon(8) == "8" and format_epsilon(0.5) == "0.5"
    assert format_epsilon(8 / 255, pixels=True) == "8"
    assert format_epsilon(0.1 / 255, pixels=True) == "0.1"
    assert format_epsilon(2 / 255, pixels=True, unit=True) == "2/255"
    from robnas.attacks import eps_label
    from robnas.benchmarks.metrics import format_epsilon as metric_eps

    assert eps_label(8 / 255) == "8" and metric_eps(4.0) == "4"
    from robnas.attacks import get_attack

    assert "eps=8/255" in repr(get_attack("pgd", eps=8 / 255))


def test_plain_progress_prints_periodic_lines() -> None:
    now = [0.0]
    out = io.StringIO()
    prog = PlainProgress(out, every_pct=25, every_s=1e9, clock=lambda: now[0])
    task = prog.add_task("epoch 1/2", total=100, status="")
    for _ in range(100):
        now[0] += 1.0
        prog.update(task, advance=1, status="loss [b]1.0[/b]")
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # 25, 50, 75 and 100 %
    assert "epoch 1/2: 25/100 (25%)" in lines[0] and "ETA 1m 15s" in lines[0]
    assert "100/100 (100%), done in 1m 40s" in lines[-1]
    assert lines[0].endswith("loss 1.0")  # markup stripped
    prog.update(task, advance=0)  # finished: no more lines
    assert len(out.getvalue().splitlines()) == 4


def test_plain_progress_time_rule_and_unknown_total() -> None:
    now = [0.0]
    out = io.StringIO()
    prog = PlainProgress(out, every_pct=50, every_s=30, clock=lambda: now[0])
    task = prog.add_task("search", total=None)
    for _ in range(10):
        now[0] += 10.0
        prog.advance(task)
    assert len(out.getvalue().splitlines()) == 3  # at 30, 60 and 90 s
    assert format_duration(3725) == "1h 02m" and format_duration(9) == "9s"


def test_progress_is_plain_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from robnas.progress import make_progress

    monkeypatch.delenv("ROBNAS_PROGRESS", raising=False)
    assert isinstance(make_progress(), PlainProgress)  # pytest captures stderr: not a terminal
    monkeypatch.setenv("ROBNAS_PROGRESS", "bar")
    assert not isinstance(make_progress(), PlainProgress)


def test_help_shows_flags_as_flags(cli) -> None:
    code, out, _ = cli("bench", "list", "--help")
    assert code == 0
    assert "--json " in out and "<bool>" not in out
    code, out, _ = cli("measure", "list", "--help")
    assert "--json" in out and "<bool>" not in out


def test_every_command_has_json_and_device_auto() -> None:
    import typer

    from robnas.cli.main import build_app

    missing, devices = [], {}

    def walk(cmd, path):  # type: ignore[no-untyped-def]
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
            return
        opts = {o: p for p in cmd.params for o in getattr(p, "opts", [])}
        if "--json" not in opts:
            missing.append(" ".join(path))
        elif not opts["--json"].is_flag:
            missing.append(" ".join(path) + " (not a flag)")
        if "--device" in opts:
            devices[" ".join(path)] = opts["--device"].default

    walk(typer.main.get_command(build_app()), [])
    assert missing == []
    assert devices and set(devices.values()) == {"auto"}, devices


def test_json_commands_print_json(cli) -> None:
    code, out, _ = cli("measure", "list", "--json")
    assert code == 0 and any(m["name"] == "jacobian" for m in json.loads(out))
    code, out, _ = cli("dnas", "methods", "--json")
    rows = {r["method"]: r for r in json.loads(out)}
    assert rows["darts-at"]["defaults"]["eps_255"] == 8.0
    code, out, _ = cli("dnas", "methods")
    assert "eps=8/255" in out and "0.0313" not in out


def test_tables_never_cut_architecture_strings(cli) -> None:
    from robnas.spaces.nb201 import Arch

    code, out, _ = cli("space", "sample", "-n", "5", "--seed", "1")
    assert code == 0
    strings = [Arch.from_index(i).string for i in __import__("robnas").spaces.nb201.sample_indices(5, 1)]
    for s in strings:
        assert s in out  # whole, on one line, even at 80 columns
    code, out, _ = cli("space", "sample", "-n", "2", "--plain")
    lines = out.splitlines()
    assert lines[0] == "index\tuid\tstring" and len(lines) == 3 and lines[1].count("\t") == 2


def test_build_commands_print_json(cli, tmp_path) -> None:
    cfg = tmp_path / "b.yaml"
    cfg.write_text(
        "kind: synthetic\narchitectures: sample:3\ndataset: digits\nattacks: {pgd: [8]}\n"
        f"output: {tmp_path / 'b.sqlite'}\nsynthetic: {{sleep: 0.0, log: {tmp_path / 'log.txt'}}}\n"
    )
    code, out, err = cli("build", str(cfg), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["done"] == 3 and report["failed"] == 0 and report["failures"] == []
    code, out, _ = cli("build", "status", str(tmp_path / "b.sqlite"), "--json")
    status = json.loads(out)
    assert status["counts"]["done"] == 3 and status["integrity_problems"] == []
    assert {"digits/clean", "digits/pgd@8"} <= {m["metric"] for m in status["metrics"]}
    code, out, _ = cli("build", "status", str(tmp_path / "b.sqlite"), "--plain")
    assert "metric\tarchitectures\tseeds\tmean\tmin\tmax" in out
