"""``robnas attack MODEL_OR_CHECKPOINT``: accuracy under attacks and corruptions.

MODEL_OR_CHECKPOINT is a checkpoint written by ``robnas train`` (a ``checkpoint.pt`` file or its
run directory) or a NAS-Bench-201 architecture (index or string), built untrained for smoke
tests. Epsilons are given in 1/255 units.
"""

from __future__ import annotations

from pathlib import Path

import typer

from robnas.cli._output import device_option, echo_json, json_option
from robnas.errors import ConfigError


def parse_eps(text: str) -> list[float]:
    """``"1,2,8"`` (1/255 units) -> floats in pixel units; one clear error for bad values."""
    out = []
    for part in [t.strip() for t in text.split(",") if t.strip()]:
        try:
            v = float(part)
        except ValueError:
            raise ConfigError(
                f"epsilon {part!r} is not a number; give epsilons in 1/255 units, e.g. --eps 1,2,8"
            ) from None
        if not 0 <= v <= 255:
            raise ConfigError(
                f"epsilon {part} is out of range: give epsilons in 1/255 units between 0 and 255"
            )
        out.append(v / 255)
    if not out:
        raise ConfigError("give at least one epsilon, e.g. --eps 1,2,8")
    return out


def parse_severities(text: str) -> list[int]:
    """``"1..5"``, ``"1-5"`` or ``"1,3,5"`` -> severities 1..5."""
    t = text.replace("..", "-").strip()
    try:
        if "-" in t:
            lo, hi = (int(v) for v in t.split("-"))
            vals = list(range(lo, hi + 1))
        else:
            vals = [int(v) for v in t.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"severities {text!r} not understood; write 1..5 or 1,3,5") from None
    if not vals or any(not 1 <= v <= 5 for v in vals):
        raise ConfigError(f"severities must lie between 1 and 5, got {text!r}")
    return vals


def parse_corruptions(text: str) -> list[str]:
    from robnas.attacks.corruptions import available_corruptions

    if not text.strip():
        return []
    names = (
        available_corruptions()
        if text.strip() == "all"
        else [t.strip() for t in text.split(",") if t.strip()]
    )
    unknown = [c for c in names if c not in available_corruptions()]
    if unknown:
        raise ConfigError(
            f"unknown corruption {unknown[0]!r}; choose 'all' or from {', '.join(available_corruptions())}"
        )
    return names


def load_model(spec: str, dataset: str | None, root: str | None, C: int, N: int, seed: int, device: str):
    """A model from a checkpoint or an (untrained) NB201 architecture: (model, dataset, source)."""
    import torch

    from robnas.spaces import Arch

    path = Path(spec)
    if path.exists():
        from robnas.training import model_from_checkpoint

        model, ckpt = model_from_checkpoint(path, device)
        return model, dataset or ckpt.get("meta", {}).get("dataset") or "cifar10", f"checkpoint {path}"
    try:
        arch = Arch.parse(int(spec) if spec.strip().isdigit() else spec)
    except ConfigError as exc:
        raise ConfigError(
            f"{spec!r} is neither a checkpoint file nor a NAS-Bench-201 architecture (index or string): {exc}"
        ) from None
    from robnas.data import dataset_info
    from robnas.models import build_network

    ds_name = dataset or "cifar10"
    info = dataset_info(ds_name)
    torch.manual_seed(seed)
    model = build_network(
        arch,
        C=C,
        N=N,
        **info.model_kwargs(),
    )
    return model.to(device).eval(), ds_name, f"untrained {arch.string} (C={C}, N={N}, seed {seed})"


def attack(
    model_or_checkpoint: str = typer.Argument(
        ..., help="A checkpoint of `robnas train`, or an NB201 architecture (index or string; untrained)."
    ),
    dataset: str = typer.Option(None, help="Dataset (default: the checkpoint's, else cifar10)."),
    attacks: str = typer.Option(
        "fgsm,pgd,apgd,square",
        help="Comma-separated attack names, e.g. autoattack (standard AutoAttack), apgd-t, fab-t, square.",
    ),
    eps: str = typer.Option("1,2,8", help="Comma-separated epsilons in 1/255 units."),
    corruptions: str = typer.Option("", help="'all' or comma-separated corruption names (none by default)."),
    severities: str = typer.Option("1..5", help="Corruption severities, e.g. 1..5 or 1,3,5."),
    corruption_source: str = typer.Option(
        "generated",
        "--corruption-source",
        help="generated: robnas corrupts the test images itself; released: read CIFAR-10-C / "
        "CIFAR-100-C as released (Hendrycks and Dietterich), e.g. ROOT/CIFAR-10-C/fog.npy.",
    ),
    n: int = typer.Option(500, "--n", min=1, help="Number of test images (the first n)."),
    batch_size: int = typer.Option(256, min=1, help="Batch size."),
    seed: int = typer.Option(
        0, help="Seed of the attacks, corruptions and (for an architecture) the weights."
    ),
    device: str = device_option(),
    root: str = typer.Option(None, help="Data root (default: $ROBNAS_DATA or the per-user directory)."),
    channels: int = typer.Option(16, "--C", min=1, help="For an architecture: channels of the first stage."),
    cells: int = typer.Option(5, "--N", min=1, help="For an architecture: cells per stage."),
    checks: bool = typer.Option(True, "--checks/--no-checks", help="Run the gradient-masking checks."),
    as_json: bool = json_option("Print the results as JSON (progress goes to standard error)."),
) -> None:
    """Accuracy per attack and epsilon (worst case over attacks too), and per corruption and severity."""
    from robnas.attacks import canonical_attack_name, evaluate_corruptions, evaluate_robustness

    eps_list = parse_eps(eps)
    names = [canonical_attack_name(a) for a in attacks.split(",") if a.strip()]
    if len(set(names)) != len(names):
        raise ConfigError(f"attack listed twice: {attacks}")
    if not names:
        raise ConfigError("give at least one attack, e.g. --attacks pgd,autoattack")
    corr = parse_corruptions(corruptions)
    sev = parse_severities(severities) if corr else []
    from robnas.checks import check_device, check_network_size, check_seed

    device = check_device(device)
    check_seed(seed)
    check_network_size(channels, cells)
    if corruption_source not in ("generated", "released"):
        raise ConfigError(f"--corruption-source is generated or released, not {corruption_source!r}")
    model, ds_name, source = load_model(model_or_checkpoint, dataset, root, channels, cells, seed, device)

    from robnas.data import load_dataset

    ds = load_dataset(ds_name, split="test", root=root)
    plan = {name: [round(e * 255, 6) for e in eps_list] for name in names}  # 1/255 units
    result = evaluate_robustness(
        model, ds, plan, n=n, batch_size=batch_size, device=device, seed=seed, checks=checks,
        progress=True,
    )  # fmt: skip
    if corr and corruption_source == "released":
        from robnas.data.corrupted import released_corruption_accuracy

        corr_acc = released_corruption_accuracy(
            model, ds_name, corr, sev, root=root, n=n, batch_size=batch_size, device=device
        )
    else:
        corr_acc = (
            evaluate_corruptions(model, ds, corr, sev, n=n, batch_size=batch_size, device=device, seed=seed)
            if corr
            else {}
        )
    out = result.to_dict()
    out["model"] = source
    out["dataset"] = ds_name
    out["corruptions"] = {c: {str(s): v for s, v in d.items()} for c, d in corr_acc.items()}
    out["corruption_source"] = corruption_source if corr else None
    if as_json:
        echo_json(out)
        return
    _print(result, corr_acc, source, ds_name)


def _print(result, corr_acc, source: str, ds_name: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from robnas.units import format_epsilon

    console = Console(soft_wrap=True)
    console.print(
        f"[bold]{source}[/] on {ds_name} ({result.n} test images): clean accuracy {result.clean_accuracy:.1%}"
    )
    eps_all = sorted(result.worst_case)
    table = Table(title="accuracy under attack (epsilon in 1/255)")
    notes: list[str] = []
    table.add_column("attack")
    for e in eps_all:
        table.add_column(format_epsilon(e, pixels=True), justify="right")
    for name, per in result.accuracy.items():
        table.add_row(name, *(f"{per[e]:.1%}" if e in per else "" for e in eps_all))
        for e, comp in sorted(result.components.get(name, {}).items()):
            steps = ", ".join(f"{c} {v:.1%}" for c, v in comp.items())
            at = format_epsilon(e, pixels=True)
            notes.append(f"{name} at {at}/255, accuracy after each component: {steps}")
    table.add_row("[bold]worst case[/]", *(f"{result.worst_case[e]:.1%}" for e in eps_all))
    console.print(table)
    for line in notes:
        console.print(line)
    if corr_acc:
        sevs = sorted({s for d in corr_acc.values() for s in d})
        t2 = Table(title="accuracy under corruption (severity)")
        t2.add_column("corruption")
        for s in sevs:
            t2.add_column(str(s), justify="right")
        for c, d in corr_acc.items():
            t2.add_row(c, *(f"{d[s]:.1%}" for s in sevs))
        console.print(t2)
    for c in result.checks:
        mark = "[green]ok[/]" if c.passed else "[red]WARNING[/]"
        console.print(f"{mark} {c.name}: {c.message}")
