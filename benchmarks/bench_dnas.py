"""Time of one search step of each robnas.dnas method relative to ``darts``, measured in one run.

    /work/venv/bin/python benchmarks/bench_dnas.py [--space nb201] [--order first] [--C 8] [--batch 32]

One step = architecture step + weight step on one training and one validation batch of CIFAR-10
(or random pixels when the data is missing), the supernet at C channels, N = 1. Each method gets
``--warmup`` untimed steps, then the median of ``--repeats`` timed steps; ratios are against
``darts`` measured in the same process.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from robnas.dnas import SearchConfig, architecture_step, build_supernet, get_method


def _batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    try:
        from robnas.data import load_dataset

        ds = load_dataset("cifar10", "train").take(2 * n, seed=0)
        x = ds.images.float() / 255
        y = ds.labels
        return (x[:n], y[:n]) if seed == 0 else (x[n:], y[n:])
    except Exception:  # noqa: BLE001 - any missing data: time on random pixels
        return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def time_step(space: str, method: str, order: str, C: int, batch: int, warmup: int, repeats: int) -> float:
    torch.manual_seed(0)
    cfg = SearchConfig(space=space, method=method, order=order, C=C, N=1, batch_size=batch)
    model = build_supernet(space, C=C, N=1, num_classes=10, mean=(0.5,) * 3, std=(0.25,) * 3)
    m = get_method(method)
    w_opt = torch.optim.SGD(model.weight_parameters(), lr=cfg.w_lr, momentum=0.9)
    a_opt = torch.optim.Adam(model.arch_parameters(), lr=cfg.a_lr)
    train, val = _batch(batch, 0), _batch(batch, 1)
    times = []
    for i in range(warmup + repeats):
        t = time.perf_counter()
        model.train()
        g, _ = architecture_step(model, m, train, val, order=order, xi=cfg.w_lr, wd=cfg.w_wd, seed=i)
        for a, ga in zip(model.arch_parameters(), g, strict=True):
            a.grad = ga
        a_opt.step()
        a_opt.zero_grad(set_to_none=True)
        loss = m.lower_loss(model, *train, seed=i)
        w_opt.zero_grad(set_to_none=True)
        loss.backward()
        w_opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--order", default="first")
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--methods", nargs="+", default=["darts", "dsrna-cb", "dsrna-jacobian", "e2rnas", "darts-at"]
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    results = {}
    for method in args.methods:
        if args.space == "darts" and method == "dsrna-cb":
            continue  # no bound rules for the DARTS operations
        results[method] = time_step(
            args.space, method, args.order, args.C, args.batch, args.warmup, args.repeats
        )
    ref = results["darts"]
    print(
        f"space={args.space} order={args.order} C={args.C} N=1 batch={args.batch} (median of {args.repeats})"
    )
    for method, t in results.items():
        print(f"{method:>15s}: {t * 1000:8.1f} ms/step  ratio vs darts {t / ref:5.2f}")


if __name__ == "__main__":
    main()
