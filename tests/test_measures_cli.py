"""``robnas measure`` through the real entry point: a CSV row per architecture, resumption, errors.

Cheap settings throughout (C=4, N=1, a batch of 8 bundled ``digits`` images, measures params,
naswot and jacobian), so the module takes a few seconds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import robnas.cli.main as cli_main

MEASURES = "params,naswot,jacobian"
CHEAP = ("--measures", MEASURES, "--dataset", "digits", "--batch", "8", "--C", "4", "--N", "1", "--seed", "0")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def run(monkeypatch, capsys):
    monkeypatch.setattr(cli_main, "GROUPS", {"measure": cli_main.GROUPS["measure"]})
    monkeypatch.setattr(cli_main, "COMMANDS", {})
    monkeypatch.delenv("ROBNAS_DEBUG", raising=False)

    def _run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            assert cli_main.main(list(args)) is None
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err if code else " ".join(err.split())  # rich wraps long lines

    return _run


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_measure_writes_rows_and_resumes(run, tmp_path) -> None:
    out = tmp_path / "m" / "measures.csv"
    code, _, err = run("measure", *CHEAP, "--archs", "5,17,123", "--out", str(out))
    assert code == 0, err
    assert "3 to measure" in err and "wrote 3 rows" in err
    rows = _rows(out)
    assert [int(r["index"]) for r in rows] == [5, 17, 123]
    for r in rows:
        assert {"uid", "arch", "params", "naswot", "jacobian", "t:jacobian", "seconds"} <= set(r)
        assert float(r["params"]) > 0 and float(r["jacobian"]) >= 0
        assert (r["dataset"], r["batch"], r["C"], r["N"], r["seed"]) == ("digits", "8", "4", "1", "0")
    first = out.read_bytes()

    # the same command again: everything is there, nothing is measured or written
    code, _, err = run("measure", *CHEAP, "--archs", "5,17,123", "--out", str(out))
    assert code == 0, err
    assert "3 already in" in err and "0 to measure" in err and "wrote 0 rows" in err
    assert out.read_bytes() == first

    # a larger selection measures only the new architecture, appended after the old rows
    code, _, err = run("measure", *CHEAP, "--archs", "17,200,5", "--out", str(out))
    assert code == 0, err
    assert "1 to measure" in err and "wrote 1 rows" in err
    rows = _rows(out)
    assert [int(r["index"]) for r in rows] == [5, 17, 123, 200]
    assert out.read_bytes().startswith(first)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--measures", "params,jacobain"), "unknown measure 'jacobain'"),
        (("--archs", "sample:x"), "sample:N needs an integer N"),
        (("--archs", "5,seven"), "--archs must be all, unique, sample:N or a list of indices"),
        (("--archs", "15625"), "outside 0..15624"),
        (("--batch", "1"), "--batch must be at least 2"),
        (("--workers", "0"), "--workers must be at least 1"),
        (("--dataset", "cifar1000"), "unknown dataset 'cifar1000'"),
    ],
)
def test_measure_bad_input_is_one_line_and_exit_2(run, tmp_path, args: tuple[str, ...], message: str) -> None:
    out = tmp_path / "measures.csv"
    base = dict(zip(CHEAP[::2], CHEAP[1::2], strict=True)) | {"--archs": "5", "--out": str(out)}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    code, stdout, err = run("measure", *(t for kv in base.items() for t in kv))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("robnas: error:") and message in lines[0], err
    assert stdout == "" and not out.exists()


def test_measure_list_json_marks_the_default_set(run) -> None:
    import json

    code, out, err = run("measure", "list", "--json")
    assert code == 0, err
    table = {m["name"]: m for m in json.loads(out)}
    assert table["ntk_adv"]["default"] and not table["jacobian_proj"]["default"]
    assert "trained" in table["jacobian"]["paper"]


def test_measure_checkpoint_uses_the_trained_statistics(run, tmp_path) -> None:
    import json

    import torch

    from robnas.measures import measure_batch, measure_trained
    from robnas.models import build_network
    from robnas.training.checkpoint import save_checkpoint
    from robnas.training.loop import FORMAT, network_config

    x, y, info = measure_batch("digits", 8, 0)
    torch.manual_seed(0)
    net = build_network(5, C=4, N=1, **info.model_kwargs())
    net.train()
    with torch.no_grad():
        net(x * 0.5)  # running statistics of their own
    net.eval()
    save_checkpoint(
        {"format": FORMAT, "model": net.state_dict(), "network": network_config(net)},
        tmp_path / "checkpoint.pt",
    )
    code, out, err = run(
        "measure", "--checkpoint", str(tmp_path), "--dataset", "digits", "--batch", "8",
        "--measures", "jacobian,hessian", "--json",
    )  # fmt: skip
    assert code == 0, err
    values = json.loads(out)["values"]
    want = measure_trained(["jacobian", "hessian"], net, x, y)
    assert values == pytest.approx(want, rel=1e-6)
    code, _, err = run("measure", "--checkpoint", str(tmp_path / "nothing"), "--dataset", "digits")
    assert code == 2 and "no checkpoint" in err


def test_measure_correlate_prints_n_and_ci_and_json(run, tmp_path) -> None:
    import json

    csv_path = tmp_path / "m.csv"
    csv_path.write_text(
        "index,uid,arch,score\n" + "".join(f"{i},{i},a,{i % 7}\n" for i in (0, 1, 2, 3, 4, 5, 6, 7))
    )
    code, out, err = run(
        "measure", "correlate", str(csv_path), "--bench", "nasrobbench201", "--boot", "20", "--json"
    )
    assert code == 0, err
    rows = json.loads(out)
    assert {r["target"] for r in rows} >= {"nasrobbench201:cifar10/pgd@8"}
    assert all(r["n"] <= 8 and "tau_lo" in r for r in rows)
    code, out, err = run("measure", "correlate", str(csv_path), "--bench", "nasrobbench201", "--boot", "20")
    assert code == 0, err
    assert "95% CI" in out and "score" in out
