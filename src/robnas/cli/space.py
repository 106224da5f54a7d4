"""``robnas space``: the NAS-Bench-201 cell space (Dong and Yang, ICLR 2020) from the command line.

Commands: ``arch`` (one architecture: spellings, class, operation counts, size and FLOPs),
``sample``, ``neighbours`` and ``info``. Each prints a table, or JSON with ``--json``. Bad input
raises the ``ValueError`` of :mod:`robnas.spaces`, which ``robnas`` reports in one line (exit 2).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from robnas.cli._output import echo_json, json_option, plain_option, print_wide, table
from robnas.spaces import nb201
from robnas.spaces.nb201 import Arch

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)


_emit_json = echo_json


def _console() -> Console:
    return Console(soft_wrap=True)


def arch_summary(
    arch: Arch | str | int,
    C: int = 16,
    N: int = 5,
    num_classes: int = 10,
    input_size: int = 32,
    in_channels: int = 3,
) -> dict[str, Any]:
    """Everything ``robnas space arch`` reports, as a JSON-ready dict.

    Parameters and FLOPs are counted on a real :class:`~robnas.models.NB201Network` (CPU, one
    forward pass of one image); FLOPs follow NASLib's convention (see :mod:`robnas.models.sizes`),
    ``macs`` counts only the weight multiply-accumulates.
    """
    from robnas.models import build_network, count_flops, count_params

    a = Arch.parse(arch)
    model = build_network(a, C=C, N=N, num_classes=num_classes, in_channels=in_channels)
    size = (in_channels, input_size, input_size)
    params = count_params(model)
    flops = count_flops(model, size, convention="naslib")
    macs = count_flops(model, size, convention="macs")
    return {
        "index": a.index,
        "string": a.string,
        "uid": a.uid,
        "is_unique": a.is_unique,
        "naslib": a.naslib_key(),
        "op_counts": a.op_counts(),
        "config": {
            "C": C,
            "N": N,
            "num_classes": num_classes,
            "in_channels": in_channels,
            "input_size": [input_size, input_size],
        },
        "params": params,
        "params_m": round(params / 1e6, 6),
        "flops": flops,
        "mflops": round(flops / 1e6, 6),
        "macs": macs,
        "flops_convention": "naslib",
    }


@app.command("arch")
def arch_cmd(
    arch: str = typer.Argument(..., help="An index 0..15624 or a NAS-Bench-201 string."),
    as_json: bool = json_option(),
    channels: int = typer.Option(16, "--C", min=1, help="Channels of the first stage (NAS-Bench-201: 16)."),
    cells: int = typer.Option(5, "--N", min=0, help="Cells per stage (NAS-Bench-201: 5)."),
    num_classes: int = typer.Option(10, "--num-classes", min=1, help="Classifier outputs."),
    input_size: int = typer.Option(32, "--input-size", min=1, help="Height and width of the input."),
    in_channels: int = typer.Option(3, "--in-channels", min=1, help="Channels of the input."),
) -> None:
    """Show one architecture: index, string, uid, operation counts, parameters and FLOPs."""
    info = arch_summary(arch, channels, cells, num_classes, input_size, in_channels)
    if as_json:
        _emit_json(info)
        return
    cfg = info["config"]
    table = Table(
        title=(
            f"NAS-Bench-201 architecture {info['index']} (C={cfg['C']}, N={cfg['N']}, "
            f"{cfg['num_classes']} classes, input {cfg['in_channels']}x{input_size}x{input_size})"
        )
    )
    table.add_column("field", no_wrap=True)
    table.add_column("value", no_wrap=True)
    table.add_row("index", str(info["index"]))
    table.add_row("string", info["string"])
    table.add_row("uid", str(info["uid"]))
    table.add_row("class representative", "yes" if info["is_unique"] else f"no (uid {info['uid']})")
    table.add_row("NASLib encoding", info["naslib"])
    table.add_row("operations", ", ".join(f"{k}: {v}" for k, v in info["op_counts"].items()))
    table.add_row("parameters", f"{info['params']:,} ({info['params_m']:.6f} M)")
    table.add_row("FLOPs (NASLib)", f"{info['flops']:,} ({info['mflops']:.6f} M)")
    table.add_row("MACs (weights)", f"{info['macs']:,}")
    print_wide(table, _console())


def _row(a: Arch) -> dict[str, Any]:
    return {"index": a.index, "uid": a.uid, "is_unique": a.is_unique, "string": a.string}


@app.command("sample")
def sample_cmd(
    n: int = typer.Option(5, "-n", "--num", min=0, help="How many architectures."),
    seed: int = typer.Option(0, help="Random seed."),
    unique: bool = typer.Option(False, "--unique", help="Draw class representatives only."),
    as_json: bool = json_option(),
    plain: bool = plain_option(),
) -> None:
    """Draw distinct architectures uniformly at random."""
    rows = [_row(a) for a in nb201.sample(n, seed=seed, unique=unique)]
    if as_json:
        _emit_json(rows)
        return
    pool = "class representatives" if unique else "all architectures"
    table(
        ("index", "uid", "string"),
        [(r["index"], r["uid"], r["string"]) for r in rows],
        title=f"{n} architectures drawn from {pool} (seed {seed})",
        plain=plain,
        justify={"index": "right", "uid": "right"},
    )


@app.command("neighbours")
def neighbours_cmd(
    arch: str = typer.Argument(..., help="An index 0..15624 or a NAS-Bench-201 string."),
    as_json: bool = json_option(),
    plain: bool = plain_option(),
) -> None:
    """List the 24 architectures one edge operation away."""
    a = Arch.parse(arch)
    rows = []
    for b in a.neighbours():
        pos = next(k for k in range(len(nb201.EDGES)) if a.ops[k] != b.ops[k])
        i, j = nb201.EDGES[pos]
        rows.append(
            {
                **_row(b),
                "edge": f"{i}->{j}",
                "from": nb201.OPS[a.ops[pos]],
                "to": nb201.OPS[b.ops[pos]],
            }
        )
    if as_json:
        _emit_json({"arch": _row(a), "neighbours": rows})
        return
    table(
        ("edge", "change", "index", "uid", "string"),
        [(r["edge"], f"{r['from']} -> {r['to']}", r["index"], r["uid"], r["string"]) for r in rows],
        title=f"{len(rows)} neighbours of {a.index} ({a.string})",
        plain=plain,
        justify={"index": "right", "uid": "right"},
    )


@app.command("info")
def info_cmd(
    as_json: bool = json_option(),
) -> None:
    """Size of the space, isomorphism classes, operations and edges."""
    data = {
        "name": "nas-bench-201",
        "num_archs": nb201.NUM_ARCHS,
        "num_unique": len(nb201.unique_indices()),
        "num_nodes": nb201.NUM_NODES,
        "ops": list(nb201.OPS),
        "edges": [f"{i}->{j}" for i, j in nb201.EDGES],
        "example": nb201.EXAMPLE,
    }
    if as_json:
        _emit_json(data)
        return
    table = Table(title="NAS-Bench-201 cell space (Dong and Yang, ICLR 2020)")
    table.add_column("field", no_wrap=True)
    table.add_column("value", no_wrap=True)
    table.add_row("architectures", f"{data['num_archs']:,}")
    table.add_row("isomorphism classes", f"{data['num_unique']:,}")
    table.add_row("nodes", f"{data['num_nodes']} (node 0 = input, node {data['num_nodes'] - 1} = output)")
    table.add_row("operations", ", ".join(data["ops"]))
    table.add_row("edges (string order)", ", ".join(data["edges"]))
    table.add_row("example", data["example"])
    print_wide(table, _console())
