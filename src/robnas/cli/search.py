"""``robnas search``: discrete search on benchmark sources."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from robnas.checks import MAX_SEED
from robnas.cli._output import echo_json, json_option
from robnas.errors import ConfigError
from robnas.progress import make_progress

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)
console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def _values(bench: str | None, objectives: list[str], root: str | None):
    import numpy as np

    from robnas.search.objective import objective_values, parse_objective

    if not objectives:
        raise ConfigError("give at least one --objective, e.g. --objective cifar10/pgd@8")
    names = []
    rows = []
    for spec in objectives:
        terms = parse_objective(spec, bench)
        names.append("+".join(str(t) for t in terms))
        rows.append(objective_values(terms, root))
    return np.stack(rows), names


def _seeds(seeds: int, first_seed: int) -> list[int]:
    if seeds < 1 or seeds > 100_000:
        raise ConfigError(f"--seeds must lie between 1 and 100000, got {seeds}")
    if first_seed < 0 or first_seed + seeds - 1 > MAX_SEED:
        raise ConfigError(
            f"seeds must lie between 0 and {MAX_SEED}, got {first_seed}..{first_seed + seeds - 1}"
        )
    return list(range(first_seed, first_seed + seeds))


def _budget(budget: int) -> int:
    if not 1 <= budget <= 15625:
        raise ConfigError(f"--budget must lie between 1 and 15625 (the size of NAS-Bench-201), got {budget}")
    return budget


def _progress() -> Any:
    return make_progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


@app.command("run")
def run(
    bench: str = typer.Option(None, "--bench", help="Benchmark source, e.g. jung2023 or nasrobbench201."),
    objective: list[str] = typer.Option(
        [], "--objective", "-o", help="Metric or weighted sum to maximise; repeat for nsga2."
    ),
    algo: str = typer.Option("re", "--algo", help="rs, re, ls or nsga2."),
    budget: int = typer.Option(300, help="Queries (unique architectures) the search may spend."),
    seeds: int = typer.Option(1, help="Number of seeds to run."),
    first_seed: int = typer.Option(0, help="First seed."),
    warm_start: str = typer.Option(
        None, help="Measure-guided start: SOURCE:METRIC whose top architectures seed the search."
    ),
    warm_k: int = typer.Option(10, help="How many top architectures of --warm-start to start from."),
    root: str = typer.Option(None, help="Data root of the benchmark files."),
    as_json: bool = json_option(),
) -> None:
    """Run one search algorithm for one or more seeds and report what it found."""
    from robnas.search import run_search
    from robnas.spaces.nb201 import Arch

    _budget(budget)
    _seeds(seeds, first_seed)
    if warm_k < 1:
        raise ConfigError(f"--warm-k must be a positive number of architectures, got {warm_k}")
    values, names = _values(bench, objective, root)
    start = None
    if warm_start:
        start = _warm_start(warm_start, bench, warm_k, root)
    results = []
    with _progress() as progress:
        task = progress.add_task(f"{algo} x {seeds} seeds", total=seeds)
        for seed in _seeds(seeds, first_seed):
            results.append(run_search(algo, values, budget, seed, names, warm_start=start))
            progress.advance(task)
    if as_json:
        echo_json([r.to_dict() for r in results])
        return
    table = Table(title=f"{algo} on {', '.join(names)} (budget {budget})")
    for col in ("seed", "queries", "best index", "best value", "optimum", "regret"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            str(r.seed),
            str(len(r.trajectory)),
            str(r.best_uid),
            f"{r.best_value:.4f}",
            f"{r.optimum:.4f}",
            f"{r.regret:.4f}",
        )
    console.print(table)
    best = max(results, key=lambda r: r.best_value)
    console.print(f"best found: [bold]{Arch.from_index(best.best_uid)}[/] (index {best.best_uid})")
    if len(names) > 1:
        console.print(f"Pareto front of seed {results[0].seed}: {len(results[0].pareto_front)} architectures")
        for uid in results[0].pareto_front:
            vals = ", ".join(_fmt(values[k, uid]) for k in range(len(names)))
            console.print(f"  {uid:>6}  {vals}  {Arch.from_index(uid)}")


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4f}"


def _warm_start(spec: str, bench: str | None, k: int, root: str | None):
    import numpy as np

    from robnas.search.objective import objective_values, parse_objective
    from robnas.spaces.nb201 import Arch, unique_indices

    vals = objective_values(parse_objective(spec, bench), root)
    uniq = np.array(unique_indices())
    order = uniq[np.argsort(-np.nan_to_num(vals[uniq], nan=-np.inf), kind="stable")]
    return [Arch.from_index(int(i)) for i in order[:k]]


@app.command("compare")
def compare_cmd(
    bench: str = typer.Option(None, "--bench", help="Benchmark source."),
    objective: str = typer.Option(..., "--objective", "-o", help="Metric or weighted sum to maximise."),
    algos: str = typer.Option("rs,re,ls", help="Comma-separated algorithms."),
    budget: int = typer.Option(300, help="Queries per run."),
    seeds: int = typer.Option(20, help="Seeds per algorithm."),
    tolerance: float = typer.Option(0.005, help="Regret counted as 'found' (objective units)."),
    plot: Path = typer.Option(None, help="Write a PNG of regret against queries."),
    root: str = typer.Option(None, help="Data root of the benchmark files."),
    as_json: bool = json_option(),
) -> None:
    """Run several algorithms over many seeds; table of regret and an optional plot."""
    from robnas.search import compare, get_algorithm, summarise

    algo_list = [a.strip() for a in algos.split(",") if a.strip()]
    if not algo_list:
        raise ConfigError("--algos is empty; give comma-separated algorithms, e.g. --algos rs,re,ls")
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ConfigError(f"--tolerance is a regret and cannot be negative, got {tolerance}")
    _budget(budget)
    _seeds(seeds, 0)
    for a in algo_list:  # refuse an unknown name before loading any benchmark
        get_algorithm(a)
    values, names = _values(bench, [objective], root)
    seed_list = _seeds(seeds, 0)
    with _progress() as progress:
        task = progress.add_task("searching", total=len(algo_list) * len(seed_list))
        results = compare(
            algo_list, values[0], budget, seed_list, names, progress=lambda *_: progress.advance(task)
        )
    rows = summarise(results, tolerance)
    if plot:
        from robnas.analysis.search_plots import plot_regret

        plot_regret(results, plot, title=f"{names[0]} (budget {budget}, {seeds} seeds)")
    if as_json:
        echo_json(rows)
        return
    table = Table(title=f"{names[0]}: regret after {budget} queries over {seeds} seeds")
    for col in ("algorithm", "median regret", "IQR", f"share ≤ {tolerance:g}", "median queries to it"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["algorithm"],
            f"{r['median_regret']:.4f}",
            f"{r['q25_regret']:.4f}–{r['q75_regret']:.4f}",
            f"{r['share_within_tolerance']:.0%}",
            f"{r['median_queries_to_tolerance']:.0f}",
        )
    console.print(table)
    if plot:
        console.print(f"plot written to [green]{plot}[/]")


@app.command("transfer")
def transfer_cmd(
    source: str = typer.Option(..., "--from", help="Objective searched, SOURCE:METRIC (or weighted sum)."),
    target: str = typer.Option(..., "--to", help="Objective the found architectures are looked up in."),
    algo: str = typer.Option("re", "--algo", help="Search algorithm."),
    budget: int = typer.Option(300, help="Queries per run."),
    seeds: int = typer.Option(20, help="Seeds."),
    reverse: bool = typer.Option(True, help="Also search on --to and look up in --from."),
    root: str = typer.Option(None, help="Data root of the benchmark files."),
    as_json: bool = json_option(),
) -> None:
    """Search on one benchmark, look the found architectures up in another (and the reverse)."""
    from dataclasses import asdict

    from robnas.search.objective import objective_values, parse_objective
    from robnas.search.transfer import transfer_study

    a = objective_values(parse_objective(source), root)
    b = objective_values(parse_objective(target), root)
    directions = [(source, target, a, b)] + ([(target, source, b, a)] if reverse else [])
    report = []
    for src_name, tgt_name, sv, tv in directions:
        study = transfer_study(sv, tv, algo, budget, _seeds(seeds, 0))
        study["rows"] = [asdict(r) for r in study["rows"]]
        report.append({"searched": src_name, "evaluated": tgt_name, **study})
    if as_json:
        echo_json(report)
        return
    for study in report:
        console.print(
            f"[bold]{algo}[/] searched [cyan]{study['searched']}[/] ({budget} queries, {seeds} seeds); "
            f"found architectures evaluated on [magenta]{study['evaluated']}[/]:"
        )
        console.print(
            f"  median percentile in target: {study['median_target_percentile']:.1f}  "
            f"median target regret: {study['median_target_regret']:.4f}  "
            f"(target optimum {study['target_optimum']:.4f}, index {study['target_optimum_uid']})"
        )
        console.print(
            f"  the source optimum (index {study['source_optimum_uid']}) scores "
            f"{study['source_optimum_in_target']:.4f} in the target, percentile "
            f"{study['source_optimum_target_percentile']:.1f}"
        )
