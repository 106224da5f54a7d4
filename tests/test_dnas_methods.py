"""robnas.dnas methods as their papers define them: E2RNAS' size budget, attack and second-order
step (exact and finite-difference hypergradients against autograd); the Supernet protocol."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from robnas.dnas import (
    DARTSSupernet,
    NB201Supernet,
    SearchConfig,
    architecture_step,
    get_method,
    search,
)
from robnas.dnas.methods import fgsm_rs_examples, pgd_examples
from robnas.dnas.supernet import Supernet
from robnas.errors import ConfigError
from robnas.spaces.darts import Genotype


@pytest.fixture(scope="module")
def digits_small():
    from robnas.data import load_dataset, train_val_split

    ds = load_dataset("digits", "train").take(96, seed=0)
    return train_val_split(ds, val_fraction=0.5, seed=0)


def _batch(n: int = 8, c: int = 3, hw: int = 8, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, hw, hw, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_e2rnas_default_size_term_shrinks_the_network(space: str) -> None:
    torch.manual_seed(0)
    net = NB201Supernet(C=8, N=1) if space == "nb201" else DARTSSupernet(C=8, N=1)
    method = get_method("e2rnas")
    lo, hi = net.param_range()
    target = method.size_target(net)
    assert lo < target < net.uniform_params()  # the default budget is below the uniform-alpha size
    grads = torch.autograd.grad(method.size_loss(net), net.arch_parameters())
    size_grads = torch.autograd.grad(net.expected_params(), net.arch_parameters())
    # descending the size term moves along -grad E[params]: fewer parameters
    assert sum(float((g * s).sum()) for g, s in zip(grads, size_grads, strict=True)) > 0
    before = float(net.expected_params().detach())
    with torch.no_grad():
        for a, g in zip(net.arch_parameters(), grads, strict=True):
            a.sub_(0.5 * g / g.norm())
    assert float(net.expected_params().detach()) < before
    # an absolute budget in millions above the current size grows it instead
    big = get_method("e2rnas", size_budget=hi / 1e6)
    g_big = torch.autograd.grad(big.size_loss(net), net.arch_parameters())
    assert sum(float((g * s).sum()) for g, s in zip(g_big, size_grads, strict=True)) < 0


def test_e2rnas_options_and_order() -> None:
    assert SearchConfig(method="e2rnas").order == "second"  # their runs are --unrolled
    assert SearchConfig(method="darts").order == "first"
    assert SearchConfig(method="e2rnas", order="first").order == "first"
    m = get_method("e2rnas")
    assert m.options["eps"] == pytest.approx(2 / 255) and m.options["attack"] == "fgsm-rs"
    with pytest.raises(ConfigError, match="objectives"):
        get_method("e2rnas", objectives=("acc", "latency"))
    with pytest.raises(ConfigError, match="attack"):
        get_method("e2rnas", attack="cw")
    with pytest.raises(ConfigError, match="size_budget"):
        get_method("e2rnas", size_budget=-1.0)
    with pytest.raises(ConfigError, match="hessian"):
        SearchConfig(method="darts", hessian="gauss-newton")


def test_e2rnas_attacks_stay_in_train_mode_and_in_the_ball() -> None:
    torch.manual_seed(0)
    net = NB201Supernet(C=4, N=1)
    net.train()
    x, y = _batch()
    eps = 2 / 255
    for adv in (fgsm_rs_examples(net, x, y, eps, seed=3), pgd_examples(net, x, y, eps, 3, seed=3)):
        assert net.training  # crafted on the train-mode network, like the loss
        assert float((adv - x).abs().max()) <= eps + 1e-6 and float(adv.min()) >= 0 and float(adv.max()) <= 1
        assert not torch.equal(adv, x)
    assert torch.equal(fgsm_rs_examples(net, x, y, eps, seed=3), fgsm_rs_examples(net, x, y, eps, seed=3))
    out = get_method("e2rnas", objectives=("acc", "rob", "size", "ood")).upper_objectives(net, x, y, 0)
    assert set(out) == {"acc", "rob", "size", "ood"} and all(torch.isfinite(v) for v in out.values())
    assert float(out["ood"].detach()) >= 0  # a KL divergence


def _unrolled_reference(model, x_t, y_t, x_v, y_v, xi, wd, mu, bufs) -> list[torch.Tensor]:
    """Exact d/d alpha of L_val(w - xi (mu m + grad_w L_train(w, alpha) + wd w), alpha) by autograd."""
    names = [n for n, _ in model.named_parameters()]
    params = dict(model.named_parameters())
    alpha_names = [n for n in names if n.startswith("alpha")]
    w_names = [n for n in names if not n.startswith("alpha")]
    low = F.cross_entropy(functional_call(model, params, (x_t,)), y_t)
    gw = torch.autograd.grad(low, [params[n] for n in w_names], create_graph=True)
    new = dict(params)
    for n, g, b in zip(w_names, gw, bufs, strict=True):
        new[n] = params[n] - xi * (mu * b + g + wd * params[n])
    up = F.cross_entropy(functional_call(model, new, (x_v,)), y_v)
    return list(torch.autograd.grad(up, [params[n] for n in alpha_names]))


@pytest.mark.parametrize("hessian", ["exact", "finite-difference"])
def test_second_order_hypergradient_matches_autograd(hessian: str, monkeypatch) -> None:
    """The exact option equals autograd; DARTS' central difference does too once its radius is
    small (at DARTS' own radius 0.01 it crosses ReLU kinks of this tiny network: cosine 0.72)."""
    import importlib

    monkeypatch.setattr(importlib.import_module("robnas.dnas.search"), "FD_RADIUS", 1e-5)
    torch.manual_seed(0)
    model = NB201Supernet(C=4, N=1).double()
    with torch.no_grad():
        model.alpha.normal_()
    xt, yt = _batch(dtype=torch.float64, seed=1)
    xv, yv = _batch(dtype=torch.float64, seed=2)
    weights = model.weight_parameters()
    opt = torch.optim.SGD(weights, lr=0.1, momentum=0.9)
    for p in weights:  # a non-trivial momentum buffer
        p.grad = 0.01 * torch.randn_like(p)
    opt.step()
    opt.zero_grad(set_to_none=True)
    bufs = [opt.state[p]["momentum_buffer"] for p in weights]
    xi, wd = 0.05, 3e-4
    ref = _unrolled_reference(model, xt, yt, xv, yv, xi, wd, 0.9, bufs)
    before = [p.detach().clone() for p in weights]
    got, _ = architecture_step(
        model,
        get_method("darts"),
        (xt, yt),
        (xv, yv),
        order="second",
        xi=xi,
        wd=wd,
        seed=0,
        w_opt=opt,
        hessian=hessian,
    )
    assert all(torch.equal(p, b) for p, b in zip(weights, before, strict=True))  # weights restored
    first, _ = architecture_step(
        model, get_method("darts"), (xt, yt), (xv, yv), order="first", xi=xi, wd=wd, seed=0
    )
    assert not torch.allclose(first[0], ref[0], atol=1e-6)  # the implicit term matters here
    if hessian == "exact":
        assert torch.allclose(got[0], ref[0], rtol=1e-6, atol=1e-9)
    else:  # a central difference: equal up to its truncation error
        assert torch.allclose(got[0], ref[0], rtol=1e-4, atol=1e-7)


def test_supernets_follow_the_protocol_and_derive_honours_exclude_none() -> None:
    torch.manual_seed(0)
    nb, da = NB201Supernet(C=4, N=1), DARTSSupernet(C=4, N=1)
    assert isinstance(nb, Supernet) and isinstance(da, Supernet)
    assert nb.param_range() is nb.param_range()  # cached
    with torch.no_grad():
        da.alpha_normal.zero_()
        da.alpha_normal[:, 0] = 5.0  # 'none' everywhere in the normal cell
    with_none, without = da.derive(exclude_none=False), da.derive(exclude_none=True)
    assert isinstance(with_none, Genotype) and all(op == "none" for op, _ in with_none.normal)
    assert all(op != "none" for op, _ in without.normal)


@pytest.mark.parametrize("method", ["dsrna-cb", "dsrna-jacobian", "e2rnas"])
def test_cli_searches_the_darts_space(method: str, tmp_path, cli) -> None:
    out = tmp_path / method
    code, stdout, err = cli(
        "dnas", "search", "--space", "darts", "--method", method, "--dataset", "digits", "--epochs", "1", "--C", "2", "--N", "1", "--batch", "8", "--n-train", "16",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, err
    res = json.loads(stdout)
    genotype = Genotype.from_dict(res["genotype"])
    assert len(genotype.normal) == 8 and res["config"]["space"] == "darts"
    hist = json.loads((out / "history.json").read_text())
    assert hist[0]["expected_params"] > 0
    if method == "e2rnas":
        assert res["config"]["order"] == "second" and "w_size" in hist[0]


def test_dsrna_cb_terms_are_balanced_at_init_and_after_warm_up(digits_small) -> None:
    """Neither term's alpha-gradient is more than 10x the other's at the default gamma."""
    train, val = digits_small
    cfg = SearchConfig(
        space="nb201", method="dsrna-cb", dataset="digits", epochs=2, C=4, N=1, batch_size=16, max_steps=3
    )
    run = search(cfg, None, data=(train, val))
    for entry in run.history:  # epoch means of the recorded gradient norms and coefficients
        assert entry["gnorm_ce"] > 0 and entry["gnorm_neg_log_radius"] > 0
    method = get_method("dsrna-cb")
    x, y = val.images[:16].float() / 255, val.labels[:16]
    for model in (NB201Supernet(C=4, N=1, in_channels=1), run.model):
        model.train()
        objectives = method.upper_objectives(model, x, y, 0)
        coefs, rec = method.combine(objectives, model.arch_parameters())
        effective = coefs["neg_log_radius"] * rec["gnorm_neg_log_radius"] / (coefs["ce"] * rec["gnorm_ce"])
        assert 0.1 <= effective <= 10
        assert torch.isfinite(objectives["neg_log_radius"])


def test_dsrna_jacobian_regularises_both_levels_after_warm_up() -> None:
    torch.manual_seed(0)
    net = NB201Supernet(C=4, N=1)
    x, y = _batch()
    m = get_method("dsrna-jacobian", warmup=0.5)
    m.begin_epoch(0, 4)
    assert set(m.upper_objectives(net, x, y, 0)) == {"ce"}
    plain = float(m.lower_loss(net, x, y, 0).detach())
    m.begin_epoch(2, 4)
    assert set(m.upper_objectives(net, x, y, 0)) == {"ce", "jacobian"}
    assert float(m.lower_loss(net, x, y, 0).detach()) > plain


EVAL_GENOTYPE = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('dil_conv_3x3', 2), "
    "('avg_pool_3x3', 1), ('sep_conv_5x5', 3), ('dil_conv_5x5', 2), ('skip_connect', 4)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), "
    "('avg_pool_3x3', 2), ('dil_conv_3x3', 1), ('max_pool_3x3', 3), ('skip_connect', 4), ('sep_conv_5x5', 0)], "
    "reduce_concat=[2, 3, 4, 5])"
)
"""A genotype with every DARTS operation, retrained by the evaluation-protocol tests."""


def test_eval_protocol_retrains_adversarially_with_drop_path_and_certifies() -> None:
    from robnas.dnas.evaluate import evaluate_genotype
    from robnas.models.darts import DARTSNetwork

    g = Genotype.parse(EVAL_GENOTYPE)
    res = evaluate_genotype(
        g, dataset="digits", C=2, layers=3, epochs=1, n_train=64, n_test=32, adversarial=True,
        drop_path=0.2, progress=False,
    )  # fmt: skip
    assert res["settings"]["adversarial"] and res["settings"]["preset"]
    assert -300 < res["certified_log10_radius"] < 0
    assert "robustness" in res
    net = DARTSNetwork(g, C=2, layers=3, in_channels=1)
    net.set_drop_path(0.5)
    net.train()
    x = torch.rand(16, 1, 8, 8)
    assert not torch.equal(net(x), net(x))  # stochastic in training
    net.eval()
    assert torch.equal(net(x), net(x))
    with pytest.raises(ValueError, match="drop-path"):
        net.set_drop_path(1.0)


@pytest.mark.usefixtures("one_thread")
def test_eval_protocol_with_auxiliary_head_records_it_and_counts_params_without_it() -> None:
    from robnas.dnas.evaluate import evaluate_genotype
    from robnas.models import count_params
    from robnas.models.darts import DARTSNetwork

    g = Genotype.parse(EVAL_GENOTYPE)
    kw = dict(
        dataset="digits", C=2, layers=3, epochs=1, n_train=64, n_test=16, certified=False, progress=False
    )
    res = evaluate_genotype(g, adversarial=True, auxiliary=True, auxiliary_weight=0.3, **kw)  # type: ignore[arg-type]
    assert res["settings"]["auxiliary"] is True and res["settings"]["auxiliary_weight"] == 0.3
    assert res["params"] == count_params(DARTSNetwork(g, C=2, layers=3, in_channels=1))
    assert "robustness" in res
    with pytest.raises(ConfigError, match="auxiliary_weight"):
        evaluate_genotype(g, auxiliary=True, auxiliary_weight=-1.0, **kw)  # type: ignore[arg-type]


@pytest.mark.usefixtures("one_thread")
def test_eval_protocol_attacks_with_autoattack_no_weaker_than_pgd() -> None:
    from robnas.dnas.evaluate import evaluate_genotype

    g = Genotype.parse(EVAL_GENOTYPE)
    res = evaluate_genotype(
        g, dataset="digits", C=2, layers=3, epochs=2, n_train=128, n_test=12, eps=2 / 255,
        attacks=("pgd", "autoattack"), certified=False, progress=False,
    )  # fmt: skip
    acc = res["robustness"]["accuracy"]
    assert set(acc) == {"pgd", "autoattack"}
    # the same network and images: AutoAttack (APGD-CE, APGD-T, FAB-T, Square) is at least as strong
    assert acc["autoattack"]["2"] <= acc["pgd"]["2"] <= res["robustness"]["clean_accuracy"]


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_e2rnas_flops_objective_is_expected_macs(space: str) -> None:
    torch.manual_seed(0)
    net = NB201Supernet(C=4, N=1) if space == "nb201" else DARTSSupernet(C=2, N=1)
    x, y = _batch(n=4)
    out = get_method("e2rnas", objectives=("acc", "flops")).upper_objectives(net, x, y, 0)
    assert float(out["flops"].detach()) == pytest.approx(1.0, rel=1e-2)  # alpha ~ uniform at init
    conv = next(m for m in net.modules() if hasattr(m, "op_macs"))
    names = list(conv.names)
    assert conv.op_macs[names.index("none")] == 0 and conv.op_macs.max() > 0
    grads = torch.autograd.grad(out["flops"], net.arch_parameters())
    before = float(net.expected_macs().detach())
    with torch.no_grad():
        for a, g in zip(net.arch_parameters(), grads, strict=True):
            a.sub_(0.5 * g / g.norm())
    assert float(net.expected_macs().detach()) < before
