"""Build NAS-RobBench-201 on a Ray cluster with several jobs per GPU (resumable).

    # on the head node                      # on every other node
    ray start --head                        ray start --address HEAD_IP:6379
    export ROBNAS_DATA=/path/to/data        # CIFAR-10 under $ROBNAS_DATA/cifar10 on every node
    python examples/cluster/build_nasrobbench201.py --address auto --jobs-per-gpu 4
    python examples/cluster/build_nasrobbench201.py --cost   # first: measure one GPU's cost

Runs ``examples/build-nasrobbench201.yaml`` (19,398 jobs: 6,466 architectures x 3 seeds, each
50 epochs of PGD-7 training on 50,000 images and the benchmark's evaluation) through robnas's
Ray executor. An NB201 network (C=16, N=5, 32x32 inputs) uses a small part of a modern GPU, so
``--jobs-per-gpu`` runs several jobs on each GPU (each Ray task asks for ``1/k`` of a GPU and
one CPU). Only the driver writes the results database; stop it at any time (Ctrl-C) and run the
same command again to resume. ``--cost`` runs ``benchmarks/cost_nasrobbench201.py --device cuda
--batch 256`` on this node instead, the measured number to plan with (see
``examples/cluster/README.md`` for the CPU measurement and its scaling).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "build-nasrobbench201.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--address", default="auto", help="Ray cluster address (auto: the running cluster)")
    ap.add_argument("--jobs-per-gpu", type=int, default=4, help="jobs sharing one GPU (1/k GPU per task)")
    ap.add_argument("--config", default=str(CONFIG), help="build configuration (YAML)")
    ap.add_argument("--out", default=None, help="results database (default: the configuration's)")
    ap.add_argument("--cost", action="store_true", help="measure the cost of one job on this node's GPU")
    args = ap.parse_args()
    if args.cost:
        bench = ROOT / "benchmarks" / "cost_nasrobbench201.py"
        sys.exit(subprocess.call([sys.executable, str(bench), "--device", "cuda", "--batch", "256"]))
    if args.jobs_per_gpu < 1:
        sys.exit("--jobs-per-gpu must be at least 1")

    import ray

    from robnas.runner import build, load_config
    from robnas.runner.ray_executor import RayExecutor

    ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus == 0:
        sys.exit("the Ray cluster has no GPUs; this build needs them (see examples/cluster/README.md)")
    cfg = load_config(args.config)
    executor = RayExecutor(workers=gpus * args.jobs_per_gpu, gpus_per_task=1 / args.jobs_per_gpu)
    print(f"{gpus} GPU(s) x {args.jobs_per_gpu} jobs each; {cfg.output if args.out is None else args.out}")
    report = build(cfg, executor=executor, output=args.out)
    print(report.summary())


if __name__ == "__main__":
    main()
