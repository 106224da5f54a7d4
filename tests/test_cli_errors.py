"""The CLI tells bugs from bad input: one line for bad input, a traceback for a bug."""

from __future__ import annotations

import pytest

from robnas.errors import ConfigError, DataError, MissingFileError, RobnasError


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROBNAS_DEBUG", raising=False)


def _patch_bug(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    import robnas.cli.space as space

    def broken(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(space, "arch_summary", broken)


@pytest.mark.parametrize("exc", [KeyError("edge"), ValueError("bad shape"), TypeError("oops")], ids=repr)
def test_a_bug_shows_its_traceback_and_asks_for_a_report(cli, monkeypatch, exc) -> None:
    _patch_bug(monkeypatch, exc)
    code, out, err = cli("space", "arch", "6111")
    assert code == 1
    assert "Traceback (most recent call last)" in err and f"{type(exc).__name__}" in err
    assert "this is a bug in robnas" in err.strip().splitlines()[-1]
    assert "robnas: error:" not in err


def test_bad_input_stays_one_line_with_exit_2(cli, monkeypatch) -> None:
    code, out, err = cli("space", "arch", "6111x")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("robnas: error: ") and "Traceback" not in err


@pytest.mark.parametrize("argv", [("--debug",), ()], ids=["flag", "env"])
def test_debug_shows_the_traceback_of_bad_input_too(cli, monkeypatch, argv) -> None:
    if not argv:
        monkeypatch.setenv("ROBNAS_DEBUG", "1")
    code, out, err = cli(*argv, "space", "arch", "15625")
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("robnas: error: ")
    code, out, err = cli("space", "arch", "15625") if argv else (0, "", "")
    assert "Traceback" not in err  # --debug does not outlive its call


def test_message_keeps_its_closing_quote(cli, monkeypatch) -> None:
    _patch_bug(monkeypatch, ConfigError("parquet export needs pyarrow: pip install 'robnas[parquet]'"))
    code, out, err = cli("space", "arch", "0")
    assert (
        code == 2
        and err.strip() == "robnas: error: parquet export needs pyarrow: pip install 'robnas[parquet]'"
    )


def test_a_missing_user_file_is_one_line(cli, tmp_path) -> None:
    code, out, err = cli("build", "run", str(tmp_path / "missing.yaml"))
    assert code == 2 and "not found" in err and "Traceback" not in err


def test_error_hierarchy() -> None:
    assert issubclass(ConfigError, RobnasError) and issubclass(ConfigError, ValueError)
    assert issubclass(MissingFileError, DataError) and issubclass(MissingFileError, FileNotFoundError)
    assert str(MissingFileError("x.yaml not found")) == "x.yaml not found"


def test_help_documents_debug(cli) -> None:
    code, out, err = cli("--help")
    assert code == 0 and "--debug" in out and "ROBNAS_DEBUG" in out
