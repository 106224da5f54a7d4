"""``robnas quickstart``: build, attack and report a small robustness benchmark, offline.

A thin layer over :func:`robnas.runner.quickstart.quickstart_config`, :func:`robnas.runner.build`
and :mod:`robnas.analysis.report`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from robnas.cli._output import device_option, echo_json, json_option, plain_option, table


def _tau(value: float) -> str:
    """A rank correlation for the table; ``n/a`` where it is undefined (too few or tied values)."""
    return "n/a" if value != value else f"{value:+.2f}"


def quickstart(
    n: int = typer.Option(20, "-n", "--num-archs", min=2, max=500, help="Architectures to sample."),
    seed: int = typer.Option(0, help="Seed of the sample, the initialisations and the training."),
    dataset: str = typer.Option("digits", help="digits (bundled, no download) or e.g. cifar10 with --root."),
    root: str = typer.Option(None, help="Data root for datasets other than digits."),
    workers: int = typer.Option(2, "-w", "--workers", min=1, help="Worker processes."),
    epochs: int = typer.Option(None, min=1, help="Training epochs (default: 10 on digits)."),
    channels: int = typer.Option(None, "--C", min=1, help="Channels of the first stage (default 16)."),
    cells: int = typer.Option(None, "--N", min=1, help="Cells per stage (default 1)."),
    measures: str = typer.Option(
        None,
        help="Comma-separated measures, taken at initialisation and after training ('' for none; "
        "default: jacobian, jacobian_top, ntk, ntk_mixed, naswot, synflow, snip).",
    ),
    device: str = device_option(),
    out: Path = typer.Option(Path("quickstart-out"), help="Folder for the results store and the report."),
    as_json: bool = json_option("Print the ranking, correlations and paths as JSON (progress on stderr)."),
    plain: bool = plain_option("Print the tables as tab-separated lines."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Try again architectures that failed in earlier runs."
    ),
) -> None:
    """Build a small robustness benchmark, rank its architectures and measures, write a report."""
    from robnas.analysis.report import summarise_store, write_report
    from robnas.checks import check_device, check_network_size, check_seed
    from robnas.runner import build
    from robnas.runner.quickstart import QUICKSTART_MEASURES, quickstart_config
    from robnas.units import format_epsilon

    check_device(device)  # auto stays auto: each worker resolves it
    check_seed(seed)
    check_network_size(channels, cells)
    console = Console(soft_wrap=True, stderr=as_json)
    names = (
        QUICKSTART_MEASURES
        if measures is None
        else tuple(m.strip() for m in measures.split(",") if m.strip())
    )
    config = quickstart_config(n, seed, dataset, root, out, epochs, channels, cells, names, device)
    protocol = _check_one_protocol(config)
    from robnas.checks import writing

    with writing(out, "the output folder"):
        out.mkdir(parents=True, exist_ok=True)
    tr, mdl = config["training"], config["model"]
    console.print(
        f"[bold]robnas quickstart[/]: {n} unique NAS-Bench-201 architectures on [cyan]{dataset}[/], "
        f"C={mdl['C']}, N={mdl['N']}, {tr['epochs']} epochs of standard training; "
        f"FGSM/PGD at {', '.join(map(format_epsilon, config['attacks']['pgd']))} (x 1/255), "
        f"APGD-CE at {format_epsilon(config['attacks']['apgd-ce'][-1], unit=True)}, "
        f"4 corruptions, {len(names)} measures (at initialisation and after training). "
        "Interrupt at any time; run again to resume."
    )
    report = build(
        config, executor="local", workers=workers, progress=True, console=console, retry_failed=retry_failed
    )
    console.print(Text(report.summary()))
    if report.interrupted:
        console.print("[yellow]interrupted[/]: results so far are saved; run the same command to resume.")
        raise typer.Exit(130)
    _show_failures(report, config["output"], console)
    if report.done + report.skipped - report.failed_before == 0:
        typer.echo(
            "robnas: error: no architecture finished (reasons above); fix the cause, then rerun with "
            "--retry-failed",
            err=True,
        )
        raise typer.Exit(1)
    summary = summarise_store(config["output"], protocol=protocol)
    path = write_report(
        config["output"], out / "report.html", title=f"robnas quickstart ({dataset})", summary=summary
    )
    if as_json:
        echo_json(_json_summary(summary, report, path, config["output"]))
        if report.failed:
            raise typer.Exit(1)
        return
    cols = ("rank", "index", "clean", "adv. mean", "worst@max eps", "corr. mean", "params")
    rows = [
        (
            rank,
            uid,
            f"{row.get('clean', float('nan')):.3f}",
            f"{row.get('adversarial-mean', float('nan')):.3f}",
            f"{row.get('worst-case', float('nan')):.3f}",
            f"{row.get('corruption-mean', float('nan')):.3f}",
            f"{row.get('params', float('nan')):,.0f}",
        )
        for rank, (uid, row) in enumerate(summary.ranking.head(10).iterrows(), start=1)
    ]
    title = f"Most robust of {len(summary.table)} architectures on {summary.dataset}"
    table(cols, rows, title=title, plain=plain, justify=dict.fromkeys(cols, "right"), console=console)
    corr = summary.correlations
    if not corr.empty:
        targets = summary.targets()
        wide = corr.pivot(index="measure", columns="target", values="kendall_tau")
        key = "adversarial-mean" if "adversarial-mean" in wide else targets[0]
        table(
            ("measure", *targets),
            [
                (m, *(_tau(wide.loc[m, t]) for t in targets))
                for m in wide[key].abs().sort_values(ascending=False).index
            ],
            title="How well do the measures rank robustness? (Kendall tau; init.X: at initialisation)",
            plain=plain,
            justify=dict.fromkeys(targets, "right"),
            console=console,
        )
    best = summary.most_robust
    metric = f"{dataset}/pgd@{config['attacks']['pgd'][-1]}"
    console.print(
        f"most robust: index [bold]{best}[/] {summary.table.loc[best, 'arch']}\n"
        f"report: [green]{escape(str(path))}[/]   results store: [green]{escape(str(config['output']))}[/] "
        f"(query it with `robnas bench top store --root {config['output']} -m {metric} "
        f"--protocol {protocol}`)"
    )
    if report.failed or report.failed_before:
        raise typer.Exit(1)


def _json_summary(summary, report, path: Path, store: str) -> dict:
    """The quickstart's result for ``--json``: ranking (best first), correlations, paths."""
    ranking = summary.ranking.head(10)
    return {
        "dataset": summary.dataset,
        "architectures": len(summary.table),
        "most_robust": summary.most_robust,
        "ranking": [
            {
                "rank": rank,
                "index": int(uid),
                "arch": summary.table.loc[uid, "arch"],
                **row.drop("arch", errors="ignore").to_dict(),
            }
            for rank, (uid, row) in enumerate(ranking.iterrows(), start=1)
        ],
        "correlations": summary.correlations,
        "build": {
            "done": report.done,
            "failed": report.failed,
            "skipped": report.skipped,
            "elapsed_s": report.elapsed,
        },
        "report": path,
        "store": store,
    }


def _show_failures(report, db: str, console: Console) -> None:
    """The reasons of failed architectures (this run's and earlier ones) and how to retry them."""
    if not (report.failed or report.failed_before):
        return
    from robnas.store import ResultStore

    with ResultStore(db, readonly=True) as store:
        failed = store.jobs(state="failed")
    console.print(Text(f"{len(failed)} architecture(s) failed:", style="yellow"))
    for f in failed[:10]:
        console.print(Text(f"  index {f.uid} seed {f.seed} ({f.reason}): {(f.message or '')[:300]}"))
    if len(failed) > 10:
        console.print(Text(f"  ... and {len(failed) - 10} more (robnas build status {db})"))
    console.print(Text("fix the cause, then rerun the same command with --retry-failed to try them again"))


def _check_one_protocol(config: dict) -> str:
    """This run's protocol hash; refuses a folder whose store holds results of another protocol.

    A second protocol in one folder (say ``--epochs 5`` after ``--epochs 4``) would put two
    protocols' results in one store; the quickstart refuses before any work instead, naming the
    difference, so that its tables are always of one protocol.
    """
    from robnas.errors import ConfigError
    from robnas.runner.build import load_config
    from robnas.store import ResultStore
    from robnas.store.source import StoreSource

    protocol = load_config(config).protocol_hash
    db = Path(config["output"])
    if not db.is_file():
        return protocol
    with ResultStore(db, readonly=True) as store:
        others = [p for p in StoreSource(store).protocols() if p["protocol"] != protocol]
    if others:
        old = others[0]
        raise ConfigError(
            f"{db} already holds results of another protocol ({old['protocol']}: {old.get('epochs')} epochs, "
            f"preset {old.get('preset')}, {old['results']} results); this run's settings give protocol "
            f"{protocol}. Results of different protocols are never mixed: give another --out folder, "
            "or repeat the earlier settings to resume"
        )
    return protocol
