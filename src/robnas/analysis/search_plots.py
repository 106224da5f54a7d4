"""Plots of search trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_regret(results: dict, path: str | Path, title: str = "") -> Path:
    """Median regret (line) and inter-quartile band against queries, one colour per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for algo, runs in results.items():
        length = max(len(r.trajectory) for r in runs)
        curves = np.full((len(runs), length), np.nan)
        for i, r in enumerate(runs):
            c = r.regret_curve()
            curves[i, : len(c)] = c
            curves[i, len(c) :] = c[-1] if len(c) else np.nan
        x = np.arange(1, length + 1)
        med = np.nanmedian(curves, axis=0)
        lo, hi = np.nanquantile(curves, 0.25, axis=0), np.nanquantile(curves, 0.75, axis=0)
        ax.plot(x, med, label=algo)
        ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set_xlabel("queries (unique architectures)")
    ax.set_ylabel("regret (optimum - best found)")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_title(title, fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    from robnas.analysis.plots import save_figure

    return save_figure(fig, path)
