"""``robnas measure``: architecture measures at initialisation (as a build of kind ``measure``)
or on a trained checkpoint (a thin layer over :mod:`robnas.measures` and :mod:`robnas.runner`).

``robnas measure --archs sample:500 --out FILE.csv`` builds the measures at initialisation into a
results store (``--store``, default ``FILE.sqlite`` beside ``--out``, else ``measures.sqlite``),
with the builder's resumption (rerun the same command), retries, provenance and executors
(``--workers``, ``--executor ray``), then exports the store as a CSV table;
``robnas measure --checkpoint RUN_DIR`` measures a trained network with its own BatchNorm
statistics; ``robnas measure correlate FILE`` correlates a CSV or a store with the benchmarks;
``robnas measure list`` lists the registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from robnas.cli._output import echo_json, json_option, plain_option, table
from robnas.errors import ConfigError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Architecture measures at initialisation (--archs, a build) or of a trained network (--checkpoint).",
)
err_console = Console(stderr=True)


def _epsilon_options(
    eps: float | None, attack: str | None, names: list[str] | None = None
) -> dict[str, dict[str, object]]:
    """Options of the NTK perturbation (``ntk_*`` measures among ``names``, or all of them)."""
    from robnas.measures import available_measures

    opts: dict[str, dict[str, object]] = {}
    if eps is None and attack is None:
        return opts
    if eps is not None and not 0 <= eps <= 255:
        raise ConfigError(f"--eps is in units of 1/255 and must lie in 0..255, got {eps}")
    for name in names if names is not None else available_measures():
        if name.startswith("ntk_") and name != "ntk":
            opts[name] = {}
            if eps is not None:
                opts[name]["eps"] = eps / 255
            if attack is not None:
                opts[name]["attack"] = attack
    if not opts:
        raise ConfigError(
            "--eps and --attack set the perturbation of the ntk_* measures, and none is selected; "
            "add one with --measures (e.g. ntk_adv)"
        )
    return opts


def _parse_set(item: str) -> tuple[str, str, object]:
    from robnas.measures import get_measure

    left, sep, value = item.partition("=")
    measure, dot, key = left.partition(".")
    if not sep or not dot or not key:
        raise ConfigError(f"--set needs MEASURE.OPTION=VALUE, e.g. hessian.max_iter=10, got {item!r}")
    name = get_measure(measure).name
    parsed: object = value
    for cast in (int, float):
        try:
            parsed = cast(value)
            break
        except ValueError:
            continue
    return name, key.strip(), parsed


def _measure_options(
    eps: float | None, attack: str | None, sets: list[str] | None, names: list[str] | None = None
) -> dict[str, dict[str, object]]:
    options = _epsilon_options(eps, attack, names)
    for item in sets or []:
        measure, key, value = _parse_set(item)
        options.setdefault(measure, {})[key] = value
    return options


OPTION_OF_FIELD = {
    "architectures": "--archs",
    "sample_seed": "--seed",
    "seeds": "--seed",
    "dataset": "--dataset",
    "root": "--root",
    "model": "--C/--N",
    "model.C": "--C",
    "model.N": "--N",
    "measures": "--measures",
    "measure_options": "--set/--eps/--attack",
    "eval": "--batch",
    "output": "--store",
    "device": "--device",
}
"""The ``robnas measure`` option of each build-configuration field it sets."""


@contextmanager
def _as_options() -> Iterator[None]:
    """A build-configuration error (``build config: FIELD: ...``) named by the option that set
    the field, so the one-line message speaks of ``--archs`` rather than ``architectures``."""
    try:
        yield
    except ConfigError as exc:
        m = re.match(r"build config: ([\w.]+): (.*)", str(exc), re.DOTALL)
        if m is None or m[1] not in OPTION_OF_FIELD:
            raise
        raise ConfigError(f"{OPTION_OF_FIELD[m[1]]}: {m[2]}") from None


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    measures: str = typer.Option(
        "default", "--measures", "-m", help="Comma-separated measure names, default or all."
    ),
    archs: str = typer.Option(
        "sample:10",
        "--archs",
        help="Architectures, as in robnas build: all or unique (the 6,466 classes), sample:N, "
        "indices 5,17,123 or a NAS-Bench-201 string. Each runs as its class representative (uid).",
    ),
    checkpoint: Path = typer.Option(
        None, "--checkpoint", help="Measure this trained network (a robnas train run dir or checkpoint.pt)."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    dataset: str = typer.Option("cifar10", "--dataset", help="Dataset of the batch."),
    batch: int = typer.Option(64, "--batch", help="Images in the batch (stratified, seeded)."),
    seeds: list[int] = typer.Option(
        None,
        "--seed",
        help="Seed of the batch, the network and the attacks (default 0); repeat for several "
        "(--seed 0 --seed 1: a job per architecture and seed). The first one also draws sample:N.",
    ),
    C: int = typer.Option(16, "--C", help="Channels of the first stage (NAS-Bench-201: 16)."),
    N: int = typer.Option(5, "--N", help="Cells per stage (NAS-Bench-201: 5)."),
    eps: float = typer.Option(None, "--eps", help="NTK perturbation radius in 1/255 units (default 8)."),
    attack: str = typer.Option(None, "--attack", help="NTK perturbation: pgd (default, PGD-7) or fgsm."),
    sets: list[str] = typer.Option(
        None, "--set", help="A measure option, e.g. hessian.max_iter=10 (repeatable)."
    ),
    store: Path = typer.Option(
        None,
        "--store",
        help="Results database of the build (default: FILE.sqlite beside --out FILE.csv, else "
        "measures.sqlite). Rerun the same command to resume: finished jobs are skipped.",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        help="After the build, export the store as this CSV: one row per architecture (and seed), "
        "measure columns and provenance.",
    ),
    executor: str = typer.Option("local", "--executor", "-e", help="Where jobs run: local or ray."),
    workers: int = typer.Option(
        None, "--workers", "-w", help="Jobs in flight (local: processes, default 1; ray: default all CPUs)."
    ),
    address: str = typer.Option(
        None, "--address", help="Ray cluster address (auto = the running cluster); ray executor only."
    ),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Try again jobs that failed too often in earlier runs."
    ),
    root: str = typer.Option(None, "--root", help="Data root (default: $ROBNAS_DATA or the user directory)."),
    as_json: bool = json_option("Print a JSON report at the end (progress goes to standard error)."),
) -> None:
    """Build measures at initialisation for many architectures into a store (resumable), or
    measure one trained checkpoint.

    ``robnas measure --archs sample:500 --out FILE.csv`` (a build of kind measure into
    FILE.sqlite, then its CSV); ``robnas measure --checkpoint RUN_DIR --dataset cifar10`` (a
    trained network, BatchNorm as trained); the subcommands ``list`` and ``correlate`` do the rest.
    """
    if ctx.invoked_subcommand is not None:
        return
    from robnas.checks import check_range, check_seed
    from robnas.measures import parse_measures

    seeds = list(seeds or [0])
    for s in seeds:
        check_seed(s)
    check_range(C, "--C (channels)", 1, 4096)
    check_range(N, "--N (cells per stage)", 1, 256)
    check_range(batch, "--batch", 2, 100_000)
    names = parse_measures(measures)
    if checkpoint is not None:
        if len(seeds) > 1:
            raise ConfigError("--checkpoint measures one network: give one --seed")
        options = _measure_options(eps, attack, sets, names)
        _measure_checkpoint(checkpoint, names, dataset, batch, seeds[0], device, root, as_json, options)
        return
    _measure_build(
        names,
        archs,
        dataset,
        batch,
        seeds,
        C,
        N,
        _measure_options(eps, attack, sets, names),
        device,
        root,
        store,
        out,
        executor,
        workers,
        address,
        retry_failed,
        as_json,
    )


def _measure_build(
    names: list[str],
    archs: str,
    dataset: str,
    batch: int,
    seeds: list[int],
    C: int,
    N: int,
    options: dict[str, dict[str, object]],
    device: str,
    root: str | None,
    store: Path | None,
    out: Path | None,
    executor: str,
    workers: int | None,
    address: str | None,
    retry_failed: bool,
    as_json: bool,
) -> None:
    """``robnas measure --archs``: a build of kind ``measure``, then the CSV export."""
    from robnas.cli.build import finish_build, report_fields
    from robnas.measures.study import STORE_SUFFIXES, check_export, flagged_counts, study_rows, write_table
    from robnas.runner import BuildConfig, build
    from robnas.runner.executors import EXECUTORS
    from robnas.runner.jobs import check_kind

    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    executor = EXECUTORS.get(executor).name  # an unknown name fails here, before any output
    if executor == "local":
        from robnas.checks import check_device

        if address:
            raise ConfigError("--address is for --executor ray; the local executor runs on this machine")
        check_device(device)  # the local workers use this machine's devices
        workers = workers or 1
    if out is not None and out.suffix.lower() in STORE_SUFFIXES:
        raise ConfigError(f"--out {out} is the CSV export; give the results database with --store")
    if store is None:
        store = out.with_suffix(".sqlite") if out is not None else Path("measures.sqlite")
    elif out is not None and out.resolve() == store.resolve():
        raise ConfigError(f"--out and --store are both {out}; the CSV export needs a file of its own")
    with _as_options():
        cfg = BuildConfig.from_dict(
            {
                "name": "measure",
                "kind": "measure",
                "architectures": archs,
                "sample_seed": seeds[0],
                "dataset": dataset,
                "root": root,
                "model": {"C": C, "N": N},
                "seeds": seeds,
                "measures": names,
                "measure_options": options,
                "eval": {"measure_batch": batch},
                "output": str(store),
                "device": device,
            }
        )
        check_kind(cfg.kind, cfg)  # bad input fails here, before any output
    if out is not None:
        check_export(out, store)
    uids = cfg.arch_uids()
    err_console.print(
        f"[bold]robnas measure[/]: {len(uids)} architecture(s) x {len(seeds)} seed(s) on "
        f"[cyan]{escape(dataset)}[/], {len(names)} measure(s), C={C} N={N} batch {batch} "
        f"(protocol {cfg.protocol_hash}) -> {escape(str(store))}"
    )
    report = build(
        cfg,
        executor=executor,
        workers=workers,
        address=address,
        progress=True,
        retry_failed=retry_failed,
        console=err_console,
    )
    # one read of the store serves the CSV and the flag counts
    columns, table = study_rows(store, cfg) if out is not None or Path(store).exists() else ([], [])
    rows = write_table(columns, table, out) if out is not None else None
    flagged = flagged_counts(table)
    if as_json:
        echo_json(
            {
                "store": report.output,
                "out": out,
                "rows": rows,
                "architectures": len(uids),
                "seeds": seeds,
                "flagged": flagged,
                **report_fields(report),
            }
        )
    else:
        err_console.print(Text(report.summary()))
        if out is not None:
            err_console.print(Text(f"wrote {rows} rows to {out}"))
        if flagged:
            listed = ", ".join(f"{c} ({n} row{'s' * (n != 1)})" for c, n in flagged.items())
            err_console.print(
                Text(
                    f"warning: numerically meaningless values, stored but flagged: {listed}; "
                    "see the flagged column of the table"
                ),
                style="yellow",
            )
    finish_build(report, store, as_json, "measure build")


def _measure_checkpoint(
    path: Path,
    names: list[str],
    dataset: str,
    batch: int,
    seed: int,
    device: str,
    root: str | None,
    as_json: bool,
    options: dict[str, dict[str, Any]],
) -> None:
    from robnas.checks import check_device
    from robnas.measures import load_trained, measure_batch, measure_trained

    dev = check_device(device)
    model, ckpt = load_trained(path, dev)
    x, y, _ = measure_batch(dataset, batch, seed, root)
    flags: dict[str, str] = {}
    values = measure_trained(names, model, x.to(dev), y.to(dev), seed=seed, options=options, flags=flags)
    if as_json:
        echo_json(
            {
                "checkpoint": str(path),
                "dataset": dataset,
                "batch": batch,
                "values": values,
                "flagged": flags,
            }
        )
        return
    arch = (ckpt.get("network") or {}).get("arch", "?")
    err_console.print(f"{path}: {arch}, BatchNorm as trained, {batch} {dataset} train images (seed {seed})")
    for k, v in values.items():
        typer.echo(f"{k:<24} {v:.6g}" + ("  (flagged: numerically meaningless)" if k in flags else ""))


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
