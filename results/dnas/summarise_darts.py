"""Table of the DARTS-space experiment (``experiment_darts.py``): per method and seed, the share of
parameter-free operations in the found normal and reduction cells, the parameters of the
retrained network, its clean and PGD-20 accuracy and its certified radius.

    PYTHONPATH=src python results/dnas/summarise_darts.py [--runs runs-darts]

Writes ``<runs>/table.md`` and ``<runs>/summary.json``; unfinished runs are listed as such.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from experiment import run_dirs  # the sibling script (this folder is on sys.path)

HERE = Path(__file__).resolve().parent
FREE = ("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3")


def _free(cell: list[list]) -> float:
    return sum(op in FREE for op, _ in cell) / len(cell)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="runs-darts")
    args = ap.parse_args()
    runs = HERE / args.runs
    rows = []
    for d, method, seed in run_dirs(runs):
        if not (d / "eval.json").is_file():
            rows.append({"method": method, "seed": seed, "unfinished": True})
            continue
        ev = json.loads((d / "eval.json").read_text())
        res = json.loads((d / "result.json").read_text())
        g = ev["genotype"]
        rob = ev["robustness"]
        eps = next(iter(rob["accuracy"]["pgd"]))
        rows.append(
            {
                "method": method,
                "seed": seed,
                "free_normal": _free(g["normal"]),
                "free_reduce": _free(g["reduce"]),
                "normal": " ".join(f"{op}~{i}" for op, i in g["normal"]),
                "params": ev["params"],
                "clean": rob["clean_accuracy"],
                f"pgd20@{eps}": rob["accuracy"]["pgd"][eps],
                "certified_log10_radius": ev.get("certified_log10_radius"),
                "search_seconds": res["seconds"],
                "eval_seconds": ev["seconds"],
            }
        )
    (runs / "summary.json").write_text(json.dumps(rows, indent=1))
    done = [r for r in rows if not r.get("unfinished")]
    key = next((k for r in done for k in r if k.startswith("pgd20@")), "pgd20@2")
    lines = [
        "| method | seed | parameter-free ops (normal / reduce) | params (eval net) | clean | "
        f"PGD-20@{key.split('@')[1]}/255 | certified log10 radius |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("unfinished"):
            lines.append(f"| {r['method']} | {r['seed']} | unfinished | | | | |")
            continue
        lines.append(
            f"| {r['method']} | {r['seed']} | {r['free_normal']:.2f} / {r['free_reduce']:.2f} | "
            f"{r['params'] / 1e3:.1f}k | {r['clean']:.3f} | {r[key]:.3f} | "
            f"{r['certified_log10_radius']:.1f} |"
        )
    by: dict[str, list[dict]] = {}
    for r in done:
        by.setdefault(r["method"], []).append(r)
    lines += ["", "| method | mean params | mean clean | mean PGD-20 |", "|---|---|---|---|"]
    for m, rs in by.items():
        lines.append(
            f"| {m} | {statistics.mean(r['params'] for r in rs) / 1e3:.1f}k | "
            f"{statistics.mean(r['clean'] for r in rs):.3f} | {statistics.mean(r[key] for r in rs):.3f} |"
        )
    (runs / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
