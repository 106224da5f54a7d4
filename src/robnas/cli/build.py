"""``robnas build``: build a benchmark from a configuration, show a build's status, export it.

``robnas build CONFIG`` is short for ``robnas build run CONFIG``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup


class _RunByDefault(TyperGroup):
    """``robnas build CONFIG ...`` runs ``robnas build run CONFIG ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    no_args_is_help=True,
    add_completion=False,
    help="Build a robustness benchmark: train, attack and store architectures (resumable).",
)
console = Console()
err_console = Console(stderr=True)


@app.command("run")
def run(
    config: Path = typer.Argument(..., help="Build configuration (YAML), e.g. examples/build-digits.yaml."),
    executor: str = typer.Option("local", "--executor", "-e", help="Where jobs run: local or ray."),
    workers: int = typer.Option(
        None,
        "--workers",
        "-w",
        min=1,
        help="Jobs in flight (local: processes, default 1; ray: default all CPUs).",
    ),
    address: str = typer.Option(
        None, "--address", help="Ray cluster address (auto = the running cluster); ray executor only."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Results database (overrides the config's output)."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Try again jobs that failed too often in earlier runs."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would run."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train, attack and store every architecture of CONFIG; rerun to resume."""
    from robnas.runner import build, load_config, plan
    from robnas.runner.build import all_jobs
    from robnas.store import ResultStore

    cfg = load_config(config)
    if out is not None:
        cfg = cfg.with_overrides(output=str(out))
    if executor.strip().lower() == "local" and workers is None:
        workers = 1
    if dry_run:
        total = len(all_jobs(cfg))
        todo = plan(cfg, ResultStore(cfg.output)) if Path(cfg.output).exists() else all_jobs(cfg)
        console.print(
            f"{len(cfg.arch_uids())} architectures x {len(cfg.seeds)} seed(s) = {total} jobs "
            f"({cfg.kind}, protocol {cfg.protocol_hash}); {total - len(todo)} already in "
            f"{escape(str(cfg.output))}, {len(todo)} to run",
        )
        return
    console.print(
        f"[bold]robnas build[/] {escape(str(config))}: {len(cfg.arch_uids())} architectures x "
        f"{len(cfg.seeds)} seed(s) on [cyan]{escape(cfg.dataset)}[/] ({cfg.kind}, protocol "
        f"{cfg.protocol_hash}) -> {escape(str(cfg.output))}"
    )
    report = build(
        cfg,
        executor=executor,
        workers=workers,
        address=address,
        progress=not quiet,
        retry_failed=retry_failed,
        console=console,
    )
    console.print(Text(report.summary()))
    if report.failures:
        _failure_table(report.failures, title="Failed jobs (run `robnas build status` for all)")
    if report.interrupted:
        err_console.print(
            "robnas: build interrupted; every finished job is stored. Run the same command again to resume."
        )
        raise typer.Exit(130)
    if report.failures:
        raise typer.Exit(1)
    if report.failed_before:
        typer.echo(
            f"robnas: {report.failed_before} job(s) failed in earlier runs and were not retried; "
            f"see `robnas build status {cfg.output}`, and rerun with --retry-failed to try them again",
            err=True,
        )
        raise typer.Exit(1)


def _failure_table(failures: list[Any], title: str, limit: int = 20) -> None:
    table = Table(title=Text(title))
    for col in ("uid", "seed", "attempts", "reason", "message"):
        table.add_column(col, justify="right" if col in ("uid", "seed", "attempts") else "left")
    for f in failures[:limit]:
        table.add_row(
            str(f.uid), str(f.seed), str(f.attempts), Text(f.reason or ""), Text((f.message or "")[:200])
        )
    console.print(table)
    if len(failures) > limit:
        console.print(f"... and {len(failures) - limit} more")


@app.command("status")
def status(
    db: Path = typer.Argument(..., help="Results database written by `robnas build`."),
    failures: int = typer.Option(20, "--failures", min=0, help="How many failed jobs to list."),
) -> None:
    """Jobs by state, failures with their reasons, metrics present."""
    from robnas.store import ResultStore

    store = ResultStore(db, readonly=True)
    counts = store.counts()
    console.print(
        f"[bold]{escape(str(db))}[/]: [green]{counts['done']} done[/], [red]{counts['failed']} failed[/], "
        f"{counts['results']} results"
    )
    for chash, body in store.configs().items():
        console.print(
            Text(
                f"  config {chash}: {body.get('kind')} on {body.get('dataset')}, "
                f"architectures {body.get('architectures')!s:.60}, seeds {body.get('seeds')}"
            )
        )
    by_reason: dict[str, int] = {}
    failed = store.jobs(state="failed")
    for f in failed:
        by_reason[f.reason or "other"] = by_reason.get(f.reason or "other", 0) + 1
    if by_reason:
        console.print(
            Text("  failures by reason: " + ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items())))
        )
        if failures:
            _failure_table(failed, title="Failed jobs", limit=failures)
    rows = store.execute(
        "SELECT metric, count(DISTINCT uid), count(DISTINCT seed), avg(value), min(value), max(value) "
        "FROM results GROUP BY metric ORDER BY metric"
    )
    if rows:
        table = Table(title="Metrics present")
        for col in ("metric", "architectures", "seeds", "mean", "min", "max"):
            table.add_column(col, justify="left" if col == "metric" else "right")
        for metric, n_arch, n_seed, mean, lo, hi in rows:
            fmt = lambda v: "nan" if v is None else f"{v:.4g}"  # noqa: E731
            table.add_row(Text(metric), str(n_arch), str(n_seed), fmt(mean), fmt(lo), fmt(hi))
        console.print(table)
    problems = store.integrity_check()
    if problems:
        err_console.print("robnas: integrity problems: " + "; ".join(problems))
        raise typer.Exit(1)


@app.command("export")
def export(
    db: Path = typer.Argument(..., help="Results database written by `robnas build`."),
    layout: str = typer.Option("jung2023", "--layout", help="File layout: jung2023."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write."),
    protocol: str = typer.Option(None, "--protocol", help="Protocol hash, when the file holds several."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder, replacing files."),
) -> None:
    """Export a built benchmark in a released benchmark's layout."""
    from robnas.store import ResultStore
    from robnas.store import export as do_export

    report = do_export(ResultStore(db, readonly=True), layout, out, protocol=protocol, force=force)
    console.print(
        Text(f"wrote {len(report.files)} files for {report.architectures} architectures to {report.out}")
    )
    if report.skipped_metrics:
        console.print(Text(f"not in the {layout} layout (left out): {', '.join(report.skipped_metrics)}"))
