"""Evidence for robnas.attacks: invariants, strength orderings, closed-form optima, checks, CLI."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from robnas.attacks import (
    APGD,
    FGSM,
    PGD,
    MissingGradientWarning,
    Square,
    apgd_checkpoints,
    available_attacks,
    evaluate_robustness,
    get_attack,
    p_schedule,
)
from robnas.errors import ConfigError

FAST = {  # small budgets so that the whole module stays fast on two CPU cores
    "fgsm": {},
    "pgd": {"steps": 5},
    "apgd-ce": {"steps": 10},
    "square": {"n_queries": 50},
    "ensemble": {"members": ("apgd-ce", "square")},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def _data(n: int = 600, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.randn(3, 64, generator=torch.Generator().manual_seed(123))
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))
    y = ((x.flatten(1) - 0.5) @ w.T).argmax(1)
    return x, y


class SmallNet(nn.Module):
    """Conv + BatchNorm + MLP: has running statistics, so eval mode matters."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x, y = _data()
    model = SmallNet()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    model.eval()
    xt, yt = _data(200, seed=1)
    return model, xt, yt


def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(sorted(FAST)),
    eps255=st.floats(0.5, 64),
    seed=st.integers(0, 2**16),
    train_mode=st.booleans(),
)
def test_invariants_every_attack(trained, name, eps255, seed, train_mode) -> None:
    model, x, y = trained
    x, y = x[:24], y[:24]
    eps = eps255 / 255
    model.train(train_mode)
    model.fc.weight.grad = torch.ones_like(model.fc.weight)
    model.conv.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    try:
        attack = get_attack(name, eps=eps, seed=seed, **FAST[name])
        adv = attack(model, x, y)
        # within the eps-ball and [0, 1]
        assert adv.shape == x.shape and adv.dtype == x.dtype
        assert float((adv - x).abs().max()) <= eps + 1e-6
        assert float(adv.min()) >= 0 and float(adv.max()) <= 1
        # model untouched: parameters, BN running statistics, requires_grad, .grad, mode
        for k, v in model.state_dict().items():
            assert torch.equal(v, before[k]), k
        assert [p.requires_grad for p in model.parameters()] == flags
        assert torch.equal(model.fc.weight.grad, torch.ones_like(model.fc.weight))
        assert model.conv.bias.grad is None
        assert model.training == train_mode
        # deterministic for a fixed seed
        assert torch.equal(attack(model, x, y), adv)
    finally:
        model.conv.weight.requires_grad_(True)
        model.fc.weight.grad = None
        model.eval()


@pytest.mark.parametrize("name", sorted(FAST))
def test_eps_zero_is_clean(trained, name) -> None:
    model, x, y = trained
    adv = get_attack(name, eps=0.0, **FAST[name])(model, x, y)
    assert torch.equal(adv, x)


def test_registry_and_errors(trained) -> None:
    model, x, y = trained
    assert {"fgsm", "pgd", "apgd-ce", "square", "ensemble"} <= set(available_attacks())
    assert isinstance(get_attack("apgd", eps=0.03), APGD)  # the short name stays an alias
    assert isinstance(get_attack("APGD-CE", eps=0.03), APGD)
    with pytest.raises(ConfigError, match="unknown attack 'foo'"):
        get_attack("foo", eps=0.1)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="epsilon"):
            get_attack("pgd", eps=bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PGD(0.1)(model, x * 255, y)


def test_paper_schedules() -> None:
    # Croce and Hein (2020): p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    # Andriushchenko et al. (2020): p halves at 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of 10k
    assert [p_schedule(0.8, it, 10000) for it in (0, 10, 11, 51, 201, 501, 1001, 2001, 4001, 6001, 8001)] == [
        0.8, 0.8, 0.4, 0.2, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125, 0.0015625
    ]  # fmt: skip
    assert p_schedule(0.8, 6, 5000) == 0.4  # rescaled to the budget


def test_linear_model_closed_form() -> None:
    """For logits (0, w.x + b) the optimal L-inf attack on a point of class 1 is x - eps sign(w)."""
    torch.manual_seed(0)
    lin = nn.Linear(64, 1)
    model = nn.Sequential(nn.Flatten(), lin)
    two = lambda z: torch.cat([torch.zeros_like(z), z], 1)  # noqa: E731
    net = nn.Sequential(model, nn.Module())
    net[1].forward = two  # type: ignore[method-assign]
    eps = 4 / 255
    x = eps + (1 - 2 * eps) * torch.rand(400, 1, 8, 8)  # no clipping at the optimum
    w = lin.weight.detach().flatten()
    score = x.flatten(1) @ w + lin.bias.detach()
    y = (score > 0).long()
    corner = x - eps * torch.sign(w).view(1, 1, 8, 8) * (2 * y - 1).view(-1, 1, 1, 1).float()
    # robust iff the margin exceeds eps * ||w||_1
    robust = score.abs() > eps * w.abs().sum()
    for attack in (FGSM(eps), PGD(eps, steps=10), APGD(eps, steps=20)):
        adv = attack(net, x, y)
        acc = (net(adv).argmax(1) == y).detach()
        assert torch.equal(acc, robust), type(attack).__name__
        # points that stay correct end at the optimal corner
        assert torch.allclose(adv[robust], corner[robust], atol=1e-6), type(attack).__name__
    assert torch.allclose(FGSM(eps)(net, x, y), corner, atol=1e-6)


class ConstantNet(nn.Module):
    """Logits that do not depend on the input (a learnable constant)."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor([0.3, -0.2, 0.1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(x.shape[0], -1)


ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_constant_output_model_has_zero_input_gradient(name: str) -> None:
    """Regression: input gradients raised a RuntimeError when the output ignores the input (an
    NB201 cell of only ``none`` edges). The gradient is zero, so without a random start the attack
    returns the clean images; with one, it stays at its start, inside the ball."""
    from robnas.attacks.base import input_grad
    from robnas.models import build_network

    x, y = _data(8)
    torch.manual_seed(0)
    for model in (ConstantNet(), build_network(ALL_NONE, C=4, N=1, num_classes=3, in_channels=1).eval()):
        for loss in ("ce", "margin"):  # parameters trainable: x is simply not in the graph
            with pytest.warns(MissingGradientWarning, match="does not depend on its input"):
                _, _, g = input_grad(model, x, y, loss)  # zeros, but never silently
            assert torch.equal(g, torch.zeros_like(x))
        clean = get_attack(
            name, eps=8 / 255, **FAST[name], **({"random_start": False} if name == "pgd" else {})
        )
        with pytest.warns(MissingGradientWarning):
            assert torch.equal(clean(model, x, y), x)
        with pytest.warns(MissingGradientWarning):
            started = get_attack(name, eps=8 / 255, random_start=True, **FAST[name])(model, x, y)
        assert float((started - x).abs().max()) <= 8 / 255 + 1e-6
        assert all(p.grad is None for p in model.parameters())


def test_strength_orderings(trained) -> None:
    model, x, y = trained
    eps = 0.08
    clean = _acc(model, x, y)
    fgsm = _acc(model, FGSM(eps)(model, x, y), y)
    pgd = _acc(model, PGD(eps, steps=20)(model, x, y), y)
    pgd2 = _acc(model, PGD(eps, steps=20, restarts=2)(model, x, y), y)
    apgd = _acc(model, APGD(eps, steps=20)(model, x, y), y)
    square = _acc(model, Square(eps, n_queries=300)(model, x, y), y)
    assert clean > 0.75, (clean, fgsm, pgd, pgd2, apgd, square)
    assert pgd <= fgsm, (clean, fgsm, pgd, pgd2, apgd, square)
    assert pgd2 <= pgd  # the second restart only adds adversarial points
    assert apgd <= pgd + 0.01  # same budget of 20 gradient steps
    assert square < clean - 0.2


def test_evaluate_robustness_accounting(trained) -> None:
    model, x, y = trained
    attacks = ["fgsm", ("pgd", {"steps": 10}), ("apgd-ce", {"steps": 10}), ("square", {"n_queries": 100})]
    res = evaluate_robustness(model, (x, y), attacks, [2 / 255, 8 / 255, 20 / 255], batch_size=64)
    assert res.n == x.shape[0]
    assert res.clean_accuracy == pytest.approx(_acc(model, x, y))
    for per in res.accuracy.values():
        for e, a in per.items():
            assert a <= res.clean_accuracy
            assert res.worst_case[e] <= a
    m = res.metrics()
    assert {"clean", "pgd@8", "apgd-ce@20", "square@2", "worst@8"} <= set(m)
    assert {c.name for c in res.checks} == {
        "huge_eps",
        "square_vs_gradient",
        "monotone_eps",
        "zero_gradient",
        "randomized",
        "probability_output",
        "dynamic",
    }
    assert all(c.passed for c in res.checks), res.checks
    json.dumps(res.to_dict())


def test_evaluate_robustness_refuses_nan_and_normalised_images(trained) -> None:
    from robnas.errors import DataError

    model, x, y = trained
    bad = x[:8].clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        evaluate_robustness(model, (bad, y[:8]), ["fgsm"], [2 / 255], checks=False)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        evaluate_robustness(model, ((x[:8] - 0.5) / 0.25, y[:8]), ["fgsm"], [2 / 255], checks=False)


class Masked(nn.Module):
    """A classifier whose input gradient is zero everywhere (quantised input): masked gradients."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x + (torch.round(x * 4) / 4 - x).detach()  # straight-through value, then kill gradient
        return self.inner(q * 0 + q.detach())


def test_checks_flag_gradient_masking(trained) -> None:
    model, x, y = trained
    masked = Masked(model).eval()
    res = evaluate_robustness(
        masked, (x[:100], y[:100]), [("pgd", {"steps": 5}), ("square", {"n_queries": 300})], [0.1]
    )
    checks = {c.name: c for c in res.checks}
    assert not checks["huge_eps"].passed
    assert not checks["square_vs_gradient"].passed
    assert res.masking_suspected


def test_ensemble_is_worst_case(trained) -> None:
    model, x, y = trained
    eps = 0.06
    ens = _acc(
        model,
        get_attack("ensemble", eps=eps, members=(APGD(eps, steps=10), Square(eps, n_queries=100)))(
            model, x, y
        ),
        y,
    )
    a = _acc(model, APGD(eps, steps=10)(model, x, y), y)
    s = _acc(model, Square(eps, n_queries=100)(model, x, y), y)
    assert ens <= min(a, s) + 1e-9


def test_l2_pgd_stays_in_ball(trained) -> None:
    model, x, y = trained
    adv = PGD(0.5, norm="L2", steps=10)(model, x, y)
    assert float((adv - x).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-5
    assert _acc(model, adv, y) < _acc(model, x, y)


def test_cross_check_torchattacks(trained) -> None:
    """Same model and images: PGD and APGD-CE robust accuracy agree with torchattacks within 1 point.

    torchattacks (Kim, 2020) is installed by the test set-up (``pip install --no-deps``: it needs only
    torch, numpy and scipy at import). PGD is compared without a random start, so both libraries take
    the same deterministic steps. APGD always starts from a random point drawn by each library's own
    generator; on 1,000 images that sampling noise stays well inside one point.
    """
    import torchattacks as ta

    model = trained[0]
    x, y = _data(1000, seed=2)
    eps = 0.05
    ours_pgd = _acc(model, PGD(eps, steps=10, step_size=eps / 4, random_start=False)(model, x, y), y)
    their_pgd = _acc(model, ta.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=False)(x, y), y)
    ours_apgd = _acc(model, APGD(eps, steps=50)(model, x, y), y)
    their_apgd = _acc(model, ta.APGD(model, eps=eps, steps=50, loss="ce", n_restarts=1, seed=0)(x, y), y)
    assert abs(ours_pgd - their_pgd) <= 0.01 + 1e-9, (ours_pgd, their_pgd)
    assert abs(ours_apgd - their_apgd) <= 0.01 + 1e-9, (ours_apgd, their_apgd)
    assert _acc(model, x, y) > ours_pgd  # the attacks do something on this model


def test_cli_attack_json_and_errors(capsys, shared_data) -> None:
    from robnas.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["attack", "0", "--dataset", "digits", "--eps", "300", "--n", "8"])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1/255" in err[0]
    with pytest.raises(SystemExit) as exc:
        main(["attack", "0", "--dataset", "digits", "--attacks", "pgd,nope", "--n", "8"])
    assert exc.value.code != 0 and "unknown attack 'nope'" in capsys.readouterr().err
    main(
        ["attack", "0", "--dataset", "digits", "--C", "4", "--N", "1", "--attacks", "fgsm,pgd", "--eps", "2,8",
         "--n", "16", "--corruptions", "fog,contrast", "--severities", "1,5", "--json", "--root", str(shared_data)]
    )  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert set(out["metrics"]) >= {"clean", "fgsm@2", "pgd@8", "worst@8"}
    assert set(out["corruptions"]) == {"fog", "contrast"}
