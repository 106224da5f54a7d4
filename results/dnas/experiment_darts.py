"""The CPU-scale DARTS-space experiment of robnas.dnas: search, then the papers' evaluation
protocol (retrain the found genotype from scratch, attack it, certify it). Resumable; run it niced.

    ROBNAS_DATA=../shared/data nice -n 10 python results/dnas/experiment_darts.py \
        [--seeds 0 1] [--methods darts e2rnas dsrna-jacobian dsrna-cb]

Each (method, seed) is one :func:`robnas.dnas.search` run in ``results/dnas/runs-darts/<method>-s<seed>``
(an interrupted search resumes from its last finished epoch), followed by
:func:`robnas.dnas.evaluate.evaluate_genotype` of the derived genotype, written to ``eval.json``
beside it (skipped when present). ``summarise_darts.py`` builds the table. The README's second
DARTS-space table is ``--runs runs-darts-warmup --epochs 4 --warmup-epochs 2`` (two epochs of
weight training at uniform alpha, then the same two search epochs).

Scale (``SEARCH`` and ``EVAL`` below) against the papers (DARTS / DSRNA / E2RNAS: search with C=16,
8 cells, 50 epochs on 25k + 25k CIFAR-10 images; evaluation with C=36, 20 cells, 600 epochs on all
of CIFAR-10): the search uses C=4, 5 cells, 480 images for 2 epochs, the evaluation C=8, 5 cells,
2,000 images for 3 epochs, and is attacked on 500 test images with PGD-20 at 2/255 (at 8/255 a
network trained this briefly is at chance). These numbers say whether the pipeline runs and what the
methods' early gradients prefer; they are not the papers' numbers. The paper-scale command is in the
README (``robnas dnas search --space darts ...`` then ``robnas dnas eval RUN --C 36 --layers 20 ...``
on a GPU).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from experiment import add_common_args, run_dir, run_search  # the sibling script (this folder is on sys.path)

from robnas.dnas import SearchConfig
from robnas.dnas.evaluate import evaluate_genotype, parse_found
from robnas.utils import atomic_write_json

HERE = Path(__file__).resolve().parent
SEARCH = dict(space="darts", dataset="cifar10", epochs=2, C=4, N=1, batch_size=32, n_train=480)
EVAL = dict(C=8, layers=5, epochs=3, n_train=2000, n_test=500, eps=2 / 255, attacks=("pgd",))


def main() -> None:
    ap = argparse.ArgumentParser()
    add_common_args(ap, "runs-darts", SEARCH["epochs"])  # type: ignore[arg-type]
    args = ap.parse_args()
    search_settings = {**SEARCH, "epochs": args.epochs, "warmup_epochs": args.warmup_epochs}
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        for method in args.methods:
            out = run_dir(HERE / args.runs, method, seed)
            if not (out / "result.json").is_file():
                t = time.time()
                cfg = SearchConfig(method=method, seed=seed, root=args.root, **search_settings)
                run = run_search(cfg, out)
                print(f"{out.name}: searched in {time.time() - t:.0f}s: {run.derived}", flush=True)
            if (out / "eval.json").is_file():
                print(f"{out.name}: done", flush=True)
                continue
            genotype = parse_found(str(out))
            t = time.time()
            res = evaluate_genotype(genotype, seed=seed, root=args.root, progress=False, **EVAL)  # type: ignore[arg-type]
            res["seconds"] = time.time() - t
            atomic_write_json(out / "eval.json", res, indent=1)
            print(f"{out.name}: evaluated in {res['seconds']:.0f}s", flush=True)


if __name__ == "__main__":
    main()
