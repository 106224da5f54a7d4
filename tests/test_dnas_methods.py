"""robnas.dnas methods as their papers define them: E2RNAS' size budget, attack and second-order
step (exact and finite-difference hypergradients against autograd); the Supernet protocol."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from robnas.dnas import DARTSSupernet, NB201Supernet, SearchConfig, architecture_step, get_method
from robnas.dnas.methods import fgsm_rs_examples, pgd_examples
from robnas.dnas.supernet import Supernet
from robnas.errors import ConfigError
from robnas.spaces.darts import Genotype


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
