"""Figures: correlation heat-maps, scatter plots of two metrics, accuracy vs. parameter count."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def save_figure(fig: plt.Figure, out: str | os.PathLike[str], **kwargs: object) -> Path:
    """Write ``fig`` to exactly ``out`` and close it; :class:`~robnas.errors.DataError` for a path
    that cannot be written (a folder, a full disk, a read-only place).

    The format follows the file's extension, PNG when it has none that matplotlib knows. It is
    always passed explicitly: without it matplotlib appends ``.png`` to a name that has no
    extension, so ``-o /dev/full`` would have written ``/dev/full.png``.
    """
    from robnas.errors import DataError

    path = Path(out)
    ext = path.suffix[1:].lower()
    fmt = ext if ext in fig.canvas.get_supported_filetypes() else "png"
    try:
        if path.is_dir():
            raise DataError(f"{path} is a folder; give a file name such as {path / 'plot.png'}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format=fmt, **kwargs)  # type: ignore[arg-type]
    except OSError as exc:
        raise DataError(f"cannot write the figure {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return path


def _save(fig: plt.Figure, out: str | os.PathLike[str]) -> Path:
    return save_figure(fig, out, dpi=130, bbox_inches="tight")


def heatmap(matrix: pd.DataFrame, out: str | os.PathLike[str], title: str = "") -> Path:
    """A labelled heat-map of a square correlation matrix (values in [-1, 1])."""
    k = len(matrix)
    fig, ax = plt.subplots(figsize=(2.2 + 0.9 * k, 1.6 + 0.8 * k))
    im = ax.imshow(matrix.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(k), matrix.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), matrix.index, fontsize=8)
    for i in range(k):
        for j in range(k):
            v = matrix.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title)
    return _save(fig, out)


def scatter(df: pd.DataFrame, x: str, y: str, out: str | os.PathLike[str], title: str = "") -> Path:
    """Scatter plot of two columns of ``df`` (one point per architecture)."""
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.scatter(df[x], df[y], s=3, alpha=0.4, linewidths=0)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, out)


def accuracy_vs_params(
    params: np.ndarray, values: np.ndarray, out: str | os.PathLike[str], ylabel: str, title: str = ""
) -> Path:
    """Accuracy against parameter count (millions), with the per-count range drawn as a bar."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    p = params / 1e6
    ax.scatter(p, values, s=3, alpha=0.35, linewidths=0)
    df = pd.DataFrame({"p": p, "v": values}).dropna().groupby("p")["v"].agg(["min", "max", "count"])
    big = df[df["count"] >= 20]
    ax.vlines(big.index, big["min"], big["max"], colors="k", linewidths=0.6, alpha=0.6)
    ax.set_xlabel("parameters (millions)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, out)
