"""Cost of the NAS-RobBench-201 build (examples/build-nasrobbench201.yaml), measured and scaled.

Run: ``python benchmarks/cost_nasrobbench201.py [--device cpu|cuda] [--batch 32] [--sample 24]``.

What is measured, in this run: the time (CPU time of this process on a CPU, with ``--threads``
threads; synchronised wall time on a GPU) of one forward+backward pass of a batch through the
preset's network (C=16, N=5, CIFAR-10 32x32) for the cheapest, median and dearest of ``--sample``
random distinct architectures (by FLOPs), and their FLOPs. What is counted, not measured: the
passes one job needs. Training: 50 epochs x 50,000 images x (7 PGD steps + 1 update) = 20.0 M
image passes; evaluation on 10,000 test images: clean (forward only, counted as 1/3 of a pass),
FGSM at 2 epsilons (1 pass + 1 check each) and PGD-20 at 2 epsilons (21 passes each, before
early stopping): 0.47 M passes. The job count: 6,466 architectures x 3 seeds = 19,398 jobs.

Scaling, with its assumptions printed: a job's time = passes x (measured time per image pass);
the whole build = the sum over jobs, assuming the sample's median architecture is typical (the
printed range uses the cheapest and dearest). On a CPU, per-image time is close to linear in
the batch size, so the batch measured here scales to the preset's 256. A GPU is not linear in
batch size for networks this small (kernel launches dominate at 32x32 with 16-64 channels), so
a GPU estimate from CPU numbers is not honest: run this script with ``--device cuda --batch 256``
on one cluster GPU and multiply; the FLOP-based line printed for GPUs only says what a given
sustained throughput would imply. Ratios printed: dearest / cheapest pass time, and the
evaluation's share of a job.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from robnas.models import build_network, count_flops
from robnas.spaces.nb201 import sample_indices

TRAIN_PASSES = 50 * 50_000 * (7 + 1)
EVAL_PASSES = 10_000 * (1 / 3 + 2 * (1 + 1 / 3) + 2 * 21)
JOBS = 6466 * 3


def pass_time(model: torch.nn.Module, batch: int, device: str, repeat: int = 3) -> float:
    """Best time of one forward+backward pass of ``batch`` random images, in seconds (CPU time of
    this process on a CPU, so that other load on a shared machine does not inflate it)."""
    x = torch.rand(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    # CPU time on a CPU (what a job costs one core, whatever else the machine runs), wall time
    # on a GPU (synchronised)
    clock = time.perf_counter if device.startswith("cuda") else time.process_time
    step()
    best = float("inf")
    for _ in range(repeat):
        t = clock()
        step()
        best = min(best, clock() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--sample", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (per job, as a build worker)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    flops = {}
    for i in sample_indices(args.sample, seed=0, unique=True):
        flops[i] = count_flops(build_network(i, C=16, N=5, num_classes=10))
    order = sorted(flops, key=lambda i: (flops[i], i))
    picks = {"cheapest": order[0], "median": order[len(order) // 2], "dearest": order[-1]}
    print(f"device {args.device}, batch {args.batch}, {args.threads} thread(s); C=16, N=5, 32x32")
    per_image = {}
    for label, idx in picks.items():
        torch.manual_seed(0)
        model = build_network(idx, C=16, N=5, num_classes=10).to(args.device)
        t = pass_time(model, args.batch, args.device) / args.batch
        per_image[label] = t
        print(
            f"  {label:8s} index {idx:5d}: {flops[idx] / 1e6:7.1f} MFLOPs forward, "
            f"{t * 1e3:7.3f} ms per image pass (forward+backward)"
        )
    job = {k: (TRAIN_PASSES + EVAL_PASSES) * t for k, t in per_image.items()}
    print(f"passes per job: training {TRAIN_PASSES / 1e6:.1f} M, evaluation {EVAL_PASSES / 1e6:.2f} M "
          f"({EVAL_PASSES / (TRAIN_PASSES + EVAL_PASSES):.1%} of the job)")  # fmt: skip
    print(f"ratio dearest / cheapest pass time: {per_image['dearest'] / per_image['cheapest']:.1f}x")
    for k in picks:
        print(f"  one job ({k}): {job[k] / 3600:8.1f} h on this device")
    total = job["median"] * JOBS
    print(
        f"whole build ({JOBS} jobs, median architecture typical): {total / 3600:,.0f} device-hours "
        f"(range {job['cheapest'] * JOBS / 3600:,.0f} - {job['dearest'] * JOBS / 3600:,.0f})"
    )
    flop_job = 3 * flops[picks["median"]] * (TRAIN_PASSES + EVAL_PASSES)  # backward ~ 2x forward
    print(
        f"achieved here: {3 * flops[picks['median']] / per_image['median'] / 1e9:.1f} GFLOP/s on the median "
        f"architecture; one median job is {flop_job / 1e15:.2f} PFLOP"
    )
    for tflops in (2, 5, 10):
        print(
            f"  IF a GPU sustained {tflops:2d} TFLOP/s on these networks (an assumption; measure with "
            f"--device cuda): {flop_job / (tflops * 1e12) / 60:6.1f} min per job, "
            f"{flop_job * JOBS / (tflops * 1e12) / 3600:,.0f} GPU-hours in all"
        )


if __name__ == "__main__":
    main()
