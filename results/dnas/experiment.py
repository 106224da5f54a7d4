"""The CPU-scale NB201 search experiment of robnas.dnas (resumable; run it under ``nice``).

    nice /work/venv/bin/python results/dnas/experiment.py [--seeds 0 1 2] [--methods darts ...]

Each (method, seed) is one :func:`robnas.dnas.search` run in ``results/dnas/runs/<method>-s<seed>``;
an interrupted run resumes from its last finished epoch, a finished one is skipped.
``summarise.py`` then builds the table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from robnas.dnas import SearchConfig, search

HERE = Path(__file__).resolve().parent
SETTINGS = dict(space="nb201", dataset="cifar10", epochs=3, C=8, N=1, batch_size=32, n_train=480)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--methods", nargs="+", default=["darts", "e2rnas", "dsrna-jacobian", "dsrna-cb"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--root", default=None)
    ap.add_argument("--runs", default="runs", help="folder of the runs under results/dnas")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        for method in args.methods:
            out = HERE / args.runs / f"{method}-s{seed}"
            if (out / "result.json").is_file():
                print(f"{out.name}: done", flush=True)
                continue
            t = time.time()
            cfg = SearchConfig(method=method, seed=seed, root=args.root, **SETTINGS)

            def progress(
                epoch: int, epochs: int, step: int, steps: int, rec: dict, name: str = out.name
            ) -> None:
                if step == steps:
                    print(f"{name}: epoch {epoch + 1}/{epochs} upper {rec['upper']:.3f}", flush=True)

            run = search(cfg, out, progress=progress)
            print(f"{out.name}: {run.history[-1]['arch']} ({time.time() - t:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
