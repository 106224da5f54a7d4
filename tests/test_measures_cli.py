"""``robnas measure`` through the real entry point: a build of kind ``measure`` into a store,
its CSV export, resumption, errors.

Cheap settings throughout (C=4, N=1, a batch of 8 bundled ``digits`` images, measures params,
naswot and jacobian); every build starts a worker process, so the module takes some seconds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import robnas.cli.main as cli_main
from robnas.measures.study import PROVENANCE

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


def test_measure_builds_a_store_exports_csv_and_resumes(run, tmp_path) -> None:
    from robnas.store import ResultStore

    out = tmp_path / "m" / "measures.csv"
    store = tmp_path / "m" / "measures.sqlite"  # beside --out when no --store is given
    code, _, err = run("measure", *CHEAP, "--archs", "5,17,123", "--out", str(out))
    assert code == 0, err
    assert "3 architecture(s) x 1 seed(s)" in err and "3 done, 0 failed" in err and "wrote 3 rows" in err
    assert store.is_file()
    with out.open(newline="") as f:
        header = next(csv.reader(f))
    assert header == ["index", "uid", "arch", "params", "naswot", "jacobian", "flagged", *PROVENANCE]
    rows = _rows(out)
    assert [int(r["index"]) for r in rows] == [5, 17, 123]
    for r in rows:
        assert float(r["params"]) > 0 and float(r["jacobian"]) >= 0 and float(r["seconds"]) > 0
        assert (r["dataset"], r["batch"], r["C"], r["N"], r["seed"]) == ("digits", "8", "4", "1", "0")
        assert r["torch"] and r["robnas"] and r["device"] == "cpu" and r["host"] and r["protocol"]
    db = ResultStore(store, readonly=True)
    value = db.query("digits/init.jacobian", uid=17)["value"].item()
    db.close()
    assert float(rows[1]["jacobian"]) == value  # the CSV is the store's content
    first = out.read_bytes()

    # the same command again: every job is in the store, nothing runs, the same table
    code, _, err = run("measure", *CHEAP, "--archs", "5,17,123", "--out", str(out))
    assert code == 0, err
    assert "0 done, 0 failed, 3 already in the store" in err and "wrote 3 rows" in err
    assert out.read_bytes() == first

    # a new selection runs only the new architecture; the table keeps the store's other rows
    code, _, err = run("measure", *CHEAP, "--archs", "17,200,5", "--out", str(out))
    assert code == 0, err
    assert "1 done, 0 failed, 2 already in the store" in err and "wrote 4 rows" in err
    assert [int(r["index"]) for r in _rows(out)] == [17, 200, 5, 123]

    # another seed is another job of the same protocol; the table holds the command's seeds only
    code, out_json, err = run(
        "measure", *CHEAP[:-2], "--seed", "1", "--archs", "5", "--out", str(out), "--json"
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out_json)
    assert (report["done"], report["skipped"], report["rows"]) == (1, 0, 1)
    assert [(r["index"], r["seed"]) for r in _rows(out)] == [("5", "1")]


def test_measure_seeds_store_workers_and_correlate_read_both(run, tmp_path) -> None:
    import numpy as np

    from robnas.measures.study import read_store, read_table

    out, store = tmp_path / "t.csv", tmp_path / "db" / "s.sqlite"
    code, stdout, err = run(
        "measure", *CHEAP[:-2], "--seed", "0", "--seed", "1", "--archs", "5,17", "--workers", "2",
        "--store", str(store), "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(stdout)
    assert (report["total"], report["done"], report["failed"], report["rows"]) == (4, 4, 0, 4)
    assert report["store"] == str(store) and store.is_file() and not out.with_suffix(".sqlite").exists()
    assert [(r["index"], r["seed"]) for r in _rows(out)] == [("5", "0"), ("5", "1"), ("17", "0"), ("17", "1")]
    table, stored = read_table(out), read_store(store)  # means over the two seeds
    cols = ["params", "naswot", "jacobian"]
    assert sorted(table.index) == sorted(stored.index) == [5, 17]
    np.testing.assert_allclose(table.loc[stored.index, cols], stored[cols], rtol=1e-12)
    for source in (out, store):
        code, stdout, err = run(
            "measure", "correlate", str(source), "--bench", "nasrobbench201", "--boot", "0", "--json"
        )
        assert code == 0, err
        assert {r["measure"] for r in json.loads(stdout)} == set(cols)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--measures", "params,jacobain"), "unknown measure 'jacobain'"),
        (("--archs", "sample:x"), "--archs: 'sample:x' needs a whole number N in sample:N"),
        (("--archs", "5,seven"), "--archs: item 'seven'"),
        (("--archs", "15625"), "--archs: cannot read '15625' (architecture index 15625 is out of range"),
        (("--archs", "sample:7000"), "--archs: sample:7000 is out of range (1..6466"),
        (("--batch", "1"), "--batch must be at least 2"),
        (("--workers", "0"), "--workers must be at least 1"),
        (("--dataset", "cifar1000"), "--dataset: unknown dataset 'cifar1000'"),
        (("--set", "hessian.max_iter=3"), "options given for measure hessian, which is not computed"),
        (("--set", "jacobian.nope=3"), "measure jacobian has no option nope"),
        (("--eps", "4"), "--eps and --attack set the perturbation of the ntk_* measures"),
        (("--seed", "0", "--seed", "0"), "--seed: repeated seed"),
        (("--executor", "nope"), "unknown executor 'nope'"),
        (("--address", "auto"), "--address is for --executor ray"),
        (("--out", "OUT.sqlite"), "is the CSV export; give the results database with --store"),
        (("--store", "OUT.csv", "--out", "OUT.csv"), "--out and --store are both"),
    ],
)
def test_measure_bad_input_is_one_line_and_exit_2(run, tmp_path, args: tuple[str, ...], message: str) -> None:
    base = [*CHEAP, "--archs", "5", "--out", str(tmp_path / "measures.csv")]
    if args[0] == "--seed":
        base = base[: base.index("--seed")] + base[base.index("--seed") + 2 :]
    args = tuple(a.replace("OUT", str(tmp_path / "m")) for a in args)
    code, stdout, err = run("measure", *base, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("robnas: error:") and message in lines[0], err
    assert stdout == "" and list(tmp_path.iterdir()) == []  # no table, no store, no folder


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
    assert json.loads(out)["flagged"] == {}
    want = measure_trained(["jacobian", "hessian"], net, x, y)
    assert values == pytest.approx(want, rel=1e-6)
    code, _, err = run("measure", "--checkpoint", str(tmp_path / "nothing"), "--dataset", "digits")
    assert code == 2 and "no checkpoint" in err


def test_measure_flags_a_vacuous_bound_in_the_store_the_table_and_the_report(run, tmp_path) -> None:
    """IBP at the benchmarks' size (C=16, N=5) is vacuous at initialisation: the value is stored,
    and flagged in the store, the table's ``flagged`` column and the command's report."""
    import json

    from robnas.store import ResultStore

    out = tmp_path / "m.csv"
    args = ("measure", "--measures", "params,ibp", "--dataset", "digits", "--batch", "4", "--archs", "7129")
    code, _, err = run(*args, "--out", str(out))
    assert code == 0, err
    assert "stored but flagged: ibp (1 row)" in err
    (row,) = _rows(out)
    assert row["flagged"] == "ibp" and float(row["ibp"]) < -1e6 and float(row["params"]) > 0
    db = ResultStore(tmp_path / "m.sqlite", readonly=True)
    assert db.query("digits/flag:init.ibp", uid=7129)["value"].tolist() == [1.0]
    db.close()
    code, report, err = run(*args, "--out", str(out), "--json")  # resumed: nothing runs, still flagged
    assert code == 0, err
    assert json.loads(report)["flagged"] == {"ibp": 1}
    code, table, err = run("measure", "correlate", str(out), "--boot", "0", "--json")
    assert code == 0, err
    assert {r["measure"] for r in json.loads(table)} == {"params", "ibp"}  # the flag is no measure


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
