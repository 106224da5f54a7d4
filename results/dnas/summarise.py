"""Build the table of the NB201 search experiment (``experiment.py``) with benchmark values,
the benchmark optimum and a random-search baseline of equal cost.

    /work/venv/bin/python results/dnas/summarise.py   # writes summary.json, table.md, alphas PNGs

Random search of equal cost: the search's wall time buys as many standalone trainings of a
random cell (same C, N, data, epochs and batch size, measured here on 3 random cells) as fit in
it; random search then queries the benchmark for that many cells (at least 1) and keeps the best
by the benchmark's own value -- an oracle advantage the one-shot search does not have.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from robnas.benchmarks import get_source
from robnas.dnas.evaluate import BENCH_METRICS, benchmark_optimum, lookup_nb201
from robnas.dnas.plots import load_history, plot_alpha_trajectories
from robnas.search import run_search

HERE = Path(__file__).resolve().parent
COLUMNS = [
    ("nasrobbench201", "cifar10/clean"),
    ("nasrobbench201", "cifar10/pgd@8"),
    ("jung2023", "cifar10/clean"),
    ("jung2023", "cifar10/pgd@1"),
    ("natsbench", "cifar10/clean"),
]


def standalone_seconds(cfg: dict) -> float:
    """Seconds to train a random NB201 cell at the search's scale (median of 3 cells)."""
    from robnas.data import load_dataset, make_loader, train_val_split
    from robnas.models import build_network
    from robnas.spaces import random_arch

    ds = load_dataset(cfg["dataset"], "train").take(cfg["n_train"], seed=0)
    train, _ = train_val_split(ds, val_fraction=0.5, seed=0)
    times = []
    for s in range(3):
        torch.manual_seed(s)
        net = build_network(random_arch(s), C=cfg["C"], N=cfg["N"], mean=ds.info.mean, std=ds.info.std)
        opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9)
        t = time.time()
        for e in range(cfg["epochs"]):
            loader = make_loader(train, cfg["batch_size"], shuffle=True, seed=s, drop_last=True)
            loader.set_epoch(e)
            for x, y in loader:
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(x), y).backward()
                opt.step()
        times.append(time.time() - t)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    runs = sorted(p for p in (HERE / "runs").iterdir() if (p / "result.json").is_file())
    if not runs:
        raise SystemExit("no finished runs in results/dnas/runs; run experiment.py first")
    rows = []
    for p in runs:
        res = json.loads((p / "result.json").read_text())
        look = lookup_nb201(res["arch"])
        row = {
            "run": p.name,
            "method": res["config"]["method"],
            "seed": res["config"]["seed"],
            "arch": res["arch"],
            "uid": res["uid"],
            "seconds": res["seconds"],
        }
        for src, m in COLUMNS:
            row[f"{src}:{m}"] = look[src].get(m, math.nan)
        rows.append(row)
        plot_alpha_trajectories(load_history(p), HERE / "plots" / f"{p.name}.png", p.name)
    cfg = json.loads((runs[0] / "result.json").read_text())["config"]
    t_one = standalone_seconds(cfg)
    optimum = benchmark_optimum()
    rs_rows = {}
    objectives = {
        "nasrobbench201:cifar10/pgd@8": get_source("nasrobbench201").values("cifar10/pgd@8"),
        "jung2023:cifar10/pgd@1": get_source("jung2023").values("cifar10/pgd@1"),
    }
    for method in sorted({r["method"] for r in rows}):
        mine = [r for r in rows if r["method"] == method]
        budget = max(1, round(statistics.mean(r["seconds"] for r in mine) / t_one))
        out = {"budget": budget}
        for name, values in objectives.items():
            vals = np.nan_to_num(np.asarray(values, dtype=float), nan=-1.0)
            best = [run_search("rs", vals, budget, seed).best_value for seed in range(20)]
            out[name] = {"mean": float(np.mean(best)), "std": float(np.std(best))}
        rs_rows[method] = out
    summary = {
        "settings": cfg,
        "standalone_train_seconds": t_one,
        "runs": rows,
        "optimum": optimum,
        "random_search_equal_cost": rs_rows,
        "bench_metrics": BENCH_METRICS,
    }
    (HERE / "summary.json").write_text(json.dumps(summary, indent=1))
    lines = [
        "| method | seed | found cell | NRB clean | NRB PGD@8 | Jung clean | Jung PGD@1 | NATS clean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        vals = " | ".join(f"{r[f'{s}:{m}']:.3f}" for s, m in COLUMNS)
        lines.append(f"| {r['method']} | {r['seed']} | `{r['arch']}` | {vals} |")
    opt = " | ".join(f"{optimum[f'{s}:{m}']['value']:.3f}" for s, m in COLUMNS)
    lines.append(f"| optimum | | (best per column) | {opt} |")
    for method, out in rs_rows.items():
        n, j = out["nasrobbench201:cifar10/pgd@8"], out["jung2023:cifar10/pgd@1"]
        lines.append(
            f"| RS, cost of {method} ({out['budget']} queries) | 20 seeds | best by each PGD column | "
            f"| {n['mean']:.3f} ± {n['std']:.3f} | | {j['mean']:.3f} ± {j['std']:.3f} | |"
        )
    (HERE / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
