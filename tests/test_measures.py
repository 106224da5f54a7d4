"""Unit tests of robnas.measures on tiny NAS-Bench-201 networks (C=4, N=1) and tiny batches.

Speed on a shared two-core machine: torch runs on one thread in this module (thread contention
made small-model work about ten times slower), and the calibrated networks are built once per
(architecture, dtype) by the ``nets`` fixture; tests that change a network work on a copy.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from robnas.attacks import get_attack, margin
from robnas.errors import ConfigError
from robnas.measures import (
    BoundState,
    calibrate_bn,
    certified_lower_bound,
    certified_radius,
    compute_measures,
    hessian_top_eigenvalue,
    input_jacobian,
    interval_forward,
    jacobian_frobenius,
    jacobian_projection,
    kernel_scores,
    margin_bounds,
    mixed_kernel,
    per_sample_grads,
    per_sample_grads_loop,
    register_interval_rule,
    top_logit_gradient_norm,
)
from robnas.measures.ntk import gram_matrix, perturb
from robnas.measures.registry import MeasureContext
from robnas.models import build_network

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|skip_connect~2|",
]
MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def tiny(arch: str = ARCHS[0], seed: int = 0, classes: int = 5) -> nn.Module:
    torch.manual_seed(seed)
    return build_network(arch, C=4, N=1, num_classes=classes, mean=MEAN, std=STD)


def batch(n: int = 6, size: int = 8, classes: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 3, size, size), generator=g), torch.randint(0, classes, (n,), generator=g)


def prepared(arch: str = ARCHS[0], seed: int = 0, dtype: torch.dtype = torch.float64):
    x, y = batch(seed=seed)
    net = calibrate_bn(tiny(arch, seed).to(dtype), x.to(dtype))
    return net, x.to(dtype), y


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def nets():
    """``nets(arch, dtype)``: the calibrated network of :func:`prepared` and its batch, built once.

    Shared by the tests of this module: a test that changes the network (gradients, weights)
    must ``copy.deepcopy`` it first.
    """
    cache: dict[tuple[str, torch.dtype], tuple[nn.Module, torch.Tensor, torch.Tensor]] = {}

    def get(arch: str = ARCHS[0], dtype: torch.dtype = torch.float64):
        if (arch, dtype) not in cache:
            cache[(arch, dtype)] = prepared(arch, dtype=dtype)
        return cache[(arch, dtype)]

    return get


# ------------------------------------------------------------------ Jacobian


@pytest.mark.parametrize("arch", ARCHS)
def test_exact_jacobian_matches_autograd_functional(arch: str, nets) -> None:
    net, x, _ = nets(arch)
    jac = input_jacobian(net, x)
    for i in range(2):
        ref = torch.autograd.functional.jacobian(lambda v: net(v.unsqueeze(0))[0], x[i])
        torch.testing.assert_close(jac[i], ref)
    torch.testing.assert_close(jacobian_frobenius(net, x), jac.flatten(1).norm(dim=1))


def test_exact_jacobian_matches_finite_differences(nets) -> None:
    net, x, _ = nets()
    jac = input_jacobian(net, x[:1])[0]
    h = 1e-6
    for flat in (0, 17, 101):
        e = torch.zeros_like(x[:1]).flatten()
        e[flat] = h
        e = e.view_as(x[:1])
        fd = (net(x[:1] + e) - net(x[:1] - e))[0] / (2 * h)
        torch.testing.assert_close(jac[:, :, :, :].flatten(1)[:, flat], fd, atol=1e-5, rtol=1e-4)


def test_projection_estimator_is_unbiased_for_the_squared_norm(nets) -> None:
    net, x, _ = nets()
    exact = jacobian_frobenius(net, x).pow(2)
    est = jacobian_projection(net, x, n_proj=400, generator=torch.Generator().manual_seed(1))
    rel = (est - exact).abs() / exact
    assert float(rel.max()) < 0.2, rel
    one = jacobian_projection(net, x, n_proj=1, generator=torch.Generator().manual_seed(2))
    assert torch.all(one >= 0) and torch.all(one <= exact * net(x).shape[1] + 1e-9)  # ||v^T J||^2 <= ||J||^2


def test_top_logit_gradient_norm_create_graph_matches_finite_differences(nets) -> None:
    """DSRNA's Jacobian term with ``create_graph=True`` is differentiable in the parameters."""
    net, x, _ = nets()
    net = copy.deepcopy(net)  # the finite differences change weights in place
    plain = top_logit_gradient_norm(net, x)
    assert plain.grad_fn is None and not plain.requires_grad
    val = top_logit_gradient_norm(net, x, create_graph=True)
    assert val.grad_fn is not None
    torch.testing.assert_close(val.detach(), plain)
    top = net(x).argmax(1)
    with torch.no_grad():
        val = top_logit_gradient_norm(net, x, create_graph=True)  # the graph is kept under no_grad too
    assert val.grad_fn is not None
    params = dict(net.named_parameters())
    names = ["classifier.weight", "cells.0.ops.0_1.op.1.weight", "stem.0.weight"]
    grads = torch.autograd.grad(val.sum(), [params[n] for n in names])
    h = 1e-6
    for name, grad in zip(names, grads, strict=True):
        p = params[name]
        assert float(grad.abs().max()) > 0, name
        for flat in (0, p.numel() // 2, p.numel() - 1):
            with torch.no_grad():
                p.view(-1)[flat] += h
                up = float(top_logit_gradient_norm(net, x).sum())
                p.view(-1)[flat] -= 2 * h
                down = float(top_logit_gradient_norm(net, x).sum())
                p.view(-1)[flat] += h
                assert torch.equal(net(x).argmax(1), top)  # the same top logit on both sides
            fd = (up - down) / (2 * h)
            assert math.isclose(float(grad.reshape(-1)[flat]), fd, rel_tol=1e-4, abs_tol=1e-7), (name, flat)


# ------------------------------------------------------------------ Hessian


def test_hessian_power_iteration_matches_explicit_eigendecomposition() -> None:
    torch.manual_seed(0)
    net = tiny(ARCHS[0]).double()
    x, y = batch(n=3, size=4)
    x = x.double()
    calibrate_bn(net, x)
    lam, iters = hessian_top_eigenvalue(
        net, x, y, max_iter=200, tol=1e-10, generator=torch.Generator().manual_seed(0)
    )
    assert iters > 1
    for i in range(3):

        def loss(v: torch.Tensor, i: int = i) -> torch.Tensor:
            return nn.functional.cross_entropy(net(v.view(1, 3, 4, 4)), y[i : i + 1], reduction="sum")

        h = torch.autograd.functional.hessian(loss, x[i].flatten())
        ev = torch.linalg.eigvalsh(h)
        assert float(ev.min()) > -1e-8  # PSD for a ReLU network with cross-entropy
        assert math.isclose(float(lam[i]), float(ev[-1]), rel_tol=1e-4), (float(lam[i]), float(ev[-1]))


# ------------------------------------------------------------------ NTK


def test_batched_per_sample_grads_equal_the_loop_and_chunking(nets) -> None:
    net, x, _ = nets(dtype=torch.float32)
    loop = per_sample_grads_loop(net, x)
    for chunk in (1, 4, 32):
        torch.testing.assert_close(per_sample_grads(net, x, chunk=chunk), loop, atol=1e-5, rtol=1e-4)


def test_per_sample_grads_refuse_train_mode() -> None:
    with pytest.raises(ConfigError, match="eval mode"):
        per_sample_grads(tiny().train(), batch()[0])


def _ctx(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MeasureContext:
    return MeasureContext(net, x, y, nn.functional.cross_entropy)


def test_ntk_kernels_symmetric_psd_and_mixed_limits(nets) -> None:
    net, x, y = nets(dtype=torch.float64)
    x1 = perturb(net, x, y, "pgd", 8 / 255)
    g0, g1 = per_sample_grads(net, x), per_sample_grads(net, x1)
    assert not torch.allclose(g0, g1)  # the perturbation changes the gradients
    k, kx, ka = g0 @ g0.T, g0 @ g1.T, g1 @ g1.T
    for beta in (0.0, 0.3, 0.5, 1.0):
        km = mixed_kernel(k, kx, ka, beta)
        torch.testing.assert_close(km, km.T)
        assert float(torch.linalg.eigvalsh(km.double())[0]) > -1e-6 * float(km.abs().max())
        m = (1 - beta) * g0 + beta * g1  # K_all = M M^T
        torch.testing.assert_close(km, m @ m.T, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(mixed_kernel(k, kx, ka, 0.0), k)
    torch.testing.assert_close(mixed_kernel(k, kx, ka, 1.0), ka)
    with pytest.raises(ConfigError):
        mixed_kernel(k, kx, ka, 1.5)
    s = kernel_scores(k)
    assert s["lmin"] > 0 and s["cond"] >= 1
    # the kernel of the stacked batch holds the same blocks
    both = gram_matrix(net, torch.cat([x, x1]), method="layers")
    n = x.shape[0]
    for got, want in ((both[:n, :n], k), (both[:n, n:], kx), (both[n:, n:], ka)):
        torch.testing.assert_close(got, want, atol=1e-9 * float(want.abs().max()), rtol=1e-9)


def test_ntk_measures_through_the_registry_agree_at_beta_limits() -> None:
    x, y = batch()
    v = compute_measures(
        ["ntk", "ntk_adv", "ntk_mixed", "ntk_mixed_robust"],
        lambda: build_network(ARCHS[0], C=4, N=1, num_classes=5, mean=MEAN, std=STD),
        x, y, seed=0,
        options={"ntk_mixed": {"beta": 0.0}, "ntk_mixed_robust": {"beta": 0.0}},
    )  # fmt: skip
    assert math.isclose(v["ntk_mixed.lmin"], v["ntk.lmin"], rel_tol=1e-4)
    assert math.isclose(v["ntk_mixed_robust.lmin"], v["ntk_adv.lmin"], rel_tol=1e-4)
    w = compute_measures(
        ["ntk_adv", "ntk_mixed"],
        lambda: build_network(ARCHS[0], C=4, N=1, num_classes=5, mean=MEAN, std=STD),
        x, y, seed=0, options={"ntk_mixed": {"beta": 1.0}},
    )  # fmt: skip
    assert math.isclose(w["ntk_mixed.lmin"], w["ntk_adv.lmin"], rel_tol=1e-4)


# ------------------------------------------------------------------ certified bounds


@pytest.mark.parametrize("arch", ARCHS)
def test_bounds_collapse_to_the_margin_at_eps_zero(arch: str, nets) -> None:
    net, x, y = nets(arch)
    exact = margin(net(x), y)
    for method in ("ibp", "crown_ibp"):
        torch.testing.assert_close(certified_lower_bound(net, x, y, 0.0, method), exact)


@pytest.mark.parametrize("arch", ARCHS)
def test_bounds_are_true_lower_bounds_and_crown_is_tighter(arch: str, nets) -> None:
    net, x, y = nets(arch)
    eps = 2e-3
    lb = {m: margin_bounds(net, x, y, eps, m) for m in ("ibp", "crown_ibp")}
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(20):
            xr = (x + (2 * torch.rand(x.shape, generator=g, dtype=x.dtype) - 1) * eps).clamp(0, 1)
            m = margin(net(xr), y)
            for b in lb.values():
                assert torch.all(b.min(1).values <= m + 1e-9)
    xa = get_attack("pgd", eps=eps, steps=10, early_stop=False)(net, x, y)
    with torch.no_grad():
        m_adv = margin(net(xa), y)
    for b in lb.values():
        assert torch.all(b.min(1).values <= m_adv + 1e-9)
    tighter = (lb["crown_ibp"] >= lb["ibp"] - 1e-9).double().mean()
    assert float(tighter) >= 0.5, float(tighter)


def test_bounds_are_monotone_in_eps_and_radius_is_consistent(nets) -> None:
    net, x, y = nets()
    prev = None
    for eps in (0.0, 1e-4, 1e-3, 1e-2):
        b = certified_lower_bound(net, x, y, eps, "ibp")
        if prev is not None:
            assert torch.all(b <= prev + 1e-9)
        prev = b
    with torch.no_grad():
        r = certified_radius(net, x, None, "ibp", eps_min=1e-15, steps=30)
        pred = net(x).argmax(1)
    assert torch.all(r > 0)
    assert torch.all(certified_lower_bound(net, x, pred, r * 0.999, "ibp") > 0)
    assert torch.all(certified_lower_bound(net, x, pred, r * 1.01, "ibp") <= 0)
    r_small = certified_radius(net, x, None, "ibp", eps_min=1e-15, eps_max=float(r.min()) / 2)
    assert torch.all(r_small <= r)  # a smaller search range never gives a larger radius


def test_bounds_are_differentiable_and_extensible(nets) -> None:
    net, x, y = nets()
    net = copy.deepcopy(net)  # backward() below writes .grad
    lb = certified_lower_bound(net, x, y, 1e-3, "crown_ibp").sum()
    lb.backward()
    assert net.classifier.weight.grad is not None and torch.isfinite(net.classifier.weight.grad).all()

    class Scale(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return 2 * z

    with pytest.raises(ConfigError, match="register_interval_rule"):
        interval_forward(Scale(), x, x)

    @register_interval_rule(Scale)
    def _scale(m: nn.Module, lo: torch.Tensor, hi: torch.Tensor, state: BoundState):
        return 2 * lo, 2 * hi

    lo, hi = interval_forward(nn.Sequential(Scale(), nn.ReLU()), x - 1, x)
    torch.testing.assert_close(hi, 2 * x)


def test_bounds_need_eval_mode() -> None:
    x, y = batch()
    with pytest.raises(ConfigError, match="eval mode"):
        margin_bounds(tiny().train(), x, y, 0.01)


# ------------------------------------------------------------------ registry


def test_registry_all_measures_finite_and_model_untouched() -> None:
    x, y = batch()
    net = tiny()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    times: dict[str, float] = {}
    vals = compute_measures("all", net, x, y, seed=0, timings=times)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])
    assert set(times) >= {"jacobian", "hessian", "ntk_mixed", "ibp", "synflow", "naswot"}
    finite = {k for k, v in vals.items() if math.isfinite(v)}
    assert {"jacobian", "jacobian_proj", "jacobian_top", "hessian", "ntk.lmin", "ibp", "crown_ibp"} <= finite
    again = compute_measures(["jacobian", "ntk"], net, x, y, seed=0)
    assert again["jacobian"] == vals["jacobian"] and again["ntk.lmin"] == vals["ntk.lmin"]


def test_disconnected_architecture_gives_values_not_crashes() -> None:
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    x, y = batch()
    vals = compute_measures(["jacobian", "hessian", "ntk_mixed", "jacov", "ibp"], tiny(arch), x, y)
    assert vals["jacobian"] == 0.0 and vals["hessian"] == 0.0


def test_certified_radius_of_an_input_blind_network_is_the_whole_pixel_range() -> None:
    """NB201 uid 12 (every path from the input is ``none`` but a later conv keeps the cell
    trainable): its prediction never changes, and the score is log10(1) = 0, not the 1e28 of an
    unclipped first-order radius."""
    x, y = batch()
    vals = compute_measures(
        ["certified_radius"], tiny("|none~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|"), x, y
    )
    assert vals["certified_radius"] == 0.0
    assert compute_measures(["certified_radius"], tiny(), x, y)["certified_radius"] < 0


def test_unknown_measure_and_bad_input_are_clear_errors() -> None:
    x, y = batch()
    with pytest.raises(ConfigError, match="unknown measure 'jacobain'"):
        compute_measures(["jacobain"], tiny(), x, y)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        compute_measures(["jacobian"], tiny(), x * 255, y)


def test_a_measure_warning_flags_its_columns_and_is_still_shown() -> None:
    """A value a measure calls meaningless is kept, flagged (``flags``) and warned about; other
    warnings pass through without flagging anything."""
    import warnings

    from robnas.measures import MeasureWarning, compute_measures, register_measure
    from robnas.measures.registry import MEASURES

    @register_measure("_test_doubtful", needs_data=False)
    def doubtful(ctx) -> dict[str, float]:
        warnings.warn("the kernel is singular", MeasureWarning, stacklevel=2)
        return {"lmin": 0.0, "cond": 1e30}

    @register_measure("_test_noisy", needs_data=False)
    def noisy(ctx) -> float:
        warnings.warn("something else", UserWarning, stacklevel=2)
        return 1.0

    try:
        x, y = torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 10))
        flags: dict[str, str] = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = compute_measures(["_test_doubtful", "_test_noisy"], net, x, y, flags=flags)
        assert values == {"_test_doubtful.lmin": 0.0, "_test_doubtful.cond": 1e30, "_test_noisy": 1.0}
        assert flags == {
            "_test_doubtful.lmin": "the kernel is singular",
            "_test_doubtful.cond": "the kernel is singular",
        }
        shown = sorted((w.category.__name__, str(w.message)) for w in caught)
        assert shown == [("MeasureWarning", "the kernel is singular"), ("UserWarning", "something else")]
    finally:
        MEASURES.unregister("_test_doubtful")
        MEASURES.unregister("_test_noisy")
