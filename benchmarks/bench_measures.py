"""Speed of robnas.measures: batched per-sample gradients vs a per-sample loop, and the cost of
each measure per architecture.

1. NTK per-sample gradients: ``per_sample_grads`` (``vmap(grad(functional_call))``, chunked) against
   ``per_sample_grads_loop`` (one forward and backward pass per sample, as TE-NAS does), on the same
   network and batch, same process, same thread count; the script checks the two agree and prints
   the ratio loop / batched (goal: >= 3x on CPU).
2. Every registered measure on a few architectures: seconds per measure per architecture.

Usage: ``python benchmarks/bench_measures.py [--C 16 --N 5 --batch 32 --archs 3 --threads 1]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from robnas.data import load_dataset
from robnas.measures import available_measures, calibrate_bn, compute_measures
from robnas.measures.ntk import per_sample_grads, per_sample_grads_loop
from robnas.models import build_network
from robnas.spaces.nb201 import sample_indices


def tenas_loop(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """TE-NAS's reference: one batched forward pass, then one backward pass per sample."""
    params = list(net.parameters())
    with torch.enable_grad():
        out = net(x).sum(1)
        rows = []
        for i in range(x.shape[0]):
            grads = torch.autograd.grad(out[i], params, retain_graph=True, allow_unused=True)
            rows.append(
                torch.cat(
                    [
                        (g if g is not None else torch.zeros_like(p)).flatten()
                        for g, p in zip(grads, params, strict=True)
                    ]
                )
            )
    return torch.stack(rows)


def _best(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--chunk", type=int, default=32)
    ap.add_argument("--archs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--root", default=None)
    ap.add_argument("--skip-measures", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    ds = load_dataset("cifar10", "train", args.root).take(args.batch, 0)
    x, y, info = ds.images.float() / 255, ds.labels, ds.info
    archs = sample_indices(args.archs, 0, unique=True)
    print(f"torch {torch.__version__}, {args.threads} thread(s), C={args.C}, N={args.N}, batch={args.batch}")

    print("\n1. NTK per-sample gradients: batched (vmap) vs per-sample loop")
    ratios: list[float] = []
    ratios_t: list[float] = []
    for idx in archs:
        torch.manual_seed(0)
        net = build_network(idx, C=args.C, N=args.N, mean=info.mean, std=info.std)
        calibrate_bn(net, x)
        g_b = per_sample_grads(net, x, args.chunk)
        g_l = per_sample_grads_loop(net, x)
        err = float((g_b - g_l).abs().max() / g_l.abs().max().clamp_min(1e-30))
        t_b = _best(lambda net=net: per_sample_grads(net, x, args.chunk), args.repeats)
        t_l = _best(lambda net=net: per_sample_grads_loop(net, x), args.repeats)
        t_t = _best(lambda net=net: tenas_loop(net, x), args.repeats)
        ratios.append(t_l / t_b)
        ratios_t.append(t_t / t_b)
        print(
            f"  arch {idx:>5}  params {g_b.shape[1]:>8}  batched {t_b:7.3f}s  "
            f"per-sample fwd+bwd loop {t_l:7.3f}s ({t_l / t_b:5.2f}x)  "
            f"TE-NAS loop {t_t:7.3f}s ({t_t / t_b:5.2f}x)  max rel. diff {err:.1e}"
        )
    print(f"  median ratio, per-sample forward+backward loop / batched: {statistics.median(ratios):.2f}x")
    print(
        "  median ratio, TE-NAS loop (batch forward, per-sample backward) / batched: "
        f"{statistics.median(ratios_t):.2f}x"
    )
    print("  (goal >= 3x)")

    if args.skip_measures:
        return
    print("\n2. Seconds per measure per architecture (fresh network per measure, includes its setup)")
    names = available_measures()
    per: dict[str, list[float]] = {n: [] for n in names}
    for idx in archs:
        timings: dict[str, float] = {}
        compute_measures(
            names,
            lambda idx=idx: build_network(idx, C=args.C, N=args.N, mean=info.mean, std=info.std),
            x,
            y,
            seed=0,
            timings=timings,
        )
        for n, t in timings.items():
            per[n].append(t)
    for n in names:
        print(f"  {n:<18} median {statistics.median(per[n]):8.3f}s   max {max(per[n]):8.3f}s")
    print("  (the NTK measures share the perturbed batches and gradients of the first one run)")


if __name__ == "__main__":
    main()
