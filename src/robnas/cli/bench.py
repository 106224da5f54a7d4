"""``robnas bench``: query, export and compare robustness benchmarks (a thin layer over
:mod:`robnas.benchmarks` and :mod:`robnas.analysis`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from robnas.benchmarks import get_source, source_names
from robnas.benchmarks.metrics import Metric, format_epsilon

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Robustness benchmarks of NAS-Bench-201.")

ROOT = typer.Option(None, "--root", help="Data root (default: $ROBNAS_DATA or the per-user data directory).")
JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _num(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def summarize_metrics(metrics: list[Metric]) -> list[str]:
    """Compact lines such as ``cifar10: pgd@0.1,0.5,1,2,3,4,8`` (one per dataset and name)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for m in metrics:
        suffix = "" if m.quantity == "accuracy" else f"/{m.quantity}"
        if m.kind == "attack":
            name = m.name + ("" if m.norm == "linf" else f"-{m.norm}")
            groups.setdefault((m.dataset, name + "@", suffix), []).append(format_epsilon(m.epsilon or 0))
        elif m.severity is not None:
            groups.setdefault((m.dataset, m.name + "#", suffix), []).append(str(m.severity))
        else:
            groups.setdefault((m.dataset, m.name, suffix), [])
    lines: dict[str, list[str]] = {}
    for (ds, name, suffix), levels in groups.items():
        text = name + ",".join(levels) if levels else name
        lines.setdefault(ds, []).append(text + suffix)
    return [f"{ds}: {' '.join(items)}" for ds, items in lines.items()]


@app.command("list")
def list_sources(root: str = ROOT, as_json: bool = JSON) -> None:
    """Sources, their training regime, whether their files are found, and their metrics."""
    rows = []
    for name in source_names():
        src = get_source(name, root)
        ok = src.available()
        missing = [str(p) for p, found, req in src.files() if req and not found]
        metrics = [str(m) for m in src.metrics()] if ok else []
        rows.append(
            {
                "source": name,
                "regime": src.info.regime,
                "found": ok,
                "missing": missing,
                "n_metrics": len(metrics),
                "metrics": metrics,
                "title": src.info.title,
            }
        )
    if as_json:
        _echo_json(rows)
        return
    for r in rows:
        status = f"{r['n_metrics']} metrics" if r["found"] else f"files missing (first: {r['missing'][0]})"
        typer.echo(f"{r['source']:<15} {r['regime']:<12} {status}")
        typer.echo(f"{'':<15} {r['title']}")


@app.command("info")
def info(
    source: str = typer.Argument(..., help="Source name."), root: str = ROOT, as_json: bool = JSON
) -> None:
    """Metadata (citation, address, licence, training regime), files and metrics of a source."""
    src = get_source(source, root)
    desc = src.describe()
    desc["metrics"] = [str(m) for m in src.metrics()] if src.available() else []
    if as_json:
        _echo_json(desc)
        return
    for key in ("name", "title", "citation", "url", "licence", "training_regime", "protocol", "unit"):
        typer.echo(f"{key + ':':<17} {desc[key]}")
    typer.echo(f"{'isomorphs:':<17} {'share values' if desc['isomorphs_share_values'] else 'own values'}")
    if "notes" in desc:
        typer.echo(f"{'notes:':<17} {desc['notes']}")
    req = [f for f in desc["files"] if f["required"]]
    opt = [f for f in desc["files"] if not f["required"] and f["found"]]
    n_found = sum(f["found"] for f in req)
    typer.echo(f"{'files:':<17} {desc['folder']} ({n_found}/{len(req)} required, {len(opt)} optional found)")
    for f in req:
        if not f["found"]:
            typer.echo(f"  missing: {f['path']}")
    if desc["metrics"]:
        typer.echo(f"{'metrics:':<17} {len(desc['metrics'])}")
        for line in summarize_metrics(src.metrics()):
            typer.echo(f"  {line}")


@app.command("query")
def query(
    source: str = typer.Argument(..., help="Source name."),
    arch: str = typer.Argument(..., help="Index, uid or NAS-Bench-201 string."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Metric (repeatable); default: all."),
    root: str = ROOT,
    as_json: bool = JSON,
) -> None:
    """Values of one architecture."""
    from robnas.spaces.nb201 import Arch

    src = get_source(source, root)
    a = Arch.parse(arch)
    values = src.query(a, metric or None)
    if as_json:
        _echo_json(
            {
                "source": src.name,
                "regime": src.info.regime,
                "index": a.index,
                "uid": a.uid,
                "arch": a.string,
                "values": {k: _num(v) for k, v in values.items()},
            }
        )
        return
    typer.echo(f"{src.name} ({src.info.regime} training)  index {a.index}  uid {a.uid}  {a.string}")
    width = max(len(k) for k in values)
    for k, v in values.items():
        typer.echo(f"  {k:<{width}}  {'NaN' if not math.isfinite(v) else f'{v:.4f}'}")


@app.command("top")
def top(
    source: str = typer.Argument(..., help="Source name."),
    metric: str = typer.Option(..., "--metric", "-m", help="Metric to rank by."),
    k: int = typer.Option(10, "-k", help="How many architectures."),
    all_indices: bool = typer.Option(False, "--all-indices", help="Rank all 15,625 indices, not classes."),
    root: str = ROOT,
    as_json: bool = JSON,
) -> None:
    """The k best architectures by one metric."""
    src = get_source(source, root)
    df = src.top(metric, k, unique=not all_indices)
    if as_json:
        _echo_json(json.loads(df.to_json(orient="records")))
        return
    col = df.columns[-1]
    for r in df.itertuples(index=False):
        typer.echo(f"{r[0]:>3}  {r[1]:>5}  {r[4]:.4f}  {r[3]}")
    typer.echo(f"(rank, index, {col}, architecture; source {src.name}, {src.info.regime} training)")


@app.command("export")
def export(
    source: str = typer.Argument(..., help="Source name."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or parquet."),
    out: Path = typer.Option(None, "--out", "-o", help="Output file (default: SOURCE.FORMAT)."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Metric (repeatable); default: all."),
    all_indices: bool = typer.Option(False, "--all-indices", help="All 15,625 indices, not only classes."),
    root: str = ROOT,
) -> None:
    """Write a source as a table: index, uid, arch, one column per metric."""
    fmt = fmt.lower()
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}; choose csv or parquet")
    src = get_source(source, root)
    df = src.frame(metric or None, unique=not all_indices, arch_columns=True)
    path = out or Path(f"{src.name}.{fmt}")
    from robnas.checks import writing

    with writing(path, "the table"):
        if fmt == "csv":
            df.to_csv(path)
        else:
            try:
                df.to_parquet(path)
            except ImportError:
                raise ValueError("parquet export needs pyarrow: pip install 'robnas[parquet]'") from None
    typer.echo(f"wrote {len(df)} architectures x {df.shape[1] - 2} metrics to {path}")


@app.command("correlate")
def correlate(
    specs: list[str] = typer.Argument(..., help="Columns as SOURCE:METRIC (two or more)."),
    heatmap: Path = typer.Option(
        None, "--heatmap", help="Write a heat-map PNG of Kendall tau and Spearman rho."
    ),
    all_indices: bool = typer.Option(False, "--all-indices", help="Use all 15,625 indices, not classes."),
    root: str = ROOT,
    as_json: bool = JSON,
) -> None:
    """Kendall tau and Spearman rho between metrics, within and across sources."""
    from robnas.analysis.correlation import correlate as _correlate

    res = _correlate(specs, root=root, unique=not all_indices)
    pairs = res.long()
    if as_json:
        _echo_json(json.loads(pairs.to_json(orient="records")))
    else:
        w = max(len(s) for s in res.tau.columns)
        for r in pairs.itertuples(index=False):
            typer.echo(
                f"{r.a:<{w}}  {r.b:<{w}}  tau {r.kendall_tau:+.4f}  rho {r.spearman_rho:+.4f}  n {r.n}"
            )
    if heatmap is not None:
        from robnas.analysis.plots import heatmap as _heatmap

        stem = heatmap.with_suffix("")
        p1 = _heatmap(res.tau, f"{stem}-kendall.png", "Kendall tau")
        p2 = _heatmap(res.rho, f"{stem}-spearman.png", "Spearman rho")
        typer.echo(f"wrote {p1} and {p2}", err=as_json)


@app.command("plot")
def plot(
    x: str = typer.Argument(
        ..., help="SOURCE:METRIC on the y axis of the parameter plot, or x of a scatter."
    ),
    y: str = typer.Argument(None, help="Second SOURCE:METRIC: draw a scatter of x against y."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    root: str = ROOT,
) -> None:
    """A scatter of two metrics, or (one metric) accuracy vs. parameter count with per-count spread."""
    from robnas.analysis import plots
    from robnas.benchmarks import frame

    if y is not None:
        df = frame([x, y], root=root)
        path = plots.scatter(df, df.columns[0], df.columns[1], out)
        typer.echo(f"wrote {path} ({len(df.dropna())} architectures)")
        return
    from robnas.analysis.params import param_counts
    from robnas.analysis.robustness import same_params_spread
    from robnas.benchmarks import split_spec

    name, metric = split_spec(x)
    src = get_source(name, root)
    vals = src.values(metric)
    params = param_counts(metric.dataset)
    idx = src.unique_indices()
    path = plots.accuracy_vs_params(params[idx], vals[idx], out, ylabel=f"{name}:{metric}")
    typer.echo(f"wrote {path}")
    spread = same_params_spread(vals, params, idx).head(5)
    typer.echo("largest groups of equal parameter count (params, n, min, max, spread):")
    for p, r in spread.iterrows():
        typer.echo(f"  {p:>9,}  {int(r['count']):>4}  {r['min']:.3f}  {r['max']:.3f}  {r['spread']:.3f}")
