"""The full-size measure study (NB201 C=16, N=5, CIFAR-10 batch of 64, seeds 0 and 1) as builds.

Runs the ``measure`` job kind of the builder over the 300 unique architectures of
``sample:300`` (seed 0) in chunks of ``--chunk`` architectures; each chunk is built for seeds 0
and 1 (test-retest) before the next starts, so a run cut short still has both seeds for every
finished architecture. Everything goes through :func:`robnas.runner.build`: rerun the same
command to resume (finished jobs are skipped). Two parts, one store each:

* ``core``: params, flops, synflow, snip, grad_norm, jacov, naswot, jacobian, jacobian_top,
  hessian -> ``results/measures/study_C16N5_core.sqlite``;
* ``ntk``: ntk_adv, ntk_mixed_robust, ntk_cross, ntk under Wu et al.'s protocol (PGD-7 at 8/255,
  beta = 1, 3 initialisations) -> ``results/measures/study_C16N5_ntk.sqlite``;
* ``bounds``: ibp (float64; vacuous at this size, so stored with a flag) and certified_radius
  (mean log10 radius, scale-free) -> ``results/measures/study_C16N5_bounds.sqlite``.

Usage (from the repository root; niced, one thread)::

    ROBNAS_DATA=../shared/data nice -n 10 python results/measures/run_study.py --part core
    ROBNAS_DATA=../shared/data nice -n 10 python results/measures/run_study.py --part ntk

then ``python results/measures/analyse_study.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robnas.measures.registry import CORE_MEASURES, NTK_MEASURES

PARTS = {"core": list(CORE_MEASURES), "ntk": list(NTK_MEASURES), "bounds": ["ibp", "certified_radius"]}
HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=sorted(PARTS), required=True)
    ap.add_argument("--archs", type=int, default=300, help="unique architectures (sample:N, seed 0)")
    ap.add_argument("--chunk", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=1, help="local worker processes (one thread each)")
    args = ap.parse_args()

    from robnas.runner import build
    from robnas.spaces.nb201 import sample_indices

    uids = sample_indices(args.archs, seed=0, unique=True)
    out = HERE / f"study_C16N5_{args.part}.sqlite"
    for start in range(0, len(uids), args.chunk):
        config = {
            "name": f"measure-study-{args.part}",
            "kind": "measure",
            "architectures": list(uids[start : start + args.chunk]),
            "dataset": "cifar10",
            "model": {"C": 16, "N": 5},
            "seeds": list(args.seeds),
            "measures": PARTS[args.part],
            "eval": {"measure_batch": args.batch},
            "output": str(out),
            "device": args.device,
        }
        report = build(config, workers=args.workers, progress=False)
        print(f"{start + args.chunk}/{len(uids)} architectures: {report}", flush=True)
        if report.interrupted:  # Ctrl-C or SIGTERM: stop here (rerun to resume)
            break


if __name__ == "__main__":
    main()
