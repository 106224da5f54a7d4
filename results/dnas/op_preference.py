"""Which operations each objective pushes the architecture towards, at initialisation and after the
supernet's weights are warmed up (CPU, a few minutes): the evidence behind the README's reading of
the NB201 search table.

    ROBNAS_DATA=../shared/data PYTHONPATH=src python results/dnas/op_preference.py
    # writes results/dnas/op_preference.json

The setting is the search experiment's (``experiment.py``: NB201 supernet C=8, N=1, CIFAR-10, 480
images halved into train and validation, batch 32). For every objective of every method (DARTS: CE;
DSRNA-cb: CE and the negative log certified radius; DSRNA-Jacobian: the Jacobian term; E2RNAS: its
accuracy, robustness and size terms) it computes the alpha-gradient, averaged over the seven
validation batches, and reports, per operation, the descent direction ``-dL/dalpha`` averaged over
the six edges and normalised by the gradient's norm (a softmax's alpha-gradient sums to zero over
the operations of an edge, so positive means "this objective raises that operation's weight"): at
initialisation and after each of ``--warmup`` numbers of SGD steps on the weights alone at uniform
alpha (DARTS' weight optimiser settings; 21 steps are the three warm-up epochs of ``runs-v3``, 300 a
longer warm-up), when the convolutions have learnt something. ``free_minus_conv`` is the mean over
the parameter-free operations (none, skip, avg-pool) minus the mean over the two convolutions: > 0
means the objective favours parameter-free cells.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from robnas.data import make_loader
from robnas.dnas import SearchConfig, get_method
from robnas.dnas.search import build_model, load_data
from robnas.spaces.nb201 import OPS

HERE = Path(__file__).resolve().parent
FREE = ("none", "skip_connect", "avg_pool_3x3")
TERMS = {
    "darts": ("ce",),
    "dsrna-cb": ("ce", "neg_log_radius"),
    "dsrna-jacobian": ("jacobian",),
    "e2rnas": ("acc", "rob", "size"),
}


def preferences(
    model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]
) -> dict[str, dict[str, float]]:
    """Per objective: the per-operation descent direction, mean over ``batches`` and edges."""
    alphas = list(model.arch_parameters())  # type: ignore[operator]
    out: dict[str, dict[str, float]] = {}
    for method_name, terms in TERMS.items():
        method = get_method(method_name)
        method.begin_epoch(1, 1)  # past DSRNA-Jacobian's warm-up, so its term is on
        model.train()
        total = {term: torch.zeros_like(alphas[0]) for term in terms}
        for i, (x, y) in enumerate(batches):
            objectives = method.upper_objectives(model, x, y, i)
            for term in terms:
                (g,) = torch.autograd.grad(objectives[term], alphas[0], retain_graph=True)
                total[term] += g / len(batches)
        for term in terms:
            d = -total[term].reshape(-1, len(OPS))
            d = d / d.norm().clamp_min(1e-30)
            per_op = {op: float(d[:, i].mean()) for i, op in enumerate(OPS)}
            free = sum(per_op[o] for o in FREE) / len(FREE)
            conv = (per_op["nor_conv_1x1"] + per_op["nor_conv_3x3"]) / 2
            out[f"{method_name}:{term}"] = {**per_op, "free_minus_conv": free - conv}
    return out


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--warmup",
        type=int,
        nargs="+",
        default=[21, 300],
        help="readings after these numbers of weight-only SGD steps (21: the warm-up of runs-v3)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = SearchConfig(space="nb201", method="darts", epochs=1, C=8, N=1, batch_size=32, n_train=480)
    train_ds, val_ds = load_data(cfg)
    model = build_model(cfg, train_ds.info)
    val = list(make_loader(val_ds, 32, shuffle=False, drop_last=True))  # all 7 validation batches
    result: dict = {"init": preferences(model, val)}
    opt = torch.optim.SGD(
        model.weight_parameters(), lr=cfg.w_lr, momentum=cfg.w_momentum, weight_decay=cfg.w_wd
    )
    step, epoch = 0, 0
    losses: list[float] = []
    readings = sorted(set(args.warmup))
    while readings:
        for xt, yt in make_loader(train_ds, 32, shuffle=True, drop_last=True, seed=epoch):
            model.train()
            loss = torch.nn.functional.cross_entropy(model(xt), yt)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.weight_parameters(), cfg.grad_clip)  # type: ignore[operator]
            opt.step()
            losses.append(loss.item())
            step += 1
            if readings and step == readings[0]:
                result[f"after {step} weight steps"] = preferences(model, val)
                result[f"train loss at {step} steps (mean of last 7)"] = sum(losses[-7:]) / len(losses[-7:])
                readings.pop(0)
            if not readings:
                break
        epoch += 1
    (HERE / "op_preference.json").write_text(json.dumps(result, indent=1))
    for phase in (k for k, v in result.items() if isinstance(v, dict)):
        print(phase)
        for k, v in result[phase].items():
            ops = " ".join(f"{o.split('_')[0][:4]}{'3' if '3x3' in o else ''}={v[o]:+.3f}" for o in OPS)
            print(f"  {k:<26} {ops}  free-conv {v['free_minus_conv']:+.3f}")


if __name__ == "__main__":
    main()
