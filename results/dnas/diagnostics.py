"""Numbers quoted in the README's differentiable-search section, recomputed (CPU, ~2 minutes).

    PYTHONPATH=src python results/dnas/diagnostics.py   # writes results/dnas/diagnostics.json

* E2RNAS' size budget: expected parameters at uniform alpha, the default target (0.7 of it) and
  the derived range, for the NB201 (C=8, N=1) and DARTS (C=8, N=1) supernets;
* IBP's interval growth constant ``K`` (median over a random batch) at initialisation, and the
  linear-bound radius DSRNA-cb uses instead;
* the natural ratio of the alpha-gradient norms of DSRNA-cb's two terms (what ``balance``
  removes), at initialisation;
* DARTS' finite-difference hypergradient against the exact one (cosine) at DARTS' radius 0.01
  and at 1e-5, on a float64 NB201 C=4 supernet.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from robnas.dnas import DARTSSupernet, NB201Supernet, architecture_step, get_method
from robnas.dnas.robustness import forward_with_bn_stats, linear_bound_radius
from robnas.measures.bounds import interval_linear_regime

HERE = Path(__file__).resolve().parent


def main() -> None:
    torch.set_num_threads(1)
    out: dict = {}
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)
    for name, build in (
        ("nb201 C=8 N=1", lambda: NB201Supernet(C=8, N=1)),
        ("darts C=4 N=1", lambda: DARTSSupernet(C=4, N=1)),
    ):
        torch.manual_seed(0)
        net = build()
        net.train()
        e2 = get_method("e2rnas")
        logits, stats = forward_with_bn_stats(net, x)
        m, k_const, _ = interval_linear_regime(net, x, logits.argmax(1).detach(), stats)
        radius, _ = linear_bound_radius(net, x, stats)
        method = get_method("dsrna-cb")
        objectives = method.upper_objectives(net, x, y, 0)
        _, rec = method.combine(objectives, net.arch_parameters())
        out[name] = {
            "uniform_params": net.uniform_params(),
            "size_target": e2.size_target(net),
            "param_range": net.param_range(),
            "ibp_growth_K_median": float(k_const.detach().median()),
            "linear_bound_radius_median": float(radius.detach().median()),
            "gnorm_ce": rec["gnorm_ce"],
            "gnorm_neg_log_radius": rec["gnorm_neg_log_radius"],
        }
    search = importlib.import_module("robnas.dnas.search")
    torch.manual_seed(0)
    model = NB201Supernet(C=4, N=1).double()
    with torch.no_grad():
        model.alpha.normal_()
    gt = torch.Generator().manual_seed(1)
    xt, yt = (
        torch.rand(8, 3, 8, 8, generator=gt, dtype=torch.float64),
        torch.randint(0, 10, (8,), generator=gt),
    )
    xv, yv = (
        torch.rand(8, 3, 8, 8, generator=gt, dtype=torch.float64),
        torch.randint(0, 10, (8,), generator=gt),
    )
    darts = get_method("darts")
    kw = dict(order="second", xi=0.05, wd=3e-4, seed=0)
    exact, _ = architecture_step(model, darts, (xt, yt), (xv, yv), hessian="exact", **kw)
    cos = {}
    for r in (0.01, 1e-5):
        search.FD_RADIUS = r
        fd, _ = architecture_step(model, darts, (xt, yt), (xv, yv), **kw)
        cos[str(r)] = float(F.cosine_similarity(fd[0].flatten(), exact[0].flatten(), dim=0))
    search.FD_RADIUS = 0.01
    out["finite_difference_vs_exact_cosine"] = cos
    (HERE / "diagnostics.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
