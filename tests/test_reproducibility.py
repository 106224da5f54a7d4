"""What a result records about how it was made: the store's environment column (schema 2),
the report's "how this report was made" section and its small-n warning, the Python API."""

from __future__ import annotations

import json
import sqlite3

import pytest

from robnas.environment import environment, format_environment


def _build(tmp_path, n: int = 6):  # type: ignore[no-untyped-def]
    from robnas.runner import build, load_config

    cfg = load_config(
        dict(kind="synthetic", architectures=f"sample:{n}", dataset="digits", seeds=[0],
             attacks={"fgsm": [8], "pgd": [2, 8]}, output=str(tmp_path / "b.sqlite"),
             synthetic={"sleep": 0.0, "log": str(tmp_path / "log.txt")}, retries=1)
    )  # fmt: skip
    report = build(cfg, progress=False)
    assert report.done == n
    return cfg


def test_environment_names_versions_cpu_threads() -> None:
    env = environment()
    assert env["robnas"] and env["python"] and env["numpy"] and env["torch"]
    assert env["cpu"] and env["cpus"] >= 1
    line = format_environment(env)
    assert f"numpy {env['numpy']}" in line and env["cpu"] in line


def test_store_rows_record_their_environment(tmp_path) -> None:
    from robnas.store import ResultStore

    cfg = _build(tmp_path)
    rows = ResultStore(cfg.output, readonly=True).execute("SELECT DISTINCT environment FROM results")
    assert len(rows) == 1
    env = json.loads(rows[0][0])
    assert env["robnas"] and env["numpy"] and env["cpu"]
    assert env["torch_threads"] is None  # a synthetic job never loads torch; train jobs record 1


def test_a_schema_1_store_gains_the_column(tmp_path) -> None:
    from robnas.store import ResultStore
    from robnas.store.db import MIGRATIONS

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[1])
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.execute("INSERT INTO jobs VALUES ('k', 0, NULL, 'digits', 'p', 0, 'done', 1, NULL, NULL, 'c', 0)")
    conn.execute(
        "INSERT INTO results VALUES (0, 'digits', 'p', 0, 'digits/clean', 0.5, 'k', NULL, 'c', '0.1.0', "
        "'2.x', 'cpu', 'h', 0, 1, 1)"
    )
    conn.commit()
    conn.close()
    store = ResultStore(path)
    assert store.schema_version() == 2
    df = store.query()
    assert df.loc[0, "value"] == 0.5 and df.loc[0, "environment"] is None


def test_report_states_how_it_was_made_and_warns_on_small_n(tmp_path) -> None:
    from robnas.analysis.report import tau_noise_band, write_report

    cfg = _build(tmp_path)
    text = write_report(cfg.output, tmp_path / "r.html").read_text()
    assert "How this report was made" in text
    assert f"protocol {cfg.config_hash}" in text and "&quot;attacks&quot;" in text
    assert f"numpy {environment()['numpy']}" in text
    from robnas.store import ResultStore

    n_rows = ResultStore(cfg.output, readonly=True).counts()["results"]
    assert f"<dt>{n_rows} result rows on cpu" in text
    assert 'class="scroll"' in text and "overflow-x:auto" in text  # wide tables scroll in their box
    assert abs(tau_noise_band(20) - 0.316) < 0.002  # Kendall (1938) variance 2(2n+5)/(9n(n-1))


def test_small_n_warning() -> None:
    from robnas.analysis.report import _small_n_warning

    assert 'class="warn"' in _small_n_warning(20) and "0.32" in _small_n_warning(20)
    assert 'class="warn"' not in _small_n_warning(200)


def test_single_epsilon_attack_is_a_point(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fgsm at one epsilon is drawn as one marker, never as a line from epsilon 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.axes

    from robnas.analysis.report import _plots, summarise_store

    cfg = _build(tmp_path)
    lines: list[tuple[str, list[float]]] = []
    points: list[tuple[str, list[float]]] = []
    orig_plot, orig_err = matplotlib.axes.Axes.plot, matplotlib.axes.Axes.errorbar

    def plot(self, x, *a, **kw):  # type: ignore[no-untyped-def]
        lines.append((kw.get("label"), list(x)))
        return orig_plot(self, x, *a, **kw)

    def errorbar(self, x, *a, **kw):  # type: ignore[no-untyped-def]
        points.append((kw.get("label"), list(x)))
        return orig_err(self, x, *a, **kw)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", plot)
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", errorbar)
    _plots(summarise_store(cfg.output))
    assert ("pgd", [0.0, 2.0, 8.0]) in lines
    assert not any(label and label.startswith("fgsm") for label, _ in lines)
    assert points == [("fgsm (one epsilon)", [8.0])]


def test_python_api() -> None:
    import subprocess
    import sys

    # `import robnas` loads none of the heavy libraries
    code = "import robnas, sys; print(sorted(m for m in ('torch', 'numpy', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    import robnas

    a = robnas.Arch.parse(6111)
    assert repr(a).startswith("Arch(6111, '|nor_conv_3x3~0|")
    assert robnas.Arch.parse(eval(repr(a).removeprefix("Arch"))[0]) == a
    assert "get_source" in dir(robnas) and robnas.get_source.__module__.startswith("robnas.benchmarks")
    with pytest.raises(AttributeError):
        robnas.no_such_name  # noqa: B018


def test_query_accepts_one_metric_name(shared_data) -> None:
    import robnas

    jung = robnas.get_source("jung2023", shared_data)
    one = jung.query(6111, "cifar10/clean")
    assert list(one) == ["cifar10/clean"] and one == jung.query(6111, ["cifar10/clean"])
    assert repr(jung) == f"<jung2023: standard training, files found in {jung.folder}>"
