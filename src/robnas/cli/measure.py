"""``robnas measure``: architecture measures at initialisation or on a trained checkpoint (a
thin layer over :mod:`robnas.measures`).

``robnas measure --archs sample:500 --out FILE`` computes the default measures at initialisation
and appends rows (resumable); ``robnas measure --checkpoint RUN_DIR`` measures a trained network
with its own BatchNorm statistics; ``robnas measure correlate FILE`` correlates a CSV or a
builder store with the benchmarks; ``robnas measure list`` lists the registry. Large studies run
as builds (``kind: measure``, see ``robnas build``).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

from robnas.cli._output import echo_json, json_option, plain_option, table
from robnas.errors import ConfigError
from robnas.progress import make_progress

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Architecture measures at initialisation (--archs) or of a trained checkpoint (--checkpoint).",
)
err_console = Console(stderr=True)


def _epsilon_options(eps: float | None, attack: str | None) -> dict[str, dict[str, object]]:
    from robnas.measures import available_measures

    opts: dict[str, dict[str, object]] = {}
    if eps is None and attack is None:
        return opts
    if eps is not None and not 0 <= eps <= 255:
        raise ConfigError(f"--eps is in units of 1/255 and must lie in 0..255, got {eps}")
    for name in available_measures():
        if name.startswith("ntk_") and name != "ntk":
            opts[name] = {}
            if eps is not None:
                opts[name]["eps"] = eps / 255
            if attack is not None:
                opts[name]["attack"] = attack
    return opts


def _parse_set(item: str) -> tuple[str, str, object]:
    from robnas.measures import get_measure

    left, sep, value = item.partition("=")
    measure, dot, key = left.partition(".")
    if not sep or not dot or not key:
        raise ConfigError(f"--set needs MEASURE.OPTION=VALUE, e.g. hessian.max_iter=10, got {item!r}")
    get_measure(measure)
    parsed: object = value
    for cast in (int, float):
        try:
            parsed = cast(value)
            break
        except ValueError:
            continue
    return measure.strip(), key.strip(), parsed


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    measures: str = typer.Option(
        "default", "--measures", "-m", help="Comma-separated measure names, default or all."
    ),
    archs: str = typer.Option(
        "sample:10", "--archs", help="all or unique (the 6,466 classes), sample:N or indices 0,1,2."
    ),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="Measure this trained network (a robnas train run dir or checkpoint.pt)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    dataset: str = typer.Option("cifar10", "--dataset", help="Dataset of the batch."),
    batch: int = typer.Option(64, "--batch", help="Images in the batch (stratified, seeded)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the batch, the network and the attacks."),
    C: int = typer.Option(16, "--C", help="Channels of the first stage (NAS-Bench-201: 16)."),
    N: int = typer.Option(5, "--N", help="Cells per stage (NAS-Bench-201: 5)."),
    eps: float = typer.Option(None, "--eps", help="NTK perturbation radius in 1/255 units (default 8)."),
    attack: str = typer.Option(None, "--attack", help="NTK perturbation: pgd (default, PGD-7) or fgsm."),
    sets: list[str] = typer.Option(
        None, "--set", help="A measure option, e.g. hessian.max_iter=10 (repeatable)."
    ),
    out: Path = typer.Option(Path("measures.csv"), "--out", help="CSV to append to (resumable)."),
    workers: int = typer.Option(1, "--workers", help="Local worker processes (one torch thread each)."),
    root: str = typer.Option(None, "--root", help="Data root (default: $ROBNAS_DATA or the user directory)."),
    as_json: bool = json_option("Print a JSON summary at the end (progress goes to standard error)."),
) -> None:
    """Compute measures for many architectures, one CSV row each as it finishes (resumable), or
    for one trained checkpoint.

    ``robnas measure --archs sample:500 --out FILE`` (measures at initialisation);
    ``robnas measure --checkpoint RUN_DIR --dataset cifar10`` (a trained network, BatchNorm as
    trained); the subcommands ``list`` and ``correlate`` do the rest.
    """
    if ctx.invoked_subcommand is not None:
        return
    from robnas.checks import check_range, check_seed
    from robnas.measures import parse_measures
    from robnas.measures.study import (
        MeasureJob,
        check_job,
        done_indices,
        prepare_output,
        run_measures,
        select_archs,
    )

    check_seed(seed)
    check_range(C, "--C (channels)", 1, 4096)
    check_range(N, "--N (cells per stage)", 0, 256)
    check_range(batch, "--batch", 1, 100_000)
    names = parse_measures(measures)
    if checkpoint is not None:
        _measure_checkpoint(checkpoint, names, dataset, batch, seed, device, root, as_json, eps, attack, sets)
        return
    indices = select_archs(archs, seed)
    options = _epsilon_options(eps, attack)
    for item in sets or []:
        measure, key, value = _parse_set(item)
        options.setdefault(measure, {})[key] = value
    job = MeasureJob(names, dataset, batch, seed, C, N, root, options, device)
    check_job(job, workers)  # bad input fails here, before any output
    prepare_output(out)
    already = len(done_indices(out, job) & set(indices))
    todo = len(indices) - already
    err_console.print(f"{len(indices)} architectures, {already} already in {out}, {todo} to measure")
    with make_progress(
        TextColumn("[bold]measures"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task("measures", total=todo, last="")
        n = run_measures(
            indices,
            job,
            out,
            workers,
            on_row=lambda r: progress.update(task, advance=1, last=f"#{r['index']} {r['seconds']:.1f}s"),
        )
    if as_json:
        echo_json({"out": out, "architectures": len(indices), "already": already, "written": n})
        return
    err_console.print(f"wrote {n} rows to {out}")


def _measure_checkpoint(
    path: Path,
    names: list[str],
    dataset: str,
    batch: int,
    seed: int,
    device: str,
    root: str | None,
    as_json: bool,
    eps: float | None,
    attack: str | None,
    sets: list[str] | None,
) -> None:
    from robnas.measures import load_trained, measure_batch, measure_trained
    from robnas.measures.study import resolve_device

    dev = resolve_device(device)
    model, ckpt = load_trained(path, dev)
    x, y, _ = measure_batch(dataset, batch, seed, root)
    options = _epsilon_options(eps, attack)
    for item in sets or []:
        measure, key, value = _parse_set(item)
        options.setdefault(measure, {})[key] = value
    values = measure_trained(names, model, x.to(dev), y.to(dev), seed=seed, options=options)
    if as_json:
        echo_json({"checkpoint": str(path), "dataset": dataset, "batch": batch, "values": values})
        return
    arch = (ckpt.get("network") or {}).get("arch", "?")
    err_console.print(f"{path}: {arch}, BatchNorm as trained, {batch} {dataset} train images (seed {seed})")
    for k, v in values.items():
        typer.echo(f"{k:<24} {v:.6g}")


@app.command("list")
def list_measures(as_json: bool = json_option(), plain: bool = plain_option()) -> None:
    """The registered measures, their BatchNorm mode and paper (* = in the default set)."""
    from robnas.measures import DEFAULT_MEASURES, measure_table

    rows = [dict(m, default=m["name"] in DEFAULT_MEASURES) for m in measure_table()]
    if as_json:
        echo_json(rows)
        return
    if plain:
        table(
            ("name", "default", "bn", "help", "paper"),
            [(m["name"], m["default"], m["bn"], m["help"], m["paper"]) for m in rows],
            plain=True,
        )
        return
    for m in rows:
        star = "*" if m["default"] else " "
        typer.echo(f"{star} {m['name']:<18} {m['bn']:<11} {m['help']}  [{m['paper']}]")


@app.command("correlate")
def correlate(
    file: Path = typer.Argument(
        ..., help="A measure CSV (robnas measure --out FILE) or a builder store of kind: measure."
    ),
    bench: list[str] = typer.Option(None, "--bench", help="Benchmark source (repeatable); default both."),
    metric: list[str] = typer.Option(None, "--metric", help="Metrics to use (default: a standard set)."),
    heatmap: Path = typer.Option(None, "--heatmap", help="Write a Kendall-tau heat-map PNG."),
    out: Path = typer.Option(None, "--out", help="Write the long correlation table as CSV."),
    boot: int = typer.Option(1000, "--boot", help="Bootstrap resamples of the 95% CI (0: none)."),
    root: str = typer.Option(None, "--root", help="Data root of the benchmark files."),
    as_json: bool = json_option("Print the long correlation table as JSON."),
) -> None:
    """Kendall tau (95% bootstrap CI) and Spearman rho of every measure against benchmark metrics."""
    import math

    from robnas.measures.study import DEFAULT_TARGETS, correlation_table

    sources = bench or ["jung2023", "nasrobbench201"]
    targets = {}
    for s in sources:
        if s not in DEFAULT_TARGETS and not metric:
            raise ConfigError(f"no default metrics for source {s!r}; give --metric")
        targets[s] = list(metric) if metric else DEFAULT_TARGETS[s]
    if boot < 0:
        raise ValueError(f"--boot must be 0 or more, got {boot}")
    long = correlation_table(file, targets, root, n_boot=boot)
    if out is not None:
        from robnas.checks import writing

        with writing(out, "the correlation table"):
            out.parent.mkdir(parents=True, exist_ok=True)
            long.to_csv(out, index=False, float_format="%.4f")
    if heatmap is not None:
        from robnas.measures.study import correlation_heatmap

        tau = long.pivot(index="measure", columns="target", values="kendall_tau")
        tau = tau.loc[list(dict.fromkeys(long["measure"])), list(dict.fromkeys(long["target"]))]
        correlation_heatmap(
            tau, heatmap, title=f"Kendall tau: measures vs benchmarks (n={int(long['n'].max())})"
        )
    if as_json:
        echo_json(long)
        return
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"{file}: Kendall tau with 95% bootstrap CI ({boot} resamples)")
    for col in ("measure", "target", "n", "tau", "95% CI", "rho"):
        t.add_column(col, justify="left" if col in ("measure", "target") else "right")
    for r in long.itertuples():
        ci = f"[{r.tau_lo:+.2f}, {r.tau_hi:+.2f}]" if math.isfinite(r.tau_lo) else ""
        t.add_row(
            Text(str(r.measure)),
            Text(str(r.target)),
            str(r.n),
            f"{r.kendall_tau:+.3f}",
            ci,
            f"{r.spearman_rho:+.3f}",
        )
    Console(width=max(100, Console().width)).print(t)
