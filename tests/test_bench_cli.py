"""``robnas bench``: exit codes, one-line errors, JSON output, files written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from robnas.cli import main as cli_main


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, capsys):
    """Run ``robnas`` through its real error boundary, with only the bench group mounted."""
    monkeypatch.setattr(cli_main, "GROUPS", {"bench": cli_main.GROUPS["bench"]})
    monkeypatch.setattr(cli_main, "COMMANDS", {})
    monkeypatch.setenv("ROBNAS_CACHE", str(tmp_path_factory.getbasetemp() / "cli-cache"))

    def _run(*args: str) -> tuple[int, str, str]:
        try:
            cli_main.main(["bench", *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_list_and_info(run, shared_data: Path) -> None:
    code, out, _ = run("list", "--root", str(shared_data))
    assert code == 0
    assert "jung2023" in out and "adversarial" in out and "natsbench" in out
    code, out, _ = run("info", "nasrobbench201", "--root", str(shared_data), "--json")
    assert code == 0
    info = json.loads(out)
    assert info["training_regime"] == "adversarial"
    assert "cifar10/autoattack@8" in info["metrics"]


def test_query_json(run, shared_data: Path) -> None:
    code, out, _ = run(
        "query",
        "jung2023",
        "25",
        "-m",
        "cifar10/clean",
        "-m",
        "cifar10/pgd@8",
        "--json",
        "--root",
        str(shared_data),
    )
    assert code == 0
    data = json.loads(out)
    assert (data["index"], data["uid"], data["regime"]) == (25, 3, "standard")
    meta = json.loads((shared_data / "robustness-dataset" / "cifar10" / "clean_accuracy.json").read_text())
    assert data["values"]["cifar10/clean"] == meta["cifar10"]["clean"]["accuracy"]["3"]


def test_top_and_export(run, shared_data: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        "top",
        "natsbench",
        "--metric",
        "cifar10/test-acc-200",
        "-k",
        "3",
        "--json",
        "--root",
        str(shared_data),
    )
    assert code == 0 and len(json.loads(out)) == 3
    out_file = tmp_path / "rb.csv"
    code, out, _ = run(
        "export", "nasrobbench201", "--format", "csv", "--out", str(out_file), "--root", str(shared_data)
    )
    assert code == 0 and "6466 architectures x 18 metrics" in out
    df = pd.read_csv(out_file, index_col="index")
    assert list(df.columns[:3]) == ["uid", "arch", "cifar10/clean"] and len(df) == 6466
    pq = tmp_path / "nats.parquet"
    code, _, _ = run(
        "export",
        "natsbench",
        "--format",
        "parquet",
        "--out",
        str(pq),
        "--all-indices",
        "--root",
        str(shared_data),
    )
    assert code == 0 and len(pd.read_parquet(pq)) == 15625


def test_correlate_and_plot(run, shared_data: Path, tmp_path: Path) -> None:
    code, out, _ = run(
        "correlate",
        "nasrobbench201:cifar10/fgsm@8",
        "nasrobbench201:cifar10/pgd@8",
        "--heatmap",
        str(tmp_path / "h.png"),
        "--root",
        str(shared_data),
    )
    assert code == 0 and "rho +0.99" in out
    assert (tmp_path / "h-kendall.png").stat().st_size > 1000
    assert (tmp_path / "h-spearman.png").stat().st_size > 1000
    code, out, _ = run(
        "plot",
        "jung2023:cifar10/adversarial-mean",
        "--out",
        str(tmp_path / "p.png"),
        "--root",
        str(shared_data),
    )
    assert code == 0 and "615,386" in out
    code, _, _ = run(
        "plot",
        "jung2023:cifar10/clean",
        "natsbench:cifar10/test-acc-200",
        "--out",
        str(tmp_path / "s.png"),
        "--root",
        str(shared_data),
    )
    assert code == 0 and (tmp_path / "s.png").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["query", "jung2023", "25", "-m", "cifar10/pgd@9"], "close matches: cifar10/pgd@8"),
        (["query", "jungg", "25"], "did you mean jung2023"),
        (["query", "jung2023", "99999"], "out of range"),
        (["top", "jung2023", "--metric", "cifar10/fgo#3"], "did you mean fog"),
        (["export", "natsbench", "--format", "xlsx"], "choose csv or parquet"),
        (["correlate", "cifar10/pgd@8", "jung2023:cifar10/pgd@8"], "write SOURCE:METRIC"),
    ],
)
def test_errors_are_one_line(run, shared_data: Path, args: list[str], needle: str) -> None:
    code, out, err = run(*args, "--root", str(shared_data))
    assert code == 2
    assert err.startswith("robnas: error: ") and err.count("\n") == 1 and needle in err


def test_missing_data_is_one_line(run, tmp_path: Path) -> None:
    code, _, err = run("info", "jung2023", "--root", str(tmp_path))
    assert code == 0  # info reports missing files instead of failing
    code, _, err = run("query", "jung2023", "0", "--root", str(tmp_path))
    assert code == 2 and "meta.json not found" in err and "http://data.robustness.vision/" in err
