"""The CPU-scale NB201 search experiment of robnas.dnas (resumable; run it under ``nice``).

    nice /work/venv/bin/python results/dnas/experiment.py [--seeds 0 1 2] [--methods darts ...]

Each (method, seed) is one :func:`robnas.dnas.search` run in ``results/dnas/runs/<method>-s<seed>``;
an interrupted run resumes from its last finished epoch, a finished one is skipped.
``summarise.py`` then builds the table (``summarise_v2.py --runs runs-v2`` for the rerun).

The README's tables: ``--runs runs-v2`` (3 epochs, alpha updated from the first step) and
``--runs runs-v3 --epochs 6 --warmup-epochs 3`` (the same number of alpha steps after three epochs
of weight training at uniform alpha; see ``op_preference.py`` for why), and for E2RNAS also
``--runs runs-v3-exclude-none --epochs 6 --warmup-epochs 3 --exclude-none --methods e2rnas``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from robnas.dnas import SearchConfig, SearchRun, search

HERE = Path(__file__).resolve().parent
SETTINGS = dict(space="nb201", dataset="cifar10", epochs=3, C=8, N=1, batch_size=32, n_train=480)


def run_dir(runs: Path, method: str, seed: int) -> Path:
    """The folder of one search run, ``RUNS/METHOD-sSEED`` (read back by :func:`run_dirs`)."""
    return runs / f"{method}-s{seed}"


def run_dirs(runs: Path) -> Iterator[tuple[Path, str, int]]:
    """``(folder, method, seed)`` of every run folder under ``runs``, sorted by name."""
    for d in sorted(p for p in runs.iterdir() if p.is_dir()):
        method, _, seed = d.name.rpartition("-s")
        yield d, method, int(seed)


def add_common_args(ap: argparse.ArgumentParser, runs: str, epochs: int) -> None:
    """The options both experiment scripts share (``experiment_darts.py`` imports this)."""
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--methods", nargs="+", default=["darts", "e2rnas", "dsrna-jacobian", "dsrna-cb"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--root", default=None)
    ap.add_argument("--runs", default=runs, help="folder of the runs under results/dnas")
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument(
        "--warmup-epochs", type=int, default=0, help="epochs of weight training at fixed alpha first"
    )


def run_search(cfg: SearchConfig, out: Path) -> SearchRun:
    """:func:`robnas.dnas.search` into ``out`` (resumes), printing one line per finished epoch."""

    def progress(epoch: int, epochs: int, step: int, steps: int, rec: dict) -> None:
        if step == steps:
            upper = rec.get("upper", float("nan"))  # none in warm-up epochs
            print(f"{out.name}: epoch {epoch + 1}/{epochs} upper {upper:.3f}", flush=True)

    return search(cfg, out, progress=progress)


def main() -> None:
    ap = argparse.ArgumentParser()
    add_common_args(ap, "runs", SETTINGS["epochs"])  # type: ignore[arg-type]
    ap.add_argument("--exclude-none", action="store_true", help="derive no 'none' (DARTS' rule)")
    args = ap.parse_args()
    settings = {**SETTINGS, "epochs": args.epochs, "exclude_none": args.exclude_none}
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        for method in args.methods:
            out = run_dir(HERE / args.runs, method, seed)
            if (out / "result.json").is_file():
                print(f"{out.name}: done", flush=True)
                continue
            t = time.time()
            cfg = SearchConfig(
                method=method, seed=seed, root=args.root, warmup_epochs=args.warmup_epochs, **settings
            )
            run = run_search(cfg, out)
            print(f"{out.name}: {run.history[-1]['arch']} ({time.time() - t:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
