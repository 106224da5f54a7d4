"""Summaries and a self-contained HTML report of a built benchmark (a results store).

The report answers the questions a researcher asks of a fresh robustness benchmark: which
architecture is most robust, how accuracy falls with the attack's epsilon and under corruptions,
and how well each cheap measure ranks the architectures (Kendall's tau and Spearman's rho over
the architectures of the build). Plots are embedded in the HTML as PNG data, so the report is
one file that can be mailed or archived.

Definitions (stated in the report too):

* *adversarial mean*: the unweighted mean of every attack accuracy in the build (all attacks,
  all epsilons), the analogue of Jung et al.'s mean adversarial accuracy;
* *worst case @ eps*: per architecture, the minimum accuracy over the attacks run at the largest
  epsilon (a point-wise worst case would need per-example results, which the store does not keep);
* *corruption mean*: the mean over every corruption and severity in the build.
"""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from robnas.benchmarks.metrics import parse_metric
from robnas.spaces.nb201 import Arch

BOOKKEEPING = ("train-seconds", "train-accuracy", "train-loss")


@dataclass
class BuildSummary:
    """Per-architecture table of a build plus the derived rankings."""

    dataset: str
    table: pd.DataFrame  # index uid; accuracy, measure and derived columns
    accuracy_columns: list[str]
    attack_columns: list[str]
    corruption_columns: list[str]
    measure_columns: list[str]
    seeds: int
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)  # measure x target: tau, rho
    protocol: str = ""  # the one protocol hash whose results the table holds
    regime: str = ""  # its training regime (standard, adversarial, mixed, ...)

    @property
    def ranking(self) -> pd.DataFrame:
        """Architectures from most to least robust (by adversarial mean, then clean accuracy)."""
        keys = [c for c in ("adversarial-mean", "clean") if c in self.table]
        return self.table.sort_values(keys, ascending=False) if keys else self.table

    @property
    def most_robust(self) -> int:
        return int(self.ranking.index[0])

    def targets(self) -> list[str]:
        return [c for c in ("clean", "adversarial-mean", "worst-case", "corruption-mean") if c in self.table]


def _short(metric: str) -> str:
    return metric.split("/", 1)[1] if "/" in metric else metric


def summarise_protocols(db: str | os.PathLike[str], dataset: str | None = None) -> dict[str, BuildSummary]:
    """One summary per protocol in the store (results of different protocols are never averaged)."""
    from robnas.store import ResultStore

    with ResultStore(db, readonly=True) as store:
        protocols = store.protocols()
    if not protocols:
        raise ValueError(f"the results store {db} holds no results yet; run `robnas build` first")
    return {p: summarise_store(db, dataset, protocol=p) for p in protocols}


def summarise_store(
    db: str | os.PathLike[str], dataset: str | None = None, protocol: str | None = None
) -> BuildSummary:
    """Read a results store and derive the per-architecture summary (means over seeds).

    The summary is of one protocol: ``protocol`` (a hash, a unique prefix, or ``"latest"``), or
    the only one in the store; a store with several protocols and none chosen is refused with
    their list, because averaging results of different protocols gives numbers of no protocol.
    """
    from robnas.errors import ConfigError
    from robnas.store import ResultStore
    from robnas.store.source import StoreSource, is_timing

    store = ResultStore(db, readonly=True)
    src = StoreSource(store, protocol)
    infos = {p["protocol"]: p for p in src.protocols()}
    if src.protocol is None and len(infos) > 1:
        listing = "; ".join(
            f"{h} ({p['regime']}, preset {p.get('preset')}, {p.get('epochs')} epochs, {p['results']} results)"
            for h, p in infos.items()
        )
        raise ConfigError(
            f"the results store {db} holds {len(infos)} protocols, which are never averaged: {listing}; "
            "choose one (protocol=HASH or 'latest'; CLI: --protocol)"
        )
    chosen = src.protocol or next(iter(infos), "")
    df = store.query(protocol=chosen or None)
    df = df[~df["metric"].map(is_timing)]
    if df.empty:
        raise ValueError(f"the results store {db} holds no results yet; run `robnas build` first")
    datasets = sorted(df["dataset"].unique())
    if dataset is None:
        if len(datasets) > 1:
            raise ValueError(f"the store holds several datasets ({', '.join(datasets)}); choose one")
        dataset = datasets[0]
    df = df[df["dataset"] == dataset]
    if df.empty:
        raise ValueError(f"the store holds no results for dataset {dataset!r} (it has {', '.join(datasets)})")
    seeds = int(df["seed"].nunique())
    wide = df.pivot_table(index="uid", columns="metric", values="value", aggfunc="mean")
    wide.columns = [_short(c) for c in wide.columns]
    kinds = {c: parse_metric(f"{dataset}/{c}") for c in wide.columns}
    attacks = [c for c, m in kinds.items() if m.kind == "attack"]
    corruptions = [c for c, m in kinds.items() if m.kind == "corruption"]
    clean = [c for c, m in kinds.items() if m.kind == "clean"]
    measures = [c for c, m in kinds.items() if m.kind == "other" and c not in BOOKKEEPING]
    attacks.sort(key=lambda c: (kinds[c].name, kinds[c].epsilon))
    corruptions.sort(key=lambda c: (kinds[c].name, kinds[c].severity))
    table = wide.copy()
    if attacks:
        table["adversarial-mean"] = table[attacks].mean(axis=1)
        top = max(kinds[c].epsilon or 0 for c in attacks)
        at_top = [c for c in attacks if kinds[c].epsilon == top]
        table["worst-case"] = table[at_top].min(axis=1)
    if corruptions:
        table["corruption-mean"] = table[corruptions].mean(axis=1)
    table.insert(0, "arch", [Arch.from_index(int(u)).string for u in table.index])
    summary = BuildSummary(
        dataset=dataset,
        table=table,
        accuracy_columns=clean + attacks + corruptions,
        attack_columns=attacks,
        corruption_columns=corruptions,
        measure_columns=measures,
        seeds=seeds,
        protocol=chosen,
        regime=infos[chosen]["regime"] if chosen in infos else "unknown",
    )
    summary.correlations = measure_correlations(summary)
    return summary


def measure_correlations(summary: BuildSummary) -> pd.DataFrame:
    """Kendall tau and Spearman rho of every measure with every target accuracy."""
    from robnas.analysis.correlation import rank_correlations

    targets = summary.targets()
    cols = list(dict.fromkeys([*summary.measure_columns, *targets]))
    c = rank_correlations(summary.table[cols].replace([np.inf, -np.inf], np.nan))
    rows = [
        {
            "measure": m,
            "target": t,
            "kendall_tau": c.tau.loc[m, t],
            "spearman_rho": c.rho.loc[m, t],
            "n": int(c.n.loc[m, t]),
        }
        for m in summary.measure_columns
        for t in targets
    ]
    return pd.DataFrame(rows, columns=["measure", "target", "kendall_tau", "spearman_rho", "n"])


# ---------------------------------------------------------------------- plots
def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(summary: BuildSummary) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = summary.table
    out: dict[str, str] = {}
    best = summary.most_robust
    if "clean" in t and "worst-case" in t:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        sc = ax.scatter(t["clean"], t["worst-case"], c=t.get("params"), cmap="viridis", s=28)
        ax.scatter(
            [t.loc[best, "clean"]],
            [t.loc[best, "worst-case"]],
            s=160,
            facecolors="none",
            edgecolors="crimson",
            linewidths=2,
            label=f"most robust (index {best})",
        )
        if "params" in t:
            fig.colorbar(sc, ax=ax, label="parameters")
        ax.set_xlabel("clean accuracy")
        ax.set_ylabel("worst-case accuracy at the largest epsilon")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
        out["clean_vs_robust"] = _png(fig)
    if summary.attack_columns and "clean" in t:  # curves start at epsilon 0, the clean accuracy
        fig, ax = plt.subplots(figsize=(5.5, 4))
        by_attack: dict[str, list[tuple[float, str]]] = {}
        for c in summary.attack_columns:
            m = parse_metric(f"{summary.dataset}/{c}")
            by_attack.setdefault(m.name, []).append((m.epsilon or 0.0, c))
        for name, pts in by_attack.items():
            pts.sort()
            eps = [0.0] + [e for e, _ in pts]
            curve = t[["clean"] + [c for _, c in pts]]
            ax.plot(eps, curve.mean(), marker="o", label=name)
            ax.fill_between(eps, curve.min(), curve.max(), alpha=0.15)
        ax.set_xlabel("epsilon (x 1/255)")
        ax.set_ylabel("accuracy (mean; band: min-max over architectures)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        out["accuracy_vs_eps"] = _png(fig)
    if summary.corruption_columns:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        means = t[summary.corruption_columns].mean().sort_values()
        ax.barh(range(len(means)), means.values, color="slateblue")
        if "clean" in t:
            ax.axvline(t["clean"].mean(), color="k", ls="--", lw=1, label="clean (mean)")
            ax.legend(fontsize=8)
        ax.set_yticks(range(len(means)), means.index, fontsize=8)
        ax.set_xlabel("accuracy (mean over architectures)")
        out["corruptions"] = _png(fig)
    corr = summary.correlations
    if not corr.empty:
        mat = corr.pivot(index="measure", columns="target", values="kendall_tau")
        mat = mat[[c for c in summary.targets() if c in mat]]
        fig, ax = plt.subplots(figsize=(1.4 + 1.1 * mat.shape[1], 0.8 + 0.38 * mat.shape[0]))
        im = ax.imshow(mat.values.astype(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(mat.shape[0]), mat.index, fontsize=8)
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                v = mat.values[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:+.2f}", ha="center", va="center", fontsize=7)
        fig.colorbar(im, ax=ax, label="Kendall tau")
        out["measure_heatmap"] = _png(fig)
    return out


# ---------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
color:#222;padding:0 1em}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em}td,th{padding:3px 8px;border-bottom:1px solid #eee;
text-align:right}th{background:#f6f6f6}td.l,th.l{text-align:left;font-family:monospace;font-size:.95em}
.grid{display:flex;flex-wrap:wrap;gap:1em}.grid figure{margin:0}figcaption{font-size:.8em;color:#555;
max-width:560px}.note{color:#555;font-size:.9em}.best{background:#fff4e5}
"""


def _table_html(df: pd.DataFrame, left: tuple[str, ...] = ("arch",), highlight: int | None = None) -> str:
    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(str(c))}</th>' for c in df.columns)
    rows = []
    for idx, row in df.iterrows():
        cells = []
        for c in df.columns:
            v = row[c]
            if isinstance(v, float | np.floating):
                text = "" if not np.isfinite(v) else (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3f}")
            else:
                text = str(v)
            cells.append(f'<td class="{"l" if c in left else ""}">{html.escape(text)}</td>')
        cls = ' class="best"' if highlight is not None and idx == highlight else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(
    db: str | os.PathLike[str],
    out: str | os.PathLike[str],
    title: str = "robnas benchmark report",
    summary: BuildSummary | None = None,
    notes: str = "",
    protocol: str | None = None,
) -> Path:
    """Write a self-contained HTML report of the store ``db`` to ``out`` (a file path).

    The report is of one protocol (``protocol``, or the summary's, or the store's only one).
    """
    from robnas import __version__

    s = summary or summarise_store(db, protocol=protocol)
    plots = _plots(s)
    t = s.ranking
    best = s.most_robust
    cols = ["arch"] + [
        c for c in ("clean", "adversarial-mean", "worst-case", "corruption-mean", "params") if c in t
    ]
    ranking = t[cols].copy()
    ranking.insert(0, "index", ranking.index)
    full = t[["arch", *s.accuracy_columns]].copy()
    full.insert(0, "index", full.index)
    corr = s.correlations.copy()
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">store <code>{html.escape(str(db))}</code> &middot; dataset <b>{s.dataset}</b>'
        f" &middot; protocol <code>{s.protocol}</code> ({html.escape(s.regime)} training)"
        f" &middot; {len(t)} architectures &middot; {s.seeds} seed(s) per architecture"
        f" &middot; robnas {__version__}</p>",
        notes,
        "<h2>Most robust architecture</h2>",
        f"<p>Index <b>{best}</b>: <code>{html.escape(Arch.from_index(best).string)}</code></p>",
        "<h2>Ranking</h2>",
        '<p class="note">Sorted by <i>adversarial mean</i> (unweighted mean of every attack accuracy '
        "in the build). <i>worst-case</i>: the minimum over attacks at the largest epsilon, per "
        "architecture. <i>corruption-mean</i>: mean over every corruption and severity.</p>",
        _table_html(ranking, left=("arch",), highlight=best),
        '<h2>Plots</h2><div class="grid">',
    ]
    captions = {
        "clean_vs_robust": "Clean vs. worst-case accuracy; colour: parameters; circled: the most robust.",
        "accuracy_vs_eps": "Accuracy against the attack's epsilon (line: mean; band: min to max).",
        "corruptions": "Mean accuracy under each corruption and severity.",
        "measure_heatmap": "Kendall tau between each measure (at initialisation) and each accuracy.",
    }
    for key, data in plots.items():
        img = f'<img src="data:image/png;base64,{data}" alt="{key}">'
        parts.append(f"<figure>{img}<figcaption>{captions[key]}</figcaption></figure>")
    parts.append("</div>")
    if not corr.empty:
        corr = corr.sort_values(
            ["target", "kendall_tau"], key=lambda c: c if c.name == "target" else -c.abs()
        )
        parts += [
            "<h2>How well do the measures rank the architectures?</h2>",
            '<p class="note">Rank correlation over the architectures of this build; a measure that '
            "predicts robustness has |tau| near 1 (its sign says which direction is better).</p>",
            _table_html(corr, left=("measure", "target")),
        ]
    parts += ["<h2>All accuracies</h2>", _table_html(full, left=("arch",), highlight=best)]
    doc = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
    doc += f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(path)
    return path
