"""``robnas quickstart``: build, attack and report a small robustness benchmark, offline.

A thin layer over :func:`robnas.runner.quickstart.quickstart_config`, :func:`robnas.runner.build`
and :mod:`robnas.analysis.report`.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


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
        help="Comma-separated measures at initialisation ('' for none; default: jacobian, "
        "jacobian_top, ntk, ntk_mixed, naswot, synflow, snip).",
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    out: Path = typer.Option(Path("quickstart-out"), help="Folder for the results store and the report."),
) -> None:
    """Build a small robustness benchmark, rank its architectures and measures, write a report."""
    from robnas.analysis.report import summarise_store, write_report
    from robnas.runner import build
    from robnas.runner.quickstart import QUICKSTART_MEASURES, quickstart_config

    console = Console(soft_wrap=True)
    names = (
        QUICKSTART_MEASURES
        if measures is None
        else tuple(m.strip() for m in measures.split(",") if m.strip())
    )
    config = quickstart_config(n, seed, dataset, root, out, epochs, channels, cells, names, device)
    protocol = _check_one_protocol(config)
    out.mkdir(parents=True, exist_ok=True)
    tr, mdl = config["training"], config["model"]
    console.print(
        f"[bold]robnas quickstart[/]: {n} unique NAS-Bench-201 architectures on [cyan]{dataset}[/], "
        f"C={mdl['C']}, N={mdl['N']}, {tr['epochs']} epochs of standard training; "
        f"FGSM/PGD at {config['attacks']['pgd']}/255, APGD-CE at {config['attacks']['apgd-ce']}/255, "
        f"4 corruptions, {len(names)} measures at initialisation. Interrupt at any time; "
        "run again to resume."
    )
    report = build(config, executor="local", workers=workers, progress=True, console=console)
    console.print(report.summary())
    if report.interrupted:
        console.print("[yellow]interrupted[/]: results so far are saved; run the same command to resume.")
        raise typer.Exit(130)
    summary = summarise_store(config["output"], protocol=protocol)
    table = Table(title=f"Most robust of {len(summary.table)} architectures on {summary.dataset}")
    for col in ("rank", "index", "clean", "adv. mean", "worst@max eps", "corr. mean", "params"):
        table.add_column(col, justify="right")
    for rank, (uid, row) in enumerate(summary.ranking.head(10).iterrows(), start=1):
        table.add_row(
            str(rank),
            str(uid),
            f"{row.get('clean', float('nan')):.3f}",
            f"{row.get('adversarial-mean', float('nan')):.3f}",
            f"{row.get('worst-case', float('nan')):.3f}",
            f"{row.get('corruption-mean', float('nan')):.3f}",
            f"{row.get('params', float('nan')):,.0f}",
        )
    console.print(table)
    corr = summary.correlations
    if not corr.empty:
        ct = Table(title="How well do measures at initialisation rank robustness? (Kendall tau)")
        targets = summary.targets()
        ct.add_column("measure")
        for t in targets:
            ct.add_column(t, justify="right")
        wide = corr.pivot(index="measure", columns="target", values="kendall_tau")
        key = "adversarial-mean" if "adversarial-mean" in wide else targets[0]
        for m in wide[key].abs().sort_values(ascending=False).index:
            ct.add_row(m, *(_tau(wide.loc[m, t]) for t in targets))
        console.print(ct)
    path = write_report(
        config["output"], out / "report.html", title=f"robnas quickstart ({dataset})", summary=summary
    )
    best = summary.most_robust
    metric = f"{dataset}/pgd@{config['attacks']['pgd'][-1]}"
    console.print(
        f"most robust: index [bold]{best}[/] {summary.table.loc[best, 'arch']}\n"
        f"report: [green]{path}[/]   results store: [green]{config['output']}[/] "
        f"(query it with `robnas bench top store --root {config['output']} -m {metric} "
        f"--protocol {protocol}`)"
    )
    if report.failed:
        console.print(
            f"[yellow]{report.failed} architecture(s) failed[/]; see `robnas build status {config['output']}`"
        )
        raise typer.Exit(1)


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
