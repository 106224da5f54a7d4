"""``robnas bench``: query, export and compare robustness benchmarks (a thin layer over
:mod:`robnas.benchmarks` and :mod:`robnas.analysis`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from robnas.benchmarks import BenchmarkSource, get_source, source_names
from robnas.benchmarks.metrics import Metric, format_epsilon
from robnas.errors import ConfigError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Robustness benchmarks of NAS-Bench-201.")

ROOT = typer.Option(None, "--root", help="Data root (default: $ROBNAS_DATA or the per-user data directory).")
JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")
PROTOCOL = typer.Option(
    None,
    "--protocol",
    help="For a results store holding several protocols: a protocol hash (or a unique prefix) or "
    "'latest'. Results of different protocols are never averaged.",
)


def _source(name: str, root: str | None, protocol: str | None = None) -> BenchmarkSource:
    """``get_source`` with ``--protocol`` (a non-store source refuses a protocol in words)."""
    return get_source(name, root, protocol=protocol)


def _regimes(specs: list[str], root: str | None, protocol: str | None) -> str:
    """``"jung2023: standard, store: adversarial"`` for the sources named in SOURCE:METRIC specs."""
    from robnas.benchmarks import split_spec

    names = dict.fromkeys(split_spec(s)[0] for s in specs)
    return ", ".join(
        f"{n}: {_source(n, root, protocol if n == 'store' else None).info.regime}" for n in names
    )


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
def list_sources(root: str = ROOT, protocol: str = PROTOCOL, as_json: bool = JSON) -> None:
    """Sources, their training regime, whether their files are found, and their metrics."""
    rows: list[dict[str, Any]] = []
    for name in source_names():
        src = _source(name, root, protocol if name == "store" else None)
        ok = src.available()
        missing = [str(p) for p, found, req in src.files() if req and not found]
        try:
            metrics = [str(m) for m in src.metrics()] if ok else []
        except ConfigError as exc:  # a store with several protocols and none chosen
            metrics, missing = [], [str(exc)]
            ok = False
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
        typer.echo(f"{r['source']:<15} {r['regime']:<15} {status}")
        typer.echo(f"{'':<15} {r['title']}")


@app.command("info")
def info(
    source: str = typer.Argument(..., help="Source name."),
    root: str = ROOT,
    protocol: str = PROTOCOL,
    as_json: bool = JSON,
) -> None:
    """Metadata (citation, address, licence, training regime), files and metrics of a source."""
    src = _source(source, root, protocol)
    desc = src.describe()
    choose = ""
    try:
        desc["metrics"] = [str(m) for m in src.metrics()] if src.available() else []
    except ConfigError as exc:  # a store holding several protocols, none chosen
        desc["metrics"], choose = [], str(exc)
    if as_json:
        _echo_json(desc)
        return
    for key in ("name", "title", "citation", "url", "licence", "training_regime", "protocol", "unit"):
        typer.echo(f"{key + ':':<17} {desc[key]}")
    typer.echo(f"{'isomorphs:':<17} {'share values' if desc['isomorphs_share_values'] else 'own values'}")
    if "notes" in desc:
        typer.echo(f"{'notes:':<17} {desc['notes']}")
    typer.echo(f"{'reads:':<17} {desc['reads']}")
    if src.available() and not choose and src.seeds():
        typer.echo(
            f"{'seeds:':<17} {', '.join(src.seeds())} (--seed N, mean or all; spread: METRIC/seed-std)"
        )
    req = [f for f in desc["files"] if f["required"]]
    opt = [f for f in desc["files"] if not f["required"] and f["found"]]
    n_found = sum(f["found"] for f in req)
    typer.echo(f"{'files:':<17} {desc['folder']} ({n_found}/{len(req)} required, {len(opt)} optional found)")
    for f in req:
        if not f["found"]:
            typer.echo(f"  missing: {f['path']}")
    for p in desc.get("protocols", []):
        mark = "*" if p["protocol"] == desc.get("chosen_protocol") else " "
        typer.echo(
            f" {mark}protocol {p['protocol']}  {p['regime']} ({p.get('objective')}, "
            f"preset {p.get('preset')}, {p.get('epochs')} epochs)  {p.get('dataset')}  {p['results']} results"
        )
    if choose:
        typer.echo(f"{'metrics:':<17} {choose}")
    if desc["metrics"]:
        typer.echo(f"{'metrics:':<17} {len(desc['metrics'])}")
        for line in summarize_metrics(src.metrics()):
            typer.echo(f"  {line}")


SEED = typer.Option(
    "mean",
    "--seed",
    help="Training seed of sources with per-seed values (NAS-RobBench-201's release): "
    "a seed such as 1, 'mean' (default) or 'all' (query only).",
)


def _fmt(v: float) -> str:
    return "NaN" if not math.isfinite(v) else f"{v:.4f}"


@app.command("query")
def query(
    source: str = typer.Argument(..., help="Source name."),
    arch: str = typer.Argument(..., help="Index, uid or NAS-Bench-201 string."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Metric (repeatable); default: all."),
    seed: str = SEED,
    root: str = ROOT,
    protocol: str = PROTOCOL,
    as_json: bool = JSON,
) -> None:
    """Values of one architecture (one seed, the seed mean, or every seed with their spread)."""
    from robnas.spaces.nb201 import Arch

    src = _source(source, root, protocol)
    a = Arch.parse(arch)
    head = {
        "source": src.name,
        "regime": src.info.regime,
        "reads": src.reading(),
        "index": a.index,
        "uid": a.uid,
        "arch": a.string,
    }
    all_seeds = seed.strip().lower() == "all"
    if all_seeds:
        src._seed(src.seeds()[0] if src.seeds() else "1")  # refuses a source without seeds, in words
        per = src.query_seeds(a, metric or None)
        std = src.query(a, [f"{k}/seed-std" for k in per if src.has(f"{k}/seed-std")])
        for k, by_seed in per.items():
            if f"{k}/seed-std" in std:
                by_seed["std"] = std[f"{k}/seed-std"]
        if as_json:
            _echo_json(
                {
                    **head,
                    "seed": "all",
                    "values": {k: {s: _num(v) for s, v in d.items()} for k, d in per.items()},
                }
            )
            return
        typer.echo(f"{src.name} ({src.info.regime} training)  index {a.index}  uid {a.uid}  {a.string}")
        typer.echo(f"  reads {src.reading()}")
        labels = [f"seed {s}" for s in src.seeds()] + ["mean", "std"]
        width = max(len(k) for k in per)
        typer.echo(f"  {'':<{width}}  " + "  ".join(f"{lab:>7}" for lab in labels))
        for k, by_seed in per.items():
            cells = [by_seed.get(s) for s in [*src.seeds(), "mean", "std"]]
            typer.echo(f"  {k:<{width}}  " + "  ".join(f"{'-' if v is None else _fmt(v):>7}" for v in cells))
        return
    values = src.query(a, metric or None, seed=seed)
    label = src._seed(seed)
    if as_json:
        _echo_json({**head, "seed": label, "values": {k: _num(v) for k, v in values.items()}})
        return
    which = (
        "mean over seeds" if label == "mean" and src.seeds() else ("seed " + label if label != "mean" else "")
    )
    typer.echo(f"{src.name} ({src.info.regime} training)  index {a.index}  uid {a.uid}  {a.string}")
    typer.echo(f"  reads {src.reading()}" + (f"; {which}" if which else ""))
    width = max(len(k) for k in values)
    for k, v in values.items():
        typer.echo(f"  {k:<{width}}  {_fmt(v)}")


@app.command("cm")
def confusion(
    source: str = typer.Argument(..., help="Source name (jung2023 publishes confusion matrices)."),
    arch: str = typer.Argument(..., help="Index, uid or NAS-Bench-201 string."),
    metric: str = typer.Option("cifar10/clean", "--metric", "-m", help="e.g. cifar10/clean, cifar10/pgd@8."),
    root: str = ROOT,
    as_json: bool = JSON,
) -> None:
    """Confusion matrix (rows: true class, columns: predicted class; counts) of one architecture."""
    from robnas.spaces.nb201 import Arch

    src = get_source(source, root)
    if not hasattr(src, "confusion_matrix"):
        raise ConfigError(f"{src.name} publishes no confusion matrices (jung2023 does)")
    a = Arch.parse(arch)
    cm = src.confusion_matrix(a, metric)
    if as_json:
        _echo_json(
            {
                "source": src.name,
                "regime": src.info.regime,
                "index": a.index,
                "uid": a.uid,
                "metric": str(metric),
                "confusion_matrix": cm.tolist(),
            }
        )
        return
    total = int(cm.sum())
    correct = int(cm.trace())
    typer.echo(f"{src.name} ({src.info.regime} training)  index {a.index}  uid {a.uid}  {metric}")
    typer.echo(f"rows: true class, columns: predicted class; accuracy {correct}/{total}")
    width = max(len(str(int(cm.max()))), 3)
    typer.echo("     " + " ".join(f"{j:>{width}}" for j in range(cm.shape[1])))
    for i, row in enumerate(cm):
        typer.echo(f"{i:>4} " + " ".join(f"{int(v):>{width}}" for v in row))


@app.command("convert")
def convert(
    source: str = typer.Argument(..., help="Source name, e.g. natsbench."),
    root: str = ROOT,
    as_json: bool = JSON,
) -> None:
    """Read a source's released files again and write its compact binary cache (.npy + .json)."""
    src = get_source(source, root)
    if source.strip().lower() == "store":
        raise ConfigError("the store is read live from its database; it has no cache to convert")
    table = src.load(refresh=True)
    npy, meta = src.cache_paths()
    written = npy.is_file() and meta.is_file()
    out = {
        "source": src.name,
        "reads": src.reading(),
        "metrics": len(table.rows),
        "cache": [str(npy), str(meta)] if written else [],
    }
    if as_json:
        _echo_json(out)
        return
    typer.echo(f"{src.name}: read {src.reading()}; {out['metrics']} metrics")
    if written:
        typer.echo(f"wrote {npy} and {meta}")
    else:
        typer.echo(f"could not write the cache beside {npy} (read-only?); queries will convert again")


@app.command("download")
def download_release(
    source: str = typer.Argument(..., help="Source name, e.g. jung2023."),
    root: str = ROOT,
    mirror: str = typer.Option(
        None,
        "--mirror",
        help="Fetch the files from this address instead (file:///dir/ or https://host/dir/).",
    ),
    sha256: list[str] = typer.Option(
        None, "--sha256", help="FILE=HEX: require this SHA-256 for a file (repeatable)."
    ),
    as_json: bool = JSON,
) -> None:
    """Fetch a release from its authors' address (or say which files to put where)."""
    from robnas.benchmarks.download import download

    checks = {}
    for item in sha256 or []:
        name, sep, digest = item.partition("=")
        if not sep or len(digest.strip()) != 64:
            raise ConfigError(f"--sha256 takes FILE=HEX (64 hex digits), got {item!r}")
        checks[name.strip()] = digest.strip().lower()
    res = download(source, root, mirror=mirror, sha256=checks)
    if as_json:
        _echo_json(res)
        return
    for f in res["files"]:
        note = "checked" if f["checked"] else "no published checksum; recorded"
        typer.echo(f"fetched {f['url']} ({f['bytes']:,} bytes, SHA-256 {f['sha256'][:16]}..., {note})")
    state = "ready" if res["available"] else "still incomplete (see `robnas bench info`)"
    typer.echo(f"{res['source']}: {res['folder']} {state}; manifest: download-manifest.json")


@app.command("top")
def top(
    source: str = typer.Argument(..., help="Source name."),
    metric: str = typer.Option(..., "--metric", "-m", help="Metric to rank by."),
    k: int = typer.Option(10, "-k", help="How many architectures."),
    all_indices: bool = typer.Option(False, "--all-indices", help="Rank all 15,625 indices, not classes."),
    seed: str = SEED,
    root: str = ROOT,
    protocol: str = PROTOCOL,
    as_json: bool = JSON,
) -> None:
    """The k best architectures by one metric."""
    src = _source(source, root, protocol)
    df = src.top(metric, k, unique=not all_indices, seed=seed)
    if as_json:
        _echo_json(json.loads(df.to_json(orient="records")))
        return
    col = df.columns[-1]
    for r in df.itertuples(index=False):
        typer.echo(f"{r[0]:>3}  {r[1]:>5}  {r[4]:.4f}  {r[3]}")
    which = "" if src._seed(seed) == "mean" else f", seed {src._seed(seed)}"
    typer.echo(f"(rank, index, {col}, architecture; source {src.name}, {src.info.regime} training{which})")


@app.command("export")
def export(
    source: str = typer.Argument(..., help="Source name."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or parquet."),
    out: Path = typer.Option(None, "--out", "-o", help="Output file (default: SOURCE.FORMAT)."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Metric (repeatable); default: all."),
    all_indices: bool = typer.Option(False, "--all-indices", help="All 15,625 indices, not only classes."),
    seed: str = SEED,
    root: str = ROOT,
    protocol: str = PROTOCOL,
) -> None:
    """Write a source as a table: index, uid, arch, one column per metric."""
    fmt = fmt.lower()
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}; choose csv or parquet")
    src = _source(source, root, protocol)
    df = src.frame(metric or None, unique=not all_indices, arch_columns=True, seed=seed)
    path = out or Path(f"{src.name}.{fmt}")
    if fmt == "csv":
        df.to_csv(path)
    else:
        try:
            df.to_parquet(path)
        except ImportError:
            raise ValueError("parquet export needs pyarrow: pip install 'robnas[parquet]'") from None
    typer.echo(
        f"wrote {len(df)} architectures x {df.shape[1] - 2} metrics to {path} "
        f"(source {src.name}, {src.info.regime} training)"
    )


@app.command("correlate")
def correlate(
    specs: list[str] = typer.Argument(..., help="Columns as SOURCE:METRIC (two or more)."),
    heatmap: Path = typer.Option(
        None, "--heatmap", help="Write a heat-map PNG of Kendall tau and Spearman rho."
    ),
    all_indices: bool = typer.Option(False, "--all-indices", help="Use all 15,625 indices, not classes."),
    root: str = ROOT,
    protocol: str = PROTOCOL,
    as_json: bool = JSON,
) -> None:
    """Kendall tau and Spearman rho between metrics, within and across sources."""
    from robnas.analysis.correlation import rank_correlations
    from robnas.benchmarks import frame

    if len(specs) < 2:
        raise ConfigError("correlate needs at least two SOURCE:METRIC columns")
    res = rank_correlations(frame(specs, root=root, unique=not all_indices, protocol=protocol))
    pairs = res.long()
    if as_json:
        _echo_json(json.loads(pairs.to_json(orient="records")))
    else:
        w = max(len(s) for s in res.tau.columns)
        for r in pairs.itertuples(index=False):
            typer.echo(
                f"{r.a:<{w}}  {r.b:<{w}}  tau {r.kendall_tau:+.4f}  rho {r.spearman_rho:+.4f}  n {r.n}"
            )
        typer.echo(f"(training regimes: {_regimes(specs, root, protocol)})")
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
    protocol: str = PROTOCOL,
) -> None:
    """A scatter of two metrics, or (one metric) accuracy vs. parameter count with per-count spread."""
    from robnas.analysis import plots
    from robnas.benchmarks import frame

    if y is not None:
        df = frame([x, y], root=root, protocol=protocol)
        path = plots.scatter(df, df.columns[0], df.columns[1], out)
        regimes = _regimes([x, y], root, protocol)
        typer.echo(f"wrote {path} ({len(df.dropna())} architectures; training regimes: {regimes})")
        return
    from robnas.analysis.params import param_counts
    from robnas.analysis.robustness import same_params_spread
    from robnas.benchmarks import split_spec

    name, metric = split_spec(x)
    src = _source(name, root, protocol if name == "store" else None)
    vals = src.values(metric)
    params = param_counts(metric.dataset)
    idx = src.unique_indices()
    path = plots.accuracy_vs_params(params[idx], vals[idx], out, ylabel=f"{name}:{metric}")
    typer.echo(f"wrote {path} (source {name}, {src.info.regime} training)")
    spread = same_params_spread(vals, params, idx).head(5)
    typer.echo("largest groups of equal parameter count (params, n, min, max, spread):")
    for p, r in spread.iterrows():
        typer.echo(f"  {p:>9,}  {int(r['count']):>4}  {r['min']:.3f}  {r['max']:.3f}  {r['spread']:.3f}")
