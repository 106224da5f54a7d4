"""Rank correlations between benchmark metrics, within and across sources.

Kendall's tau (tau-b) and Spearman's rho between columns named ``SOURCE:METRIC``, over the
architectures where both values exist (by default the 6,466 isomorphism-class representatives).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from robnas.benchmarks import frame
from robnas.errors import ConfigError


@dataclass
class Correlations:
    """Pairwise rank correlations; ``n`` is the number of architectures each pair used."""

    tau: pd.DataFrame
    rho: pd.DataFrame
    n: pd.DataFrame

    def long(self) -> pd.DataFrame:
        """One row per unordered pair: ``a, b, kendall_tau, spearman_rho, n``."""
        cols = list(self.tau.columns)
        rows = [
            {
                "a": a,
                "b": b,
                "kendall_tau": self.tau.loc[a, b],
                "spearman_rho": self.rho.loc[a, b],
                "n": int(self.n.loc[a, b]),
            }
            for i, a in enumerate(cols)
            for b in cols[i + 1 :]
        ]
        return pd.DataFrame(rows, columns=["a", "b", "kendall_tau", "spearman_rho", "n"])


def rank_correlations(df: pd.DataFrame) -> Correlations:
    """Kendall tau and Spearman rho between all columns of ``df`` (pairwise complete rows).

    A pair with fewer than 3 complete rows, or where one column is constant, has no rank
    correlation: NaN."""
    cols = list(df.columns)
    k = len(cols)
    tau = np.eye(k)
    rho = np.eye(k)
    n = np.zeros((k, k), dtype=np.int64)
    values = [df[c].to_numpy(dtype=np.float64) for c in cols]
    for i in range(k):
        n[i, i] = int(np.isfinite(values[i]).sum())
        for j in range(i + 1, k):
            ok = np.isfinite(values[i]) & np.isfinite(values[j])
            n[i, j] = n[j, i] = int(ok.sum())
            x, y = values[i][ok], values[j][ok]
            if ok.sum() < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:  # too few points, or a constant column
                tau[i, j] = tau[j, i] = rho[i, j] = rho[j, i] = np.nan
                continue
            tau[i, j] = tau[j, i] = stats.kendalltau(x, y).statistic
            rho[i, j] = rho[j, i] = stats.spearmanr(x, y).statistic
    wrap = lambda a: pd.DataFrame(a, index=cols, columns=cols)  # noqa: E731
    return Correlations(wrap(tau), wrap(rho), wrap(n))


def correlate(
    specs: Sequence[str], root: str | os.PathLike[str] | None = None, unique: bool = True
) -> Correlations:
    """Rank correlations between ``SOURCE:METRIC`` columns, e.g. ``["nasrobbench201:cifar10/pgd@8",
    "jung2023:cifar10/pgd@8"]`` (Jung et al., ICLR 2023; Wu et al., ICLR 2024)."""
    if len(specs) < 2:
        raise ConfigError("correlate needs at least two SOURCE:METRIC columns")
    return rank_correlations(frame(specs, root=root, unique=unique))
