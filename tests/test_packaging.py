"""Packaging: every subpackage is listed, the sdist carries the tests and examples, Typer is
bounded and used through public names only, and the examples reach `robnas build --example`."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_subpackage_is_packaged() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO / "src").parts)
        for p in (REPO / "src" / "robnas").rglob("__init__.py")
    }
    assert found | {"robnas.examples"} == listed, "add the new subpackage to [tool.setuptools] packages"


def test_metadata_and_bounds() -> None:
    project = _pyproject()["project"]
    assert any(d.startswith("typer>=") and "<1" in d for d in project["dependencies"])
    assert project["classifiers"] and project["keywords"]
    main = (REPO / "src" / "robnas" / "cli" / "main.py").read_text()
    assert "typer._" not in main and 'import_module("typer' not in main  # no private Typer modules


def test_sdist_manifest_carries_tests_and_examples() -> None:
    manifest = (REPO / "MANIFEST.in").read_text()
    assert "recursive-include tests *.py" in manifest  # conftest.py too
    assert "recursive-include examples *.yaml" in manifest


def test_build_example_writes_a_loadable_config(cli, tmp_path, monkeypatch) -> None:
    from robnas.runner import load_config
    from robnas.runner.examples import example_names

    assert {"digits", "synthetic", "nasrobbench201"} <= set(example_names())
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("build", "--example", "synthetic")
    assert (
        code == 0
        and (tmp_path / "build-synthetic.yaml").read_text()
        == (REPO / "examples" / "build-synthetic.yaml").read_text()
    )
    assert load_config(tmp_path / "build-synthetic.yaml").kind == "synthetic"
    code, _, err = cli("build", "--example", "synthetic")  # never overwrites
    assert code != 0 and "already exists" in err
    code, _, err = cli("build", "--example", "nope")
    assert code != 0 and "digits" in err
