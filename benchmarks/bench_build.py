"""Build throughput with 1 and 2 workers, and the store+runner overhead per job.

Run: ``python benchmarks/bench_build.py [--jobs 8] [--epochs 1] [--examples 128]``.

The job is a small real one: train a NAS-Bench-201 network (C=4, N=1, ``cpu-tiny`` preset,
``--epochs`` epochs) on scikit-learn's digits, then clean accuracy, PGD and FGSM at 8/255 and
one corruption on ``--examples`` test images. Printed, all measured in this run:

* ``bare``: the same job function called directly in this process (one torch thread), the
  reference work without any runner or store;
* throughput of ``robnas.runner.build`` with 1 and with 2 local worker processes, and their
  ratio (goal: 2 workers at least 1.7x faster than 1; the machine has 2 cores), next to the
  speed-up of 2 plain processes over 1 on a CPU-bound loop measured in the same run (what the
  machine allows at the moment, when other work shares it);
* store+runner overhead per job (goal: under 2% of the bare job): (a) the cost of the whole
  machinery for a job that does nothing (planning, pickling to a worker and back, one SQLite
  transaction with ``synchronous=FULL``), measured on zero-work synthetic jobs; (b) the residual of
  the real 1-worker build: wall time minus worker start-up minus the jobs' own durations.

Warm-up (spawning workers, importing torch, loading the dataset: a one-off cost per build and
worker, paid by each worker's first job) is reported separately and left out of the steady
throughput. The load average is printed: on a shared machine other work skews the ratios.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from robnas.runner import all_jobs, build, load_config
from robnas.store import ResultStore


def config(out: Path, n: int, epochs: int, examples: int, kind: str = "train-attack") -> dict:
    cfg = {
        "kind": kind,
        "architectures": f"sample:{n}",
        "sample_seed": 1,
        "dataset": "digits",
        "seeds": [0],
        "output": str(out),
        "retries": 0,
    }
    if kind == "train-attack":
        cfg.update(
            training={"preset": "cpu-tiny", "epochs": epochs},
            model={"C": 4, "N": 1},
            attacks={"pgd": [8], "fgsm": [8]},
            corruptions={"gaussian_noise": [3]},
            eval={"examples": examples, "batch_size": 128},
        )
    return cfg


def bare(cfg: dict) -> tuple[float, int]:
    """Run the job function in this process; returns (seconds of the jobs after warm-up, jobs)."""
    import torch

    from robnas.runner.train_attack import run

    torch.set_num_threads(1)
    jobs = all_jobs(load_config(cfg))
    run(jobs[0], "cpu")  # warm-up: imports, dataset cache
    t = time.perf_counter()
    for job in jobs:
        run(job, "cpu")
    return time.perf_counter() - t, len(jobs)


def machine_parallelism(iterations: int = 4_000_000) -> float:
    """Speed-up of 2 plain processes over 1 on a CPU-bound loop: what this machine allows right now."""
    import multiprocessing

    from robnas.runner.synthetic import burn

    t = time.perf_counter()
    burn(iterations)
    burn(iterations)
    one = time.perf_counter() - t
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(burn, [1000, 1000])  # start-up
        t = time.perf_counter()
        pool.map(burn, [iterations, iterations])
        two = time.perf_counter() - t
    return one / two


def timed_build(cfg: dict, workers: int) -> dict[str, float]:
    """Run a build and read its timeline from the store.

    The first job of each worker also pays that worker's warm-up (importing torch, loading the
    dataset), a one-off cost per build; the steady state is measured on the other jobs: from the
    first start among them to the last finish.
    """
    t0 = time.time()
    report = build(cfg, workers=workers, progress=False, interruptible=False)
    wall = time.time() - t0
    assert report.failed == 0 and report.done > workers, report.summary()
    frame = ResultStore(cfg["output"], readonly=True).query()
    jobs = frame.groupby("job_key").agg(
        started=("started", "first"), finished=("finished", "first"), duration=("duration", "first")
    )
    jobs = jobs.sort_values("started")
    steady = jobs.iloc[workers:]
    window = float(steady["finished"].max() - steady["started"].min())
    return {
        "wall": wall,
        "warmup": float(steady["started"].min() - t0),
        "jobs": float(len(steady)),
        "window": window,
        "work": float(steady["duration"].sum()),
        "rate": len(steady) / window,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=12, help="Jobs (architectures) per build.")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--examples", type=int, default=128, help="Test images attacked per job.")
    ap.add_argument("--noop-jobs", type=int, default=200, help="Zero-work jobs for the overhead measurement.")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        cfg = config(tmpdir / "bare.sqlite", args.jobs, args.epochs, args.examples)
        bare_s, n = bare(cfg)
        per_bare = bare_s / n
        print(f"job: train-attack on digits (C=4, N=1, {args.epochs} epoch(s), {args.examples} test images)")
        print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"bare job function, in process:        {per_bare:7.3f} s/job ({n} jobs)")

        one = timed_build(config(tmpdir / "w1.sqlite", args.jobs, args.epochs, args.examples), workers=1)
        two = timed_build(config(tmpdir / "w2.sqlite", args.jobs, args.epochs, args.examples), workers=2)
        for name, r in (("1 worker ", one), ("2 workers", two)):
            print(
                f"build, {name}: wall {r['wall']:6.2f} s (warm-up {r['warmup']:5.2f} s), "
                f"steady {r['rate'] * 60:6.1f} jobs/min"
            )
        print(f"speed-up 2 vs 1 workers (steady):    {two['rate'] / one['rate']:5.2f}x   (goal >= 1.7x)")
        attainable = machine_parallelism()
        print(
            f"reference: 2 plain processes vs 1:   {attainable:5.2f}x   (what the machine allows now); "
            f"runner efficiency {two['rate'] / one['rate'] / attainable:5.1%}"
        )
        print(f"speed-up 2 vs 1 workers (wall):      {one['wall'] / two['wall']:5.2f}x   (incl. warm-up)")

        noop = config(tmpdir / "noop.sqlite", args.noop_jobs, 0, 0, kind="synthetic")
        r = timed_build(noop, workers=1)
        per_noop = 1 / r["rate"]
        print(
            f"machinery per zero-work job:         {per_noop * 1000:7.2f} ms "
            f"= {per_noop / per_bare:6.2%} of a bare job   (goal < 2%)"
        )
        residual = (one["window"] - one["work"]) / one["jobs"]
        print(
            f"residual per real job (1 worker):    {residual * 1000:7.2f} ms "
            f"= {residual / per_bare:6.2%} of a bare job"
        )
        print(f"job time in a worker vs in process:  {one['work'] / one['jobs'] / per_bare:5.2f}x")
        load = os.getloadavg()[0]
        print(f"load average at the end: {load:.1f} on {os.cpu_count()} cores (other work skews the ratios)")


if __name__ == "__main__":
    main()
