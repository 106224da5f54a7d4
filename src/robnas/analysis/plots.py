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


def heatmap_figure(
    matrix: pd.DataFrame,
    title: str = "",
    label: str = "",
    fmt: str = ".2f",
    columns: list[str] | None = None,
) -> plt.Figure:
    """The one heat-map of robnas: a (rows x columns) table of correlations in [-1, 1], each value
    written in its cell (NaN cells left blank), a diverging colour scale centred on 0.

    ``label`` names the colour bar, ``fmt`` formats the cell values (``"+.2f"`` shows signs),
    ``columns`` replaces the column labels (e.g. shortened metric names).
    """
    values = matrix.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    fig, ax = plt.subplots(figsize=(2.4 + 0.8 * n_cols, 1.4 + 0.42 * n_rows))
    im = ax.imshow(values, vmin=-1, vmax=1, cmap="RdBu_r", aspect="auto")
    ax.set_xticks(
        range(n_cols), columns or [str(c) for c in matrix.columns], rotation=45, ha="right", fontsize=8
    )
    ax.set_yticks(range(n_rows), [str(r) for r in matrix.index], fontsize=8)
    for i in range(n_rows):
        for j in range(n_cols):
            if np.isfinite(values[i, j]):
                ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def heatmap(
    matrix: pd.DataFrame,
    out: str | os.PathLike[str],
    title: str = "",
    label: str = "",
    fmt: str = ".2f",
    columns: list[str] | None = None,
) -> Path:
    """:func:`heatmap_figure` written to ``out`` (PNG)."""
    return _save(heatmap_figure(matrix, title, label, fmt, columns), out)


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
