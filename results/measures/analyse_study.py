"""Analysis of the measure study: n, Kendall tau with bootstrap CIs, partial tau given the
parameter count, tau within groups of equal parameter count, cross-validated "params + measure"
tau, test-retest reliability (seed 0 vs seed 1) and Wu et al.'s Fig. 5 claim (paired bootstrap).

Reads the builder stores written by ``results/measures/run_study.py`` (default), or, with
``--csv``, a table written by ``robnas measure`` (the older C=8, N=2 study, one seed: no
reliability). Targets are the released accuracies of Jung et al. (standard training) and
NAS-RobBench-201 (adversarial training) on CIFAR-10. The parameter count is NB201's exact count
at the study's size (``robnas.models.nb201_param_count``).

Usage::

    ROBNAS_DATA=../shared/data python results/measures/analyse_study.py            # the stores
    ROBNAS_DATA=../shared/data python results/measures/analyse_study.py \\
        --csv results/measures/cifar10_sample500_C8N2_b16.csv --C 8 --N 2 \\
        --out results/measures/sensitivity_C8N2.csv

Writes a long CSV (``--out``) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from robnas.measures.stats import (
    bootstrap_ci,
    cv_tau,
    paired_difference_ci,
    partial_tau,
    tau,
    within_group_tau,
)

HERE = Path(__file__).resolve().parent
TARGETS = {
    "Jung clean": ("jung2023", "cifar10/clean"),
    "Jung FGSM@1": ("jung2023", "cifar10/fgsm@1"),
    "Jung PGD@1": ("jung2023", "cifar10/pgd@1"),
    "NRB clean": ("nasrobbench201", "cifar10/clean"),
    "NRB PGD@8": ("nasrobbench201", "cifar10/pgd@8"),
    "NRB AA@8": ("nasrobbench201", "cifar10/autoattack@8"),
}
SKIP = {"params", "flops"}  # sizes: the control, not a measure under test


def from_stores(paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``(mean over seeds [uid x column], seed table [uid, seed, column])`` from builder stores."""
    from robnas.store import ResultStore

    frames = []
    for p in paths:
        if not p.exists():
            continue
        store = ResultStore(p, readonly=True)
        q = store.query()
        store.close()
        q = q[q["metric"].str.contains("/init.")]
        q = q.assign(column=q["metric"].str.split("/init.", n=1).str[1])
        frames.append(q[["uid", "seed", "column", "value"]])
    if not frames:
        raise SystemExit("no study store found; run results/measures/run_study.py first")
    long = pd.concat(frames)
    seeds = long.pivot_table(index=["uid", "seed"], columns="column", values="value", aggfunc="mean")
    means = long.pivot_table(index="uid", columns="column", values="value", aggfunc="mean")
    return means, seeds.reset_index()


def from_csv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path)
    df = df.drop_duplicates("uid").set_index("uid")
    keep = [c for c in df.columns if c not in ("index", "arch") and not c.startswith("t:")]
    keep = [c for c in keep if pd.api.types.is_numeric_dtype(df[c])]
    drop = {"batch", "seed", "C", "N", "seconds"}
    return df[[c for c in keep if c not in drop]]


def targets(uids: np.ndarray, root: str | None) -> pd.DataFrame:
    from robnas.benchmarks import get_source

    out = {}
    for label, (source, metric) in TARGETS.items():
        out[label] = np.asarray(get_source(source, root).values(metric), dtype=np.float64)[uids]
    return pd.DataFrame(out, index=uids)


def fmt_ci(v: float, lo: float, hi: float) -> str:
    return f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(v) else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=None)
    ap.add_argument(
        "--stores",
        type=Path,
        nargs="+",
        default=[HERE / f"study_C16N5_{part}.sqlite" for part in ("core", "ntk", "bounds")],
    )
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--boot", type=int, default=500)
    ap.add_argument(
        "--seed",
        default="0",
        help="the seed whose values are analysed (default 0: every architecture has it; seed 1 "
        "serves the test-retest), or 'mean' for the mean over the seeds an architecture has",
    )
    ap.add_argument("--root", default=None)
    ap.add_argument("--out", type=Path, default=HERE / "study_C16N5_analysis.csv")
    args = ap.parse_args()

    from robnas.models import nb201_param_count
    from robnas.spaces.nb201 import Arch

    seeds = None
    if args.csv is not None:
        means = from_csv(args.csv)
    else:
        means, seeds = from_stores(args.stores)
        if args.seed != "mean":
            one = seeds[seeds["seed"] == int(args.seed)].set_index("uid").drop(columns="seed")
            means = one.reindex(columns=means.columns)
    uids = means.index.to_numpy(dtype=np.int64)
    tgt = targets(uids, args.root)
    params = np.array([nb201_param_count(int(u), C=args.C, N=args.N) for u in uids], dtype=np.float64)
    columns = [c for c in means.columns if c not in SKIP and not c.startswith("t:")]
    cells = [Arch.from_index(int(u)).string for u in uids]
    n_conv = np.array([c.count("nor_conv") for c in cells], dtype=np.float64)
    n_free = np.array([c.count("skip_connect") + c.count("avg_pool") for c in cells], dtype=np.float64)
    rows, ops = [], []
    for col in ["params", *columns]:
        x = params if col == "params" else means[col].to_numpy(dtype=np.float64)
        ops.append({"measure": col, "tau_n_conv": tau(x, n_conv), "tau_n_param_free": tau(x, n_free)})
        for label in TARGETS:
            y = tgt[label].to_numpy()
            n = int(np.isfinite(x).sum() and (np.isfinite(x) & np.isfinite(y)).sum())
            t = tau(x, y)
            lo, hi = bootstrap_ci(tau, [x, y], args.boot)
            row = {"measure": col, "target": label, "n": n, "tau": t, "tau_lo": lo, "tau_hi": hi}
            if col != "params":
                pt = partial_tau(x, y, params)
                plo, phi = bootstrap_ci(partial_tau, [x, y, params], args.boot)
                wg, used = within_group_tau(x, y, params)
                row.update(
                    {
                        "partial_tau": pt,
                        "partial_lo": plo,
                        "partial_hi": phi,
                        "within_params_tau": wg,
                        "within_n": used,
                        # the baseline on the same architectures as the measure (NTK: a subset)
                        "cv_tau_params": cv_tau([params], np.where(np.isfinite(x), y, np.nan)),
                        "cv_tau_params_measure": cv_tau([params, x], y),
                    }
                )
            rows.append(row)
    table = pd.DataFrame(rows)
    rel = []
    if seeds is not None:
        for col in columns:
            if col not in seeds.columns:
                continue
            wide = seeds.pivot_table(index="uid", columns="seed", values=col)
            if wide.shape[1] >= 2:
                a, b = wide.iloc[:, 0].to_numpy(), wide.iloc[:, 1].to_numpy()
                m = np.isfinite(a) & np.isfinite(b)
                lo, hi = bootstrap_ci(tau, [a[m], b[m]], args.boot)
                rel.append({"measure": col, "n": int(m.sum()), "retest_tau": tau(a, b), "lo": lo, "hi": hi})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4f")
    if rel:
        pd.DataFrame(rel).to_csv(
            args.out.with_name(args.out.stem + "_retest.csv"), index=False, float_format="%.4f"
        )

    print(f"n = {len(uids)} architectures (C={args.C}, N={args.N}; seed {args.seed})\n")
    for label in ("NRB PGD@8", "Jung clean", "Jung PGD@1"):
        sub = table[table["target"] == label]
        print(f"### {label}\n")
        print(
            "| measure | n | tau [95% CI] | partial tau given params [95% CI] | tau within equal params (n) "
            "| CV tau: params -> params + measure |"
        )
        print("|---|---|---|---|---|---|")
        for _, r in sub.iterrows():
            if r["measure"] == "params":
                print(f"| params | {r['n']} | {fmt_ci(r['tau'], r['tau_lo'], r['tau_hi'])} | | | |")
                continue
            print(
                f"| {r['measure']} | {r['n']} | {fmt_ci(r['tau'], r['tau_lo'], r['tau_hi'])} "
                f"| {fmt_ci(r['partial_tau'], r['partial_lo'], r['partial_hi'])} "
                f"| {r['within_params_tau']:+.2f} ({int(r['within_n'])}) "
                f"| {r['cv_tau_params']:.2f} -> {r['cv_tau_params_measure']:.2f} |"
            )
        print()
    if rel:
        print("### Test-retest (seed 0 vs seed 1: other initialisations and another batch)\n")
        print("| measure | n | tau [95% CI] |\n|---|---|---|")
        for r in rel:
            print(f"| {r['measure']} | {r['n']} | {fmt_ci(r['retest_tau'], r['lo'], r['hi'])} |")
        print()
    pd.DataFrame(ops).to_csv(args.out.with_name(args.out.stem + "_ops.csv"), index=False, float_format="%.4f")
    print("### Cell composition: tau with the number of convolutions / parameter-free operations\n")
    print("| measure | convolutions | skip + avg_pool |\n|---|---|---|")
    for r in ops:
        print(f"| {r['measure']} | {r['tau_n_conv']:+.2f} | {r['tau_n_param_free']:+.2f} |")
    print()
    pairs = [("ntk_adv.lmin", "ntk.lmin"), ("ntk_mixed_robust.lmin", "ntk.lmin")]
    pairs = [(a, b) for a, b in pairs if a in means.columns and b in means.columns]
    if pairs:
        print("### Wu et al. Fig. 5: robust / mixed vs clean NTK (tau difference, paired bootstrap)\n")
        print("| target | robust kernel | tau(robust) - tau(clean) [95% CI] |\n|---|---|---|")
        for label in ("NRB PGD@8", "NRB AA@8", "NRB clean"):
            y = tgt[label].to_numpy()
            for a, b in pairs:
                d, lo, hi = paired_difference_ci(means[a], means[b], y, args.boot)
                print(f"| {label} | {a} | {fmt_ci(d, lo, hi)} |")


if __name__ == "__main__":
    main()
