"""Speed of robnas.measures, each speed-up against the implementation it replaces (same process,
same network and batch, same thread count), with the agreement of the two.

1. NTK kernels of the sum of the logits: ``gram_matrix(method="layers")`` (per-layer, per-sample
   gradients from one forward and one backward pass, summed into the kernel) against
   ``method="vmap"`` (``vmap(grad)`` per-sample gradients, then ``G G^T``: the default for the sum,
   chosen from this comparison) and, with ``--tenas``, TE-NAS's loop (one backward per sample);
   max relative difference of the kernels.
2. Hessian: the exact Gauss-Newton form from the input Jacobian (exact for piecewise-linear
   networks) against power iteration with Hessian-vector products (the previous default,
   ``max_iter=20, tol=1e-3``); Kendall tau across architectures and max relative difference.
3. The registry: one :func:`compute_measures` call (the network prepared once per BatchNorm mode,
   the Jacobian shared by jacobian, jacobian_top and hessian) against one call per measure
   (re-initialise and re-calibrate for each, nothing shared: the previous policy).
4. NTK output reductions: Kendall tau across architectures between ``sum`` (default), ``trace``
   (per-logit) and, on a small batch, ``full`` eNTK minimum eigenvalues.
5. The default measure set (:data:`robnas.measures.DEFAULT_MEASURES`) at the defaults: seconds
   per architecture and per measure (goal: <= 10 s per C=16, N=5 architecture).
6. NTK kernels under Wu et al.'s protocol: channels-last memory layout (default) against
   contiguous: the largest difference of the clean kernel K and of the perturbed kernel K~
   relative to their largest entry, and tau of the minimum eigenvalues across architectures.
   K agrees to float32 rounding; K~ does not, because PGD at initialisation is chaotic: the
   share of adversarial pixels that move (by more than 1e-4) when the layout changes, and when
   the clean images change by 1e-6 (Gaussian, then clipped), shows it.
7. The floor of that protocol: one initialisation's kernels (:func:`ntk_kernels`, defaults)
   against the bare cost of the passes the protocol cannot avoid, in the same layout: the 14
   input-gradient passes of the two PGD-7 runs at batch B, plus one plain forward and backward
   pass over the 3B samples (the parameter gradients of a batch, without splitting them per
   sample). The ratio is robnas' overhead over that bare cost; the bare cost times three
   initialisations is what the default NTK family costs at the very least.

Usage: ``python benchmarks/bench_measures.py [--C 16 --N 5 --batch 64 --archs 4 --threads 1]``;
``--skip`` takes section numbers to leave out.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from scipy import stats

from robnas.measures import DEFAULT_MEASURES, calibrate_bn, compute_measures, measure_batch
from robnas.measures.hessian import gauss_newton_top_eigenvalue, hessian_top_eigenvalue
from robnas.measures.jacobian import input_jacobian
from robnas.measures.ntk import (
    PGD_STEPS,
    channels_last,
    gram_matrix,
    kernel_scores,
    ntk_kernels,
    per_sample_grads,
    perturb,
)
from robnas.measures.registry import CORE_MEASURES, MeasureContext
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


def _time(fn, repeats: int = 1):  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _tau(a: list[float], b: list[float]) -> float:
    return float(stats.kendalltau(a, b).statistic) if len(a) > 2 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--archs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--root", default=None)
    ap.add_argument("--skip", type=int, nargs="*", default=[])
    ap.add_argument("--tenas", action="store_true", help="also time TE-NAS's loop (slow: B backward passes)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    x, y, info = measure_batch("cifar10", args.batch, 0, args.root)
    archs = sample_indices(args.archs, 0, unique=True)
    print(f"torch {torch.__version__}, {args.threads} thread(s), C={args.C}, N={args.N}, batch={args.batch}")

    def net_of(idx: int) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_network(idx, C=args.C, N=args.N, **info.model_kwargs())

    if 1 not in args.skip:
        print("\n1. NTK kernel: per-layer one pass (method=layers) vs vmap(grad) vs TE-NAS loop")
        r_v, r_t = [], []
        for idx in archs:
            net = calibrate_bn(net_of(idx), x)
            t_g, k = _time(lambda net=net: gram_matrix(net, x, method="layers"), args.repeats)
            t_v, kv = _time(
                lambda net=net: (lambda g: (g @ g.T).double())(per_sample_grads(net, x)), args.repeats
            )
            t_t = _time(lambda net=net: tenas_loop(net, x))[0] if args.tenas else float("nan")
            err = float((k - kv).abs().max() / kv.abs().max())
            r_v.append(t_v / t_g)
            r_t.append(t_t / t_g)
            print(
                f"  arch {idx:>5}  one pass {t_g:6.2f}s  vmap {t_v:6.2f}s ({t_v / t_g:4.2f}x)  "
                f"TE-NAS loop {t_t:6.2f}s ({t_t / t_g:4.2f}x)  max rel. diff {err:.1e}"
            )
        print(
            f"  median ratio vmap / one pass: {statistics.median(r_v):.2f}x; "
            f"TE-NAS / one pass: {statistics.median(r_t):.2f}x"
        )

    if 2 not in args.skip:
        print("\n2. Hessian: exact Gauss-Newton from the Jacobian vs power iteration (max_iter=20, tol=1e-3)")
        gn, pw, ratios = [], [], []
        for idx in archs:
            net = calibrate_bn(net_of(idx), x)

            def exact(net: torch.nn.Module = net) -> float:
                jac = input_jacobian(net, x)
                with torch.no_grad():
                    logits = net(x)
                return float(gauss_newton_top_eigenvalue(jac, logits).mean())

            t_e, v_e = _time(exact, args.repeats)
            gen = torch.Generator().manual_seed(0)
            t_p, (lam, iters) = _time(
                lambda net=net, gen=gen: hessian_top_eigenvalue(net, x, y, None, 20, 1e-3, gen)
            )
            v_p = float(lam.mean())
            gn.append(v_e)
            pw.append(v_p)
            ratios.append(t_p / t_e)
            print(
                f"  arch {idx:>5}  exact {t_e:6.2f}s ({v_e:.4g})  "
                f"power {t_p:6.2f}s, {iters} it. ({v_p:.4g})  "
                f"{t_p / t_e:4.2f}x  rel. diff {abs(v_e - v_p) / max(abs(v_e), 1e-30):.1e}"
            )
        print(
            f"  median ratio power / exact: {statistics.median(ratios):.2f}x; "
            f"Kendall tau(exact, power) = {_tau(gn, pw):.3f}"
        )

    if 3 not in args.skip:
        names = list(CORE_MEASURES)
        print(
            "\n3. Registry: one call (shared preparation and Jacobian) vs one call per measure "
            f"({len(names)} measures)"
        )
        ratios = []
        for idx in archs:
            t_one, v_one = _time(lambda idx=idx: compute_measures(names, lambda: net_of(idx), x, y))
            t_sep, v_sep = _time(
                lambda idx=idx: {
                    k: v for n in names for k, v in compute_measures([n], lambda: net_of(idx), x, y).items()
                }
            )
            same = all(abs(v_one[k] - v_sep[k]) <= 1e-5 * max(abs(v_sep[k]), 1e-12) for k in v_sep)
            ratios.append(t_sep / t_one)
            print(
                f"  arch {idx:>5}  one call {t_one:6.2f}s  per measure {t_sep:6.2f}s "
                f"({t_sep / t_one:4.2f}x)  same values: {same}"
            )
        print(f"  median ratio: {statistics.median(ratios):.2f}x")

    if 4 not in args.skip:
        print("\n4. NTK reductions: Kendall tau across architectures of lmin (clean kernel, one init)")
        small = x[:8]
        s_sum, s_trace, s_full, s_sum8 = [], [], [], []
        for idx in archs:
            net = calibrate_bn(net_of(idx), x)
            s_sum.append(kernel_scores(gram_matrix(net, x, "sum"))["lmin"])
            s_trace.append(kernel_scores(gram_matrix(net, x, "trace"))["lmin"])
            net8 = calibrate_bn(net_of(idx), small)
            s_sum8.append(kernel_scores(gram_matrix(net8, small, "sum"))["lmin"])
            s_full.append(kernel_scores(gram_matrix(net8, small, "full"))["lmin"])
        print(f"  tau(sum, trace) at batch {args.batch}: {_tau(s_sum, s_trace):.3f}")
        print(f"  tau(sum, full eNTK) at batch 8: {_tau(s_sum8, s_full):.3f}  ({len(archs)} architectures)")

    if 6 not in args.skip:
        print("\n6. NTK kernels under Wu et al.'s protocol (one init: two PGD-7 batches, a kernel of 3B)")
        print("   channels-last layout (default) vs contiguous")
        ratios = []
        s_cl: list[float] = []
        s_co: list[float] = []
        gen = torch.Generator().manual_seed(0)
        x_near = (x + 1e-6 * torch.randn(x.shape, generator=gen)).clamp(0, 1)

        def moved(a: torch.Tensor, b: torch.Tensor) -> float:
            return float(((a - b).abs() > 1e-4).float().mean())

        for idx in archs:
            times, kernels = {}, {}
            for layout in ("contiguous", "channels_last"):
                net = calibrate_bn(net_of(idx), x).eval()
                ctx = MeasureContext(net, x, y, torch.nn.functional.cross_entropy)
                t, ks = _time(lambda ctx=ctx, layout=layout: ntk_kernels(ctx, n_init=1, layout=layout))
                times[layout], kernels[layout] = t, ks[0]
                lmin = kernel_scores(ks[0]["11"])["lmin"]
                (s_cl if layout == "channels_last" else s_co).append(lmin)
            ratios.append(times["contiguous"] / times["channels_last"])
            rel = {}
            for key in ("00", "11"):
                k_co = kernels["contiguous"][key]
                rel[key] = float((kernels["channels_last"][key] - k_co).abs().max() / k_co.abs().max())
            net = calibrate_bn(net_of(idx), x).eval()
            x_adv = perturb(net, x, y)
            cnet, cx = channels_last(calibrate_bn(net_of(idx), x).eval(), x)
            by_layout, by_input = moved(x_adv, perturb(cnet, cx, y)), moved(x_adv, perturb(net, x_near, y))
            print(
                f"  arch {idx:>5}  contiguous {times['contiguous']:6.2f}s  channels-last "
                f"{times['channels_last']:6.2f}s ({ratios[-1]:4.2f}x)  max rel. diff K {rel['00']:.1e}, "
                f"K~ {rel['11']:.1e}; PGD pixels moved by the layout {by_layout:.2f}, by 1e-6 {by_input:.2f}"
            )
        tau = _tau(s_cl, s_co)
        print(f"  median speed-up {statistics.median(ratios):.2f}x; tau(layouts) of K~ lmin {tau:.3f}")

    if 7 not in args.skip:
        print("\n7. One initialisation of Wu et al.'s protocol against its bare cost (channels-last)")
        ratios, bare_all, full_all = [], [], []
        for idx in archs:
            net = calibrate_bn(net_of(idx), x).eval()
            ctx = MeasureContext(net, x, y, torch.nn.functional.cross_entropy)
            t_full, _ = _time(lambda ctx=ctx: ntk_kernels(ctx, n_init=1))
            cnet, cx = channels_last(calibrate_bn(net_of(idx), x).eval(), x)

            def bare(cnet: torch.nn.Module = cnet, cx: torch.Tensor = cx) -> None:
                xa = cx.clone()
                for _ in range(2 * PGD_STEPS):  # the input gradients of two PGD-7 runs
                    xa.requires_grad_(True)
                    loss = torch.nn.functional.cross_entropy(cnet(xa), y)
                    (g,) = torch.autograd.grad(loss, xa)
                    xa = (xa.detach() + 1e-3 * g.sign()).clamp(0, 1)
                xs = torch.cat([cx, xa, xa]).contiguous(memory_format=torch.channels_last)
                cnet.zero_grad()
                cnet(xs).sum().backward()  # the parameter gradients of all 3B samples, summed

            t_bare, _ = _time(bare)
            ratios.append(t_full / t_bare)
            bare_all.append(t_bare)
            full_all.append(t_full)
            print(f"  arch {idx:>5}  kernels {t_full:6.2f}s  bare passes {t_bare:6.2f}s ({ratios[-1]:4.2f}x)")
        print(
            f"  median: kernels {statistics.median(full_all):.2f}s, bare {statistics.median(bare_all):.2f}s "
            f"({statistics.median(ratios):.2f}x); three initialisations cost at least "
            f"{3 * statistics.median(bare_all):.1f}s"
        )

    if 5 not in args.skip:
        print(f"\n5. The default measure set per architecture ({len(DEFAULT_MEASURES)} measures, defaults)")
        totals: list[float] = []
        per: dict[str, list[float]] = {}
        for idx in archs:
            timings: dict[str, float] = {}
            compute_measures(list(DEFAULT_MEASURES), lambda idx=idx: net_of(idx), x, y, timings=timings)
            totals.append(sum(timings.values()))
            for n, t in timings.items():
                per.setdefault(n, []).append(t)
            print(f"  arch {idx:>5}  {totals[-1]:6.1f}s")
        for n, ts in per.items():
            print(f"    {n:<18} median {statistics.median(ts):7.2f}s")
        print(f"  median {statistics.median(totals):.1f}s per architecture (goal <= 10 s)")


if __name__ == "__main__":
    main()
