"""``robnas quickstart``: a small end-to-end run on data that needs no download.

Today it samples architectures from the NAS-Bench-201 space, builds their networks for the
chosen dataset (scikit-learn's bundled ``digits`` by default, or a CIFAR-10 folder), and reports
size, FLOPs and a timed forward pass on real images. Training, attacks and measures join it as
their packages land.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table


def quickstart(
    n: int = typer.Option(5, "-n", "--num-archs", min=1, max=100, help="Architectures to sample."),
    seed: int = typer.Option(0, help="Seed for sampling and initialisation."),
    dataset: str = typer.Option("digits", help="Dataset name (digits needs no download)."),
    root: str = typer.Option(None, help="Data root (default: $ROBNAS_DATA or the per-user directory)."),
    channels: int = typer.Option(16, "--C", min=1, help="Channels of the first stage (NAS-Bench-201: 16)."),
    cells: int = typer.Option(5, "--N", min=1, help="Cells per stage (NAS-Bench-201: 5)."),
    batch_size: int = typer.Option(64, min=1, help="Batch size of the forward pass."),
    device: str = typer.Option("cpu", help="Torch device, e.g. cpu or cuda."),
    out: Path = typer.Option(Path("quickstart-out"), help="Folder for the results (JSON)."),
) -> None:
    """Sample architectures, build their networks and run them on real images."""
    import torch

    from robnas.data import load_dataset, make_loader
    from robnas.models import build_network, count_flops, count_params
    from robnas.spaces import sample

    console = Console()
    torch.manual_seed(seed)
    dev = torch.device(device)
    ds = load_dataset(dataset, split="test", root=root)
    info = ds.info
    x, y = next(iter(make_loader(ds, batch_size=batch_size, shuffle=True, seed=seed)))
    x, y = x.to(dev), y.to(dev)
    console.print(
        f"[bold]robnas quickstart[/]: {n} architectures of NAS-Bench-201 (C={channels}, N={cells}) "
        f"on [cyan]{info.name}[/] ({len(ds)} test images, {info.channels}x{info.image_size[0]}x"
        f"{info.image_size[1]}, {info.num_classes} classes)"
    )
    rows = []
    for arch in sample(n, seed=seed, unique=True):
        torch.manual_seed(seed)
        model = build_network(
            arch,
            C=channels,
            N=cells,
            num_classes=info.num_classes,
            in_channels=info.channels,
            mean=info.mean,
            std=info.std,
        ).to(dev)
        model.eval()
        with torch.no_grad():
            start = time.perf_counter()
            logits = model(x)
            elapsed = time.perf_counter() - start
        rows.append(
            {
                "index": arch.index,
                "uid": arch.uid,
                "arch": arch.string,
                "params": count_params(model),
                "flops": count_flops(model, input_size=(info.channels, *info.image_size)),
                "forward_ms": 1000 * elapsed,
                "untrained_accuracy": float((logits.argmax(1) == y).float().mean()),
            }
        )
    table = Table(title=f"{n} sampled architectures (untrained, batch of {len(y)})")
    for col in ("index", "uid", "arch", "params", "MFLOPs", "forward ms", "untrained acc"):
        table.add_column(col, justify="left" if col == "arch" else "right")
    for r in rows:
        table.add_row(
            str(r["index"]),
            str(r["uid"]),
            r["arch"],
            f"{r['params']:,}",
            f"{r['flops'] / 1e6:.2f}",
            f"{r['forward_ms']:.1f}",
            f"{r['untrained_accuracy']:.3f}",
        )
    console.print(table)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "quickstart.json"
    path.write_text(json.dumps({"dataset": info.name, "C": channels, "N": cells, "archs": rows}, indent=2))
    console.print(f"results written to [green]{path}[/]")
