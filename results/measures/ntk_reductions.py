"""Does the sum-of-logits NTK rank architectures like the per-logit (trace) and the full eNTK?

TE-NAS and robnas' default differentiate the sum of the logits (a ``B x B`` kernel); the
per-logit kernel summed over the outputs (``reduction="trace"``) and the full ``(B*C) x (B*C)``
empirical NTK are the quantities the NTK theory speaks of. For the first ``--archs`` architectures
of the full-size study (``sample:300``, seed 0; NB201 C=16, N=5), on the clean CIFAR-10 batch of
the study (seed 0) and one initialisation (seed 0), this computes the clean kernel's minimum
eigenvalue and condition number under

* ``sum`` and ``trace`` on the batch of 64, and
* ``sum`` and ``full`` on the first 8 images of it (the full kernel's memory grows with
  ``B * C * parameters``),

and prints Kendall tau between the reductions (95% bootstrap CI) and each reduction's tau with
NAS-RobBench-201 PGD@8. Rows go to ``ntk_reductions.csv`` as they are computed; rerun to resume.

Usage (from the repository root)::

    ROBNAS_DATA=../shared/data nice -n 10 python results/measures/ntk_reductions.py --archs 40
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
OUT = HERE / "ntk_reductions.csv"
RUNS = (("sum", 64), ("trace", 64), ("sum", 8), ("full", 8))
COLUMNS = ["uid"] + [f"{r}{b}.{k}" for r, b in RUNS for k in ("lmin", "cond")]


def measure(uid: int, x: torch.Tensor, y: torch.Tensor, info: object) -> dict[str, float]:
    from robnas.measures import compute_measures
    from robnas.models import build_network

    row: dict[str, float] = {"uid": uid}
    for reduction, b in RUNS:
        values = compute_measures(
            ["ntk"],
            lambda: build_network(uid, C=16, N=5, **info.model_kwargs()),  # type: ignore[attr-defined]
            x[:b],
            y[:b],
            seed=0,
            options={"ntk": {"n_init": 1, "reduction": reduction}},
        )
        row[f"{reduction}{b}.lmin"] = values["ntk.lmin"]
        row[f"{reduction}{b}.cond"] = values["ntk.cond"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=40)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from robnas.benchmarks import get_source
    from robnas.measures import measure_batch
    from robnas.measures.stats import bootstrap_ci, tau
    from robnas.spaces.nb201 import sample_indices

    uids = sample_indices(300, seed=0, unique=True)[: args.archs]
    done: dict[int, dict[str, float]] = {}
    if OUT.exists():
        with OUT.open(newline="") as f:
            done = {int(r["uid"]): {k: float(v) for k, v in r.items()} for r in csv.DictReader(f)}
    x, y, info = measure_batch("cifar10", 64, 0)
    new = not OUT.exists()
    with OUT.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for i, uid in enumerate(uids):
            if uid in done:
                continue
            done[uid] = measure(int(uid), x, y, info)
            writer.writerow({k: repr(float(v)) if k != "uid" else uid for k, v in done[uid].items()})
            f.flush()
            print(f"{i + 1}/{len(uids)} arch {uid}", flush=True)

    rows = [done[u] for u in uids if u in done]
    col = {c: np.array([r[c] for r in rows], dtype=np.float64) for c in COLUMNS}
    nrb = get_source("nasrobbench201")
    pgd8 = np.asarray(nrb.values("cifar10/pgd@8"), dtype=np.float64)[col["uid"].astype(int)]

    def fmt(a: np.ndarray, b: np.ndarray) -> str:
        lo, hi = bootstrap_ci(tau, [a, b], args.boot)
        t = tau(a, b)
        return f"{t:+.2f} [{lo:+.2f}, {hi:+.2f}]" if math.isfinite(t) else "n/a"

    print(f"\nn = {len(rows)} architectures (C=16, N=5; one initialisation; CIFAR-10 batch seed 0)\n")
    print("| scores | tau between reductions [95% CI] | tau with NRB PGD@8: first | second |")
    print("|---|---|---|---|")
    for a, b in (("sum64", "trace64"), ("sum8", "full8")):
        for k in ("lmin", "cond"):
            ca, cb = col[f"{a}.{k}"], col[f"{b}.{k}"]
            print(f"| {a} vs {b}, {k} | {fmt(ca, cb)} | {fmt(ca, pgd8)} | {fmt(cb, pgd8)} |")


if __name__ == "__main__":
    main()
