"""Table of the rerun NB201-space experiment (``experiment.py --runs runs-v2``): per method and
seed, the found cell, its parameter count at the benchmark size (C=16, N=5), the share of
parameter-free operations (``none``, ``skip_connect``, ``avg_pool_3x3``) and its benchmark values.

    PYTHONPATH=src python results/dnas/summarise_v2.py [--runs runs-v2] [--root DATA]

Writes ``<runs>/table.md`` and ``<runs>/summary.json``; unfinished runs are listed as such.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from experiment import run_dirs  # the sibling script (this folder is on sys.path)

from robnas.dnas.evaluate import lookup_nb201
from robnas.models import build_network, count_params
from robnas.spaces.nb201 import Arch

HERE = Path(__file__).resolve().parent
FREE = ("none", "skip_connect", "avg_pool_3x3")
COLUMNS = [
    ("nasrobbench201", "cifar10/clean"),
    ("nasrobbench201", "cifar10/pgd@8"),
    ("jung2023", "cifar10/pgd@1"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs-v2")
    ap.add_argument("--root", default=None)
    args = ap.parse_args()
    runs = HERE / args.runs
    rows = []
    for d, method, seed in run_dirs(runs):
        if not (d / "result.json").is_file():
            rows.append({"method": method, "seed": seed, "unfinished": True})
            continue
        res = json.loads((d / "result.json").read_text())
        arch = Arch.parse(res["arch"])
        ops = [op for op in arch.string.replace("|+|", "|").strip("|").split("|") if op]
        names = [o.split("~")[0] for o in ops]
        bench = lookup_nb201(arch, args.root)
        row = {
            "method": method,
            "seed": seed,
            "arch": arch.string,
            "params": count_params(build_network(arch, C=16, N=5)),
            "free_ops": sum(n in FREE for n in names) / len(names),
            "seconds": res["seconds"],
        }
        for src, metric in COLUMNS:
            row[f"{src}:{metric}"] = bench[src].get(metric, float("nan"))
        rows.append(row)
    (runs / "summary.json").write_text(json.dumps(rows, indent=1))
    lines = [
        "| method | seed | found cell | params (C=16, N=5) | parameter-free ops "
        "| NRB clean | NRB PGD@8 | Jung PGD@1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("unfinished"):
            lines.append(f"| {r['method']} | {r['seed']} | (unfinished) | | | | | |")
            continue
        vals = " | ".join(f"{r[f'{s}:{m}']:.3f}" for s, m in COLUMNS)
        cell = f"`{r['arch']}` | {r['params'] / 1e6:.3f}M | {r['free_ops']:.2f}"
        lines.append(f"| {r['method']} | {r['seed']} | {cell} | {vals} |")
    (runs / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
