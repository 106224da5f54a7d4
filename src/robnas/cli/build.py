"""``robnas build``: build a benchmark from a configuration, show a build's status, export it.

``robnas build CONFIG`` is short for ``robnas build run CONFIG``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.core import TyperGroup

from robnas.cli._output import echo_json, json_option, plain_option, table


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
    rich_markup_mode=None,
    help="Build a robustness benchmark: train, attack and store architectures (resumable).",
)
console = Console()
err_console = Console(stderr=True)


@app.command("run")
def run(
    config: Path = typer.Argument(
        None, help="Build configuration (YAML), e.g. examples/build-digits.yaml (see --example)."
    ),
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
    as_json: bool = json_option("Print the build's report as JSON (progress goes to standard error)."),
    example: str = typer.Option(
        None,
        "--example",
        help="Write the example configuration NAME (digits, synthetic, nasrobbench201) as "
        "build-NAME.yaml in the current folder (or CONFIG's path) and stop.",
    ),
) -> None:
    """Train, attack and store every architecture of CONFIG; rerun to resume."""
    from robnas.runner import build, load_config, plan
    from robnas.runner.build import all_jobs
    from robnas.store import ResultStore

    if example is not None:
        _write_example(example, config, as_json)
        return
    if config is None:
        raise typer.BadParameter("give a build configuration (YAML), or --example NAME to write one")

    cfg = load_config(config)
    if out is not None:
        cfg = cfg.with_overrides(output=str(out))
    if executor.strip().lower() == "local" and workers is None:
        workers = 1
    if dry_run:
        total = len(all_jobs(cfg))
        todo = plan(cfg, ResultStore(cfg.output)) if Path(cfg.output).exists() else all_jobs(cfg)
        if as_json:
            echo_json(
                {
                    "architectures": len(cfg.arch_uids()),
                    "seeds": list(cfg.seeds),
                    "jobs": total,
                    "kind": cfg.kind,
                    "protocol": cfg.protocol_hash,
                    "output": cfg.output,
                    "already_done": total - len(todo),
                    "to_run": len(todo),
                }
            )
            return
        console.print(
            f"{len(cfg.arch_uids())} architectures x {len(cfg.seeds)} seed(s) = {total} jobs "
            f"({cfg.kind}, protocol {cfg.protocol_hash}); {total - len(todo)} already in "
            f"{escape(str(cfg.output))}, {len(todo)} to run",
        )
        return
    out_console = err_console if as_json else console
    out_console.print(
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
        console=out_console,
    )
    if as_json:
        echo_json({"output": report.output, "config_hash": report.config_hash, **report_fields(report)})
    else:
        console.print(Text(report.summary()))
    finish_build(report, cfg.output, as_json, "build")


def report_fields(report: Any) -> dict[str, Any]:
    """The outcome of a build as plain values (the ``--json`` reports of ``build`` and ``measure``)."""
    return {
        "protocol": report.protocol,
        "executor": report.executor,
        "total": report.total,
        "skipped": report.skipped,
        "done": report.done,
        "failed": report.failed,
        "retried": report.retried,
        "failed_before": report.failed_before,
        "interrupted": report.interrupted,
        "elapsed_s": report.elapsed,
        "failures": [_failure_dict(f) for f in report.failures],
    }


def finish_build(report: Any, store: Any, as_json: bool, what: str) -> None:
    """After a build (``what``: ``build`` or ``measure build``): the failure table, then the exit
    code: 130 if interrupted, 1 if jobs failed now or in earlier runs (with the way to retry)."""
    if report.failures and not as_json:
        _failure_table(report.failures, title=f"Failed jobs (run `robnas build status {store}` for all)")
    if report.interrupted:
        err_console.print(
            f"robnas: {what} interrupted; every finished job is stored. Run the same command again to resume."
        )
        raise typer.Exit(130)
    if report.failures:
        raise typer.Exit(1)
    if report.failed_before:
        typer.echo(
            f"robnas: {report.failed_before} job(s) failed in earlier runs and were not retried; "
            f"see `robnas build status {store}`, and rerun with --retry-failed to try them again",
            err=True,
        )
        raise typer.Exit(1)


def _write_example(name: str, dest: Path | None, as_json: bool) -> None:
    from robnas.errors import ConfigError
    from robnas.runner.examples import example_text

    text = example_text(name)
    key = name.strip().lower().removeprefix("build-").removesuffix(".yaml")
    path = dest if dest is not None else Path(f"build-{key}.yaml")
    if path.exists():
        raise ConfigError(f"{path} already exists; remove it or give another path")
    path.write_text(text, encoding="utf-8")
    if as_json:
        echo_json({"example": key, "path": path})
        return
    console.print(f"wrote {path}; run it with `robnas build {path}` (edit it first: it is commented)")


def _failure_dict(f: Any) -> dict[str, Any]:
    return {
        "uid": f.uid,
        "seed": f.seed,
        "arch": getattr(f, "arch", None),
        "attempts": f.attempts,
        "reason": f.reason,
        "message": f.message,
    }


_RIGHT = {"uid": "right", "seed": "right", "attempts": "right"}


def _failure_table(failures: list[Any], title: str, limit: int = 20, plain: bool = False) -> None:
    rows = [(f.uid, f.seed, f.attempts, f.reason or "", (f.message or "")[:200]) for f in failures[:limit]]
    table(("uid", "seed", "attempts", "reason", "message"), rows, title=title, plain=plain, justify=_RIGHT)
    if len(failures) > limit and not plain:
        console.print(f"... and {len(failures) - limit} more")


@app.command("status")
def status(
    db: Path = typer.Argument(..., help="Results database written by `robnas build`."),
    failures: int = typer.Option(20, "--failures", min=0, help="How many failed jobs to list."),
    as_json: bool = json_option(),
    plain: bool = plain_option("Print the tables as tab-separated lines."),
) -> None:
    """Jobs by state, failures with their reasons, metrics present."""
    from robnas.store import ResultStore

    store = ResultStore(db, readonly=True)
    counts = store.counts()
    if as_json:
        _status_json(store, failures)
        return
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
            _failure_table(failed, title="Failed jobs", limit=failures, plain=plain)
    rows = _metric_rows(store)
    if rows:
        fmt = lambda v: "nan" if v is None else f"{v:.4g}"  # noqa: E731
        cols = ("metric", "architectures", "seeds", "mean", "min", "max")
        table(
            cols,
            [(m, a, s, fmt(mean), fmt(lo), fmt(hi)) for m, a, s, mean, lo, hi in rows],
            title="Metrics present",
            plain=plain,
            justify={c: "right" for c in cols[1:]},
        )
    problems = store.integrity_check()
    if problems:
        err_console.print("robnas: integrity problems: " + "; ".join(problems))
        raise typer.Exit(1)


def _metric_rows(store: Any) -> list[tuple[Any, ...]]:
    return list(
        store.execute(
            "SELECT metric, count(DISTINCT uid), count(DISTINCT seed), avg(value), min(value), max(value) "
            "FROM results GROUP BY metric ORDER BY metric"
        )
    )


def _status_json(store: Any, limit: int) -> None:
    failed = store.jobs(state="failed")
    problems = store.integrity_check()
    echo_json(
        {
            "path": store.path,
            "counts": store.counts(),
            "configs": store.configs(),
            "failures": [_failure_dict(f) for f in failed[:limit]],
            "failures_total": len(failed),
            "metrics": [
                {"metric": m, "architectures": a, "seeds": s, "mean": mean, "min": lo, "max": hi}
                for m, a, s, mean, lo, hi in _metric_rows(store)
            ],
            "integrity_problems": problems,
        }
    )
    if problems:
        raise typer.Exit(1)


@app.command("export")
def export(
    db: Path = typer.Argument(..., help="Results database written by `robnas build`."),
    layout: str = typer.Option("jung2023", "--layout", help="File layout: jung2023."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write."),
    protocol: str = typer.Option(None, "--protocol", help="Protocol hash, when the file holds several."),
    as_json: bool = json_option(),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder, replacing files."),
) -> None:
    """Export a built benchmark in a released benchmark's layout."""
    from robnas.store import ResultStore
    from robnas.store import export as do_export

    report = do_export(ResultStore(db, readonly=True), layout, out, protocol=protocol, force=force)
    if as_json:
        echo_json(
            {
                "out": report.out,
                "layout": layout,
                "files": [str(f) for f in report.files],
                "architectures": report.architectures,
                "skipped_metrics": report.skipped_metrics,
            }
        )
        return
    console.print(
        Text(f"wrote {len(report.files)} files for {report.architectures} architectures to {report.out}")
    )
    if report.skipped_metrics:
        console.print(Text(f"not in the {layout} layout (left out): {', '.join(report.skipped_metrics)}"))
