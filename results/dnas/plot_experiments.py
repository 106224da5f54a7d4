"""The README's figure of the differentiable-search experiments (after the summarise scripts).

    PYTHONPATH=src python results/dnas/plot_experiments.py   # -> results/dnas/plots/experiments.png

Left: NB201 space, the found cells' size at the benchmark's C=16, N=5 against NAS-RobBench-201
PGD@8 (``runs-v2``: hollow, alpha updated from the first step; ``runs-v3``: filled, after three
epochs of weight warm-up). Middle: DARTS space, the retrained network's size against PGD-20
accuracy (``runs-darts``: hollow; ``runs-darts-warmup``: filled). Right: which way each
objective's alpha-gradient pushes (mean over parameter-free operations minus mean over
convolutions, ``op_preference.json``), at initialisation and after weight warm-up.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
COLOURS = {"darts": "tab:blue", "dsrna-cb": "tab:red", "dsrna-jacobian": "tab:orange", "e2rnas": "tab:green"}


def _rows(path: Path) -> list[dict]:
    return [r for r in json.loads(path.read_text()) if not r.get("unfinished")] if path.is_file() else []


def main() -> None:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    ax = axes[0]
    for runs, filled in (("runs-v2", False), ("runs-v3", True)):
        for r in _rows(HERE / runs / "summary.json"):
            c = COLOURS.get(r["method"], "grey")
            ax.scatter(
                r["params"] / 1e6,
                r["nasrobbench201:cifar10/pgd@8"],
                s=60,
                facecolors=c if filled else "none",
                edgecolors=c,
            )
    for m, c in COLOURS.items():
        ax.scatter([], [], color=c, label=m)
    ax.scatter([], [], facecolors="none", edgecolors="k", label="no warm-up (runs-v2)")
    ax.scatter([], [], color="k", label="3 warm-up epochs (runs-v3)")
    ax.set_xlabel("parameters of the found cell at C=16, N=5 (M)")
    ax.set_ylabel("NAS-RobBench-201 PGD@8 accuracy")
    ax.set_title("NB201 space (benchmark look-up)")
    ax.legend(fontsize=7)

    ax = axes[1]
    for runs, filled in (("runs-darts", False), ("runs-darts-warmup", True)):
        for r in _rows(HERE / runs / "summary.json"):
            key = next(k for k in r if k.startswith("pgd20@"))
            c = COLOURS.get(r["method"], "grey")
            ax.scatter(r["params"] / 1e3, r[key], s=60, facecolors=c if filled else "none", edgecolors=c)
    ax.scatter([], [], facecolors="none", edgecolors="k", label="no warm-up (runs-darts)")
    ax.scatter([], [], color="k", label="2 warm-up epochs (runs-darts-warmup)")
    ax.legend(fontsize=7)
    ax.set_xlabel("parameters of the retrained network (k; C=8, 5 cells)")
    ax.set_ylabel("PGD-20 accuracy at 2/255 (500 test images)")
    ax.set_title("DARTS space (retrained at CPU scale, attacked)")

    ax = axes[2]
    pref = json.loads((HERE / "op_preference.json").read_text())
    phases = [k for k in pref if isinstance(pref[k], dict)]
    terms = list(pref[phases[0]])
    width = 0.8 / len(phases)
    for j, phase in enumerate(phases):
        ax.barh(
            [i + j * width for i in range(len(terms))],
            [pref[phase][t]["free_minus_conv"] for t in terms],
            height=width,
            label=phase,
        )
    ax.set_yticks([i + width * (len(phases) - 1) / 2 for i in range(len(terms))], terms, fontsize=7)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("alpha descent direction: parameter-free minus conv ops")
    ax.set_title("What each objective favours (NB201 supernet)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = HERE / "plots" / "experiments.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
