"""``robnas train ARCH``: train a NAS-Bench-201 network with a named preset, resumably."""

from __future__ import annotations

from pathlib import Path

import typer

from robnas.cli._output import device_option, echo_json, json_option


def train(
    arch: str = typer.Argument(..., help="NAS-Bench-201 architecture: index (0..15624) or string."),
    dataset: str = typer.Option("cifar10", help="Dataset name."),
    preset: str = typer.Option(
        "cpu-tiny", help="Training preset (nasrobbench201, cpu-tiny, cpu-small-at, ...)."
    ),
    out: Path = typer.Option(None, help="Run directory (default runs/<dataset>-<index>-<preset>-s<seed>)."),
    epochs: int = typer.Option(None, min=1, help="Override the preset's number of epochs."),
    objective: str = typer.Option(
        None, help="Override the objective (standard, pgd-at, fgsm-rs, trades, mixed)."
    ),
    beta: float = typer.Option(None, help="Override beta (mixed: weight of the adversarial loss; trades)."),
    channels: int = typer.Option(
        None, "--C", min=1, help="Override the preset's channels of the first stage."
    ),
    cells: int = typer.Option(None, "--N", min=1, help="Override the preset's cells per stage."),
    val_fraction: float = typer.Option(
        None,
        min=0.0,
        max=0.99,
        help="Fraction of the training split held out for validation (default: the preset's; "
        "0 for nasrobbench201 and nasbench201, whose benchmarks train on the whole split; else 0.1).",
    ),
    seed: int = typer.Option(0, help="Seed of the weights, data order, augmentation and attacks."),
    device: str = device_option(),
    root: str = typer.Option(None, help="Data root (default: $ROBNAS_DATA or the per-user directory)."),
    resume: bool = typer.Option(
        True, "--resume/--no-resume", help="Resume from the run directory's checkpoint."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace a checkpoint of another run (architecture, preset, seed) in --out."
    ),
    as_json: bool = json_option("Print the history as JSON (progress goes to standard error)."),
) -> None:
    """Train ARCH on DATASET with PRESET; checkpoints after every epoch and resumes."""
    import torch

    from robnas.checks import check_device, check_seed
    from robnas.data import load_dataset, train_val_split
    from robnas.models import build_network
    from robnas.spaces import Arch
    from robnas.training import default_val_fraction, get_preset
    from robnas.training import train as run

    device = check_device(device)
    check_seed(seed)
    a = Arch.parse(int(arch) if arch.strip().isdigit() else arch)
    p = get_preset(preset).replace(epochs=epochs, objective=objective, beta=beta, C=channels, N=cells)
    ds = load_dataset(dataset, split="train", root=root)
    if val_fraction is None:
        val_fraction = default_val_fraction(preset)
    tr, va = (ds, None) if val_fraction == 0 else train_val_split(ds, val_fraction=val_fraction, seed=seed)
    out_dir = out or Path("runs") / f"{dataset}-{a.index}-{p.name}-s{seed}"
    torch.manual_seed(seed)
    info = ds.info
    model = build_network(
        a,
        C=p.C,
        N=p.N,
        **info.model_kwargs(),
    )
    hist = run(
        model, tr, va, p, seed=seed, device=device, out_dir=out_dir, resume=resume and not force,
        progress=True,
        meta={"dataset": dataset, "arch_index": a.index, "val_fraction": val_fraction},
    )  # fmt: skip
    if as_json:
        echo_json({"out": str(out_dir), **hist.to_dict()})
        return
    for e in hist.epochs:
        typer.echo(
            f"epoch {e.epoch:3d}  loss {e.train_loss:.4f}  train acc {e.train_acc:.1%}  "
            + (f"val acc {e.val_acc:.1%}  " if e.val_acc is not None else "")
            + f"lr {e.lr:.4f}  {e.seconds:.1f}s"
        )
    typer.echo(f"checkpoint: {out_dir / 'checkpoint.pt'}")
