"""Plots of the alpha record: ``softmax(alpha)`` of every edge over the epochs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from robnas.errors import ConfigError, MissingFileError
from robnas.spaces.darts import DARTS_OPS
from robnas.spaces.nb201 import EDGES, OPS
from robnas.utils import read_json


def load_history(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The per-epoch record (``history.json``) of a search run directory."""
    path = Path(run_dir) / "history.json"
    if not path.is_file():
        raise MissingFileError(f"{path} not found: is {run_dir} the --out folder of `robnas dnas search`?")
    return read_json(path, "search history")


def plot_alpha_trajectories(
    history: list[dict[str, Any]], out_file: str | os.PathLike[str], title: str = ""
) -> Path:
    """One panel per edge (NB201: 6; DARTS: 14 normal + 14 reduction), one line per operation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        raise ConfigError("the history is empty: no epoch has finished yet")
    epochs = [h["epoch"] for h in history]
    tables = history[0]["alpha"]
    n_edges = sum(len(t) for t in tables)
    names = OPS if len(tables) == 1 and len(tables[0]) == len(EDGES) else DARTS_OPS
    cols = 3 if n_edges <= 6 else 7
    rows = -(-n_edges // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 2.4 * rows), sharex=True, sharey=True, squeeze=False
    )
    k = 0
    for t, table in enumerate(tables):
        for e in range(len(table)):
            ax = axes[k // cols][k % cols]
            for o, name in enumerate(names):
                ax.plot(epochs, [h["alpha"][t][e][o] for h in history], label=name, marker=".")
            if len(tables) == 1:
                ax.set_title(f"edge {EDGES[e][0]}->{EDGES[e][1]}", fontsize=9)
            else:
                ax.set_title(f"{'normal' if t == 0 else 'reduce'} edge {e}", fontsize=8)
            k += 1
    for j in range(k, rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].set_ylabel("softmax(alpha)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(names), 8), fontsize=8)
    fig.suptitle(title or "architecture weights over the search")
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
