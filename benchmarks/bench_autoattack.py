"""AutoAttack speed against the reference package ``pyautoattack`` (Croce and Hein's code).

Run: ``python benchmarks/bench_autoattack.py [--device cpu] [--n 359] [--eps 24] [--model mlp|nb201]``.

Same model, same images, same epsilon; each component (APGD-CE, APGD-T, FAB-T, Square) alone
and the full standard AutoAttack, robnas vs the reference, with the robust accuracy of both (so a
faster attack that found fewer adversarial examples shows as such). Prints the time ratio
robnas / reference measured in the same run (below 1: robnas is faster). ``--model mlp`` is the
digits MLP of the test suite (trained here in a second); ``--model nb201`` an untrained
NAS-Bench-201 network (C=16, N=1) on CIFAR-10 images, whose labels are its own predictions.
Data: ``--root`` or ``$ROBNAS_DATA``.

Differences that affect time: robnas drops a point from APGD and Square as soon as it is fooled
(the reference keeps iterating on the whole batch in APGD), and computes FAB-T's one needed
gradient per step as the reference does.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from robnas.attacks import get_attack
from robnas.data import load_dataset


def digits_mlp(root: str | None) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    tr = load_dataset("digits", split="train", root=root)
    te = load_dataset("digits", split="test", root=root)
    xtr, ytr = tr.images.float() / 255, torch.as_tensor(tr.labels).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        perm = torch.randperm(len(ytr), generator=g)
        for i in range(0, len(ytr), 128):
            b = perm[i : i + 128]
            opt.zero_grad()
            F.cross_entropy(model(xtr[b]), ytr[b]).backward()
            opt.step()
    return model.eval(), te.images.float() / 255, torch.as_tensor(te.labels).long()


def nb201(root: str | None, n: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    from robnas.models import build_network

    ds = load_dataset("cifar10", "test", root=root)
    torch.manual_seed(0)
    model = build_network(0, C=16, N=1, mean=ds.info.mean, std=ds.info.std).eval()
    x = ds.images[:n].float().div(255)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def reference(
    name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, dev: str
) -> torch.Tensor:
    from pyautoattack import AutoAttack
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
    from pyautoattack.fab_pt import FABAttack_PT
    from pyautoattack.square import SquareAttack

    kw = {"eps": eps, "norm": "Linf", "seed": 0, "device": dev}
    if name == "apgd-ce":
        return APGDAttack(model, n_iter=100, n_restarts=1, **kw).perturb(x, y)
    if name == "apgd-t":
        return APGDAttack_targeted(model, n_iter=100, n_restarts=1, n_target_classes=9, **kw).perturb(x, y)
    if name == "fab-t":
        return FABAttack_PT(model, n_restarts=1, n_iter=100, targeted=True, n_target_classes=9, **kw).perturb(
            x, y
        )
    if name == "square":
        return SquareAttack(
            model, p_init=0.8, n_queries=5000, n_restarts=1, resc_schedule=False, **kw
        ).perturb(x, y)
    logging.getLogger("auto-attack").disabled = True
    return AutoAttack(model, version="standard", **kw).run_standard_evaluation(x, y, batch_size=len(y))[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=359)
    ap.add_argument("--eps", type=float, default=24.0, help="epsilon in 1/255 units")
    ap.add_argument("--model", choices=["mlp", "nb201"], default="mlp")
    ap.add_argument("--attacks", default="apgd-ce,apgd-t,fab-t,square,autoattack")
    ap.add_argument("--root", default=None)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    model, x, y = digits_mlp(args.root) if args.model == "mlp" else nb201(args.root, args.n)
    model = model.to(args.device)
    for p in model.parameters():
        p.requires_grad_(False)
    x, y = x[: args.n].to(args.device), y[: args.n].to(args.device)
    eps = args.eps / 255
    print(f"{args.model}, {len(y)} images, eps {args.eps:g}/255, device {args.device}")
    print(f"{'attack':<12}{'robnas s':>10}{'ref s':>10}{'ratio':>8}{'robnas acc':>12}{'ref acc':>10}")
    for name in args.attacks.split(","):
        t = time.perf_counter()
        ours = get_attack(name, eps=eps)(model, x, y)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        ref = reference(name, model, x, y, eps, args.device)
        t_ref = time.perf_counter() - t
        with torch.no_grad():
            a_ours = float((model(ours).argmax(1) == y).float().mean())
            a_ref = float((model(ref).argmax(1) == y).float().mean())
        print(f"{name:<12}{t_ours:>10.2f}{t_ref:>10.2f}{t_ours / t_ref:>8.2f}{a_ours:>12.2%}{a_ref:>10.2%}")


if __name__ == "__main__":
    main()
