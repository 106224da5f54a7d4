"""``robnas data`` through the real entry point (only the data group is mounted)."""

from __future__ import annotations

import json

import pytest

import robnas.cli.main as cli_main


@pytest.fixture
def run(monkeypatch, capsys):
    monkeypatch.setattr(cli_main, "GROUPS", {"data": cli_main.GROUPS["data"]})
    monkeypatch.setattr(cli_main, "COMMANDS", {})
    monkeypatch.delenv("ROBNAS_DEBUG", raising=False)

    def _run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            cli_main.main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_info_cifar10_json(run, shared_data):
    code, out, _ = run("data", "info", "cifar10", "--root", str(shared_data), "--json")
    assert code == 0
    report = json.loads(out)
    sizes = {s["split"]: s["size"] for s in report["split_report"]}
    assert sizes == {"train": 10_000, "test": 10_000}
    assert report["class_names"][0] == "airplane" and report["image_size"] == [32, 32]
    assert report["checksum"].startswith("differs from the official release")
    assert {f["status"] for f in report["files"]} == {"differs from the official release"}


def test_info_text_and_list(run, shared_data):
    code, out, _ = run("data", "info", "cifar10", "--root", str(shared_data))
    assert code == 0 and "10,000 images (full split: 50,000)" in out and "Krizhevsky" in out
    code, out, _ = run("data", "list", "--root", str(shared_data))
    assert code == 0
    status = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert status["cifar10"] == "found" and status["mnist"] == "partial" and status["digits"] == "bundled"


def test_info_missing_dataset_reports_where(run, tmp_path):
    code, out, _ = run("data", "info", "cifar100", "--root", str(tmp_path))
    assert code == 0 and "missing" in out and str(tmp_path / "cifar100" / "cifar-100-python" / "train") in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("data", "info", "cifar1000"), "unknown dataset 'cifar1000'"),
        (("data", "info", "cifar100", "--root", "{tmp}", "--verify"), "cifar100 file not found"),
        (("data", "download", "imagenet16-120", "--root", "{tmp}"), "cannot be downloaded"),
    ],
)
def test_errors_are_one_line_exit_2(run, tmp_path, args, message):
    code, out, err = run(*(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("robnas: error: ") and message in err


def test_verify_fails_on_the_re_encoded_subset(run, shared_data):
    code, _, err = run("data", "info", "cifar10", "--root", str(shared_data), "--verify")
    assert code == 2 and "not the official" in err and len(err.strip().splitlines()) == 1


def test_download_digits_is_a_no_op(run):
    code, out, _ = run("data", "download", "digits")
    assert code == 0 and "nothing to download" in out
