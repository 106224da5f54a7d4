"""Certified bounds in the DARTS space (SepConv, DilConv, max pooling, zero, FactorizedReduce,
pooling with BN, the DARTS cell, network and supernet) and for the search supernets: soundness
under sampled, corner and attacked points; tightness at eps = 0; BatchNorm statistics and
architecture weights passed through the bound state; the linear-regime radii."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robnas.attacks import get_attack, margin
from robnas.dnas import DARTSNetwork, DARTSSupernet, Genotype, NB201Supernet
from robnas.dnas.robustness import (
    certified_margin_bound,
    forward_fixed_bn,
    forward_with_bn_stats,
    linear_bound_radius,
)
from robnas.measures.bounds import (
    BoundState,
    input_box,
    interval_forward,
    interval_linear_regime,
    linear_backward,
    linear_regime_radius,
)

ALL_OPS = Genotype.parse(
    "Genotype(normal=[('sep_conv_3x3', 0), ('max_pool_3x3', 1), ('dil_conv_3x3', 0), ('skip_connect', 2), "
    "('avg_pool_3x3', 1), ('sep_conv_5x5', 3), ('dil_conv_5x5', 2), ('none', 4)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('avg_pool_3x3', 2), "
    "('dil_conv_3x3', 1), ('max_pool_3x3', 3), ('skip_connect', 4), ('sep_conv_5x5', 0)], reduce_concat=[2, 3, 4, 5])"
)


def _nets() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    nets: dict[str, nn.Module] = {
        "darts-network": DARTSNetwork(ALL_OPS, C=2, layers=3, in_channels=1),
        "darts-supernet": DARTSSupernet(C=2, N=1, in_channels=1),
        "nb201-supernet": NB201Supernet(C=2, N=1, in_channels=1),
    }
    with torch.no_grad():
        for name in ("darts-supernet", "nb201-supernet"):
            for a in nets[name].arch_parameters():
                a.normal_()
    return nets


NETS = _nets()


def _data(n: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)


def _points(x: torch.Tensor, eps: float, seed: int = 0) -> list[torch.Tensor]:
    """Uniform samples and corners of the (clipped) box."""
    lo, hi = input_box(x, eps)
    g = torch.Generator().manual_seed(seed)
    pts = [lo + (hi - lo) * torch.rand(x.shape, generator=g) for _ in range(4)]
    pts += [torch.where(torch.rand(x.shape, generator=g) < 0.5, lo, hi) for _ in range(4)]
    return pts + [lo, hi]


@pytest.mark.parametrize("method", ["ibp", "crown_ibp"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_bounds_are_sound_and_tight(name: str, method: str) -> None:
    net = NETS[name]
    x, y = _data()
    net.train()
    net(x)  # running statistics
    net.eval()
    eps = 3 / 255
    bound = certified_margin_bound(net, x, y, eps, method).detach()
    with torch.no_grad():
        worst = torch.stack([margin(net(p), y) for p in _points(x, eps)]).min(0).values
    x_adv = get_attack("pgd", eps=eps, steps=20)(net, x, y)
    with torch.no_grad():
        worst = torch.minimum(worst, margin(net(x_adv), y))
    assert torch.all(bound <= worst + 1e-5)
    exact = certified_margin_bound(net, x, y, 0.0, method).detach()
    with torch.no_grad():
        assert torch.allclose(exact, margin(net(x), y), atol=1e-5)
    if method == "crown_ibp":  # CROWN-IBP is at least as tight as IBP here
        ibp = certified_margin_bound(net, x, y, eps, "ibp").detach()
        assert float((bound - ibp).mean()) >= -1e-5


@pytest.mark.parametrize("name", ["darts-supernet", "nb201-supernet"])
def test_bounds_take_train_mode_statistics_and_alphas_from_the_state(name: str) -> None:
    net = NETS[name]
    x, y = _data(seed=1)
    net.train()
    logits, stats = forward_with_bn_stats(net, x)
    assert len(stats) == sum(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    bound0 = certified_margin_bound(net, x, y, 0.0, "crown_ibp", bn_stats=stats)
    assert torch.allclose(bound0.detach(), margin(logits, y).detach(), atol=1e-5)  # the CE term's function
    assert net.training  # nothing switched behind the caller's back
    bound = certified_margin_bound(net, x, y, 2 / 255, "ibp", bn_stats=stats)
    alphas = net.arch_parameters()
    grads = torch.autograd.grad(bound.mean(), alphas, allow_unused=True)
    assert all(g is not None and float(g.abs().sum()) > 0 for g in grads)  # differentiable in alpha
    with torch.no_grad():
        fixed = forward_fixed_bn(net, x, stats)
    assert torch.allclose(fixed, logits.detach(), atol=1e-5)


def test_max_pool_linear_relaxation_is_sound() -> None:
    torch.manual_seed(0)
    pool = nn.MaxPool2d(3, stride=2, padding=1)
    c = torch.randn(2, 3, 6, 6)
    lower, upper = c - 0.3, c + 0.3
    state = BoundState()
    interval_forward(pool, lower, upper, state)
    A = torch.randn(2, 4, 3, 3, 3)
    a_in, bias = linear_backward(pool, A, state)
    for _ in range(20):
        z = lower + (upper - lower) * torch.rand_like(c)
        value = (A * pool(z).unsqueeze(1)).flatten(2).sum(2)
        bound = (a_in * z.unsqueeze(1)).flatten(2).sum(2) + bias
        assert torch.all(bound <= value + 1e-5)


def test_linear_regime_radii() -> None:
    net = NETS["darts-network"]
    x, y = _data(seed=2)
    net.train()
    net(x)
    net.eval()
    with torch.no_grad():
        pred = net(x).argmax(1)
        m, k_const, eps_lin = interval_linear_regime(net, x, pred)
        certified, extrapolated = linear_regime_radius(net, x, pred)
        clean = net(x)
    assert torch.all(torch.isfinite(k_const)) and torch.all(k_const > 0)
    assert torch.allclose(m.min(1).values, margin(clean, pred), atol=1e-5)
    assert torch.all(certified <= extrapolated + 1e-12) and torch.all(certified <= eps_lin + 1e-12)
    # IBP at a radius inside the linear regime equals m - eps K exactly
    eps = float(0.5 * eps_lin.min().clamp_max(1e-3))
    ibp = certified_margin_bound(net, x, pred, eps, "ibp").detach()
    lo, hi = input_box(x, eps)
    inside = ((x - lo) >= eps - 1e-7).all() and ((hi - x) >= eps - 1e-7).all()
    if inside:
        assert torch.allclose(ibp, (m - eps * k_const).min(1).values, rtol=1e-3, atol=1e-5)
    assert torch.all(certified_margin_bound(net, x, pred, certified * 0.999, "ibp").detach() >= -1e-5)


def test_linear_bound_radius_is_exact_for_a_linear_model() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    x = torch.rand(8, 1, 4, 4) * 0.5 + 0.25
    r, pred = linear_bound_radius(net, x, {})
    with torch.no_grad():
        z = net(x)
        runner = z.scatter(1, pred[:, None], float("-inf")).argmax(1)
        w = net[1].weight
        direction = (w[pred] - w[runner]).sign().view_as(x)
        moved = net(x - r.detach().view(-1, 1, 1, 1) * direction)
    gap = moved.gather(1, pred[:, None])[:, 0] - moved.gather(1, runner[:, None])[:, 0]
    assert torch.allclose(gap, torch.zeros_like(gap), atol=1e-5)  # the radius reaches the boundary
    assert torch.all(r > 0)


def test_certified_measures_at_benchmark_size_are_finite_or_flagged() -> None:
    """Issue: at C=16, N=5 the bounds gave nan / -4.7e24 and a radius at the bisection floor."""
    import math
    import warnings

    from robnas.measures import compute_measures
    from robnas.measures.bounds import BoundWarning
    from robnas.models import build_network

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(4, 3, 32, 32, generator=g), torch.randint(0, 10, (4,), generator=g)
    flags: dict[str, str] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values = compute_measures(
            ["ibp", "certified_radius"], lambda: build_network(7129, C=16, N=5), x, y, flags=flags
        )
    assert all(math.isfinite(v) for v in values.values()), values
    assert -300 < values["certified_radius"] < 0  # log10 of a radius in pixels, below 1
    flagged = [str(w.message) for w in caught if issubclass(w.category, BoundWarning)]
    assert values["ibp"] < -1e6 and any("vacuous" in m for m in flagged)  # interval growth at C=16, N=5
    assert list(flags) == ["ibp"] and "vacuous" in flags["ibp"]  # the value is flagged, not only warned
