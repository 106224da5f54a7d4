"""Attack speed against torchattacks, and PGD's overhead over bare forward+backward passes.

Run: ``python benchmarks/bench_attacks.py [--device cpu] [--batch 128] [--C 16] [--N 1]``.
Prints time ratios measured in the same run (goals: robnas PGD/APGD-CE at least as fast as
torchattacks'; a K-step PGD within 10% of K forward+backward passes). torchattacks is needed
only here and in one test (``pip install --no-deps torchattacks``).

Labels are the model's own predictions, so every point starts correctly classified and the
attacks do their full work; robnas PGD runs with ``early_stop=False`` to do the same work as
torchattacks (with early stopping, the default for evaluation, it is faster still).
"""

from __future__ import annotations

import argparse
import time

import torch

from robnas.attacks import APGD, PGD
from robnas.data import load_dataset
from robnas.models import build_network


def timeit(fn, repeat: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--root", default=None)
    args = ap.parse_args()
    dev = torch.device(args.device)
    ds = load_dataset("cifar10", "test", root=args.root)
    info = ds.info
    torch.manual_seed(0)
    model = build_network(0, C=args.C, N=args.N, mean=info.mean, std=info.std).to(dev).eval()
    x = ds.images[: args.batch].float().div(255).to(dev)
    with torch.no_grad():
        y = model(x).argmax(1)
    eps, k = 8 / 255, args.steps

    def bare() -> None:
        for p in model.parameters():
            p.requires_grad_(False)
        xa = x.clone()
        for _ in range(k):
            xa.requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(xa), y)
            (g,) = torch.autograd.grad(loss, xa)
            xa = (xa.detach() + g.sign() * 1e-3).clamp(0, 1)
        for p in model.parameters():
            p.requires_grad_(True)

    def bare_full() -> None:
        for _ in range(k):
            xa = x.clone().requires_grad_(True)
            model.zero_grad()
            torch.nn.functional.cross_entropy(model(xa), y).backward()

    t_bare = timeit(bare)
    t_full = timeit(bare_full)
    t_pgd = timeit(lambda: PGD(eps, steps=k, early_stop=False)(model, x, y))
    print(f"K={k} steps, batch {args.batch}, NB201 C={args.C} N={args.N} on {dev}")
    print(f"  K forward + input-gradient passes : {t_bare:.3f}s")
    print(f"  K forward + full backward passes  : {t_full:.3f}s")
    print(f"  robnas PGD-{k}                     : {t_pgd:.3f}s  ratio {t_pgd / t_bare:.3f} (goal <= 1.10)")
    try:
        import torchattacks as ta
    except ImportError:
        print("torchattacks not installed: pip install --no-deps torchattacks for the comparison")
        return
    t_ta = timeit(lambda: ta.PGD(model, eps=eps, alpha=2.5 * eps / k, steps=k)(x, y))
    print(
        f"  torchattacks PGD-{k}               : {t_ta:.3f}s  "
        f"robnas/torchattacks {t_pgd / t_ta:.3f} (goal <= 1)"
    )
    n_apgd = 5 * k
    t_apgd = timeit(lambda: APGD(eps, steps=n_apgd)(model, x, y), repeat=1)
    t_ta_apgd = timeit(lambda: ta.APGD(model, eps=eps, steps=n_apgd, n_restarts=1, loss="ce")(x, y), repeat=1)
    print(f"  robnas APGD-CE-{n_apgd}               : {t_apgd:.3f}s")
    print(
        f"  torchattacks APGD-CE-{n_apgd}         : {t_ta_apgd:.3f}s  "
        f"robnas/torchattacks {t_apgd / t_ta_apgd:.3f}"
        " (goal <= 1)"
    )


if __name__ == "__main__":
    main()
