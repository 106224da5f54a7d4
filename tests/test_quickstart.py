"""``robnas quickstart`` end to end at a tiny scale: build, rank, report, resume."""

from __future__ import annotations

import re

import pytest


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "out"
    args = [
        "quickstart",
        "-n",
        "3",
        "--epochs",
        "1",
        "--C",
        "4",
        "--measures",
        "naswot,jacobian",
        "-w",
        "1",
        "--out",
        str(out),
    ]
    return out, args


def test_quickstart_builds_ranks_and_reports(quick, cli) -> None:
    out, args = quick
    code, text, _ = cli(*args)
    assert code == 0
    assert "most robust: index" in text and "Kendall tau" in text
    from robnas.analysis.report import summarise_store
    from robnas.store import ResultStore

    store = ResultStore(out / "quickstart.sqlite", readonly=True)
    assert store.integrity_check() == []
    s = summarise_store(out / "quickstart.sqlite")
    assert len(s.table) == 3 and s.dataset == "digits"
    t = s.table
    # robust accuracy never exceeds clean accuracy; the worst case is the minimum at the largest eps
    for col in s.attack_columns:
        assert (t[col] <= t["clean"] + 1e-9).all(), col
    assert (t["worst-case"] <= t[["fgsm@16", "pgd@16", "apgd-ce@16"]].min(axis=1) + 1e-12).all()
    best = int(re.search(r"most robust: index (\d+)", text).group(1))
    assert best == s.most_robust == int(t["adversarial-mean"].idxmax())
    html = (out / "report.html").read_text()
    assert "Most robust architecture" in html and f"Index <b>{best}</b>" in html
    assert html.count("data:image/png;base64,") >= 3
    assert {"naswot", "jacobian"} <= set(s.measure_columns)


def test_quickstart_rerun_resumes_without_work(quick, cli) -> None:
    out, args = quick
    before = (out / "quickstart.sqlite").stat().st_size
    code, text, _ = cli(*args)
    assert code == 0
    assert re.search(r"0 done, 0 failed, 3 already in the store", text), text
    assert (out / "quickstart.sqlite").stat().st_size >= before


def test_quickstart_bad_input(tmp_path, cli) -> None:
    code, _, err = cli("quickstart", "--dataset", "nosuchdata", "--out", str(tmp_path))
    assert code == 2
    err = err.strip().splitlines()
    assert len(err) == 1 and "nosuchdata" in err[0]
    code, _, err = cli("quickstart", "--measures", "bogus", "--out", str(tmp_path))
    assert code == 2 and "bogus" in err


def test_quickstart_second_protocol_refused_and_follow_up_works(quick, cli) -> None:
    """Issue 14: another protocol in the same folder never yields a mixed table; the printed
    follow-up command runs."""
    out, args = quick
    code, text, _ = cli(*args)  # resumes (or builds, when run alone)
    assert code == 0
    follow = re.search(r"query it with\s+`robnas (bench top store .*?)`", text, re.S)
    assert follow, text
    code, top, err = cli(*follow.group(1).split())
    assert code == 0, err
    assert "standard training" in top
    other = [a if a != "1" or args[i - 1] != "--epochs" else "2" for i, a in enumerate(args)]
    before = (out / "quickstart.sqlite").stat().st_size
    code, text, err = cli(*other)
    assert code == 2 and "another protocol" in err and "--out" in err
    assert (out / "quickstart.sqlite").stat().st_size == before
