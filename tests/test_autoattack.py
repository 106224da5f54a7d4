"""Evidence for AutoAttack in robnas: its components' known values and invariants, the one
evaluation call, the gradient-masking checks, and cross-checks against the reference package
``pyautoattack`` (Croce and Hein's code, in the ``dev`` extra) on one trained model."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robnas.attacks import (
    APGD,
    APGDT,
    FABT,
    AutoAttack,
    MissingGradientWarning,
    evaluate_robustness,
    get_attack,
    p_schedule,
    run_checks,
)
from robnas.attacks.fab import project_hyperplane_box
from robnas.errors import ConfigError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1) == y


class Scaled(nn.Module):
    """Logits times 1e4: the softmax saturates, so cross-entropy gradients vanish (Croce and Hein)."""

    def __init__(self, inner: nn.Module, scale: float = 1e4) -> None:
        super().__init__()
        self.inner, self.scale = inner, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * self.scale


@pytest.fixture(scope="session")
def digits_model(shared_data):
    """A small MLP trained on the real digits data in about a second, and the 359 test images."""
    from robnas.data import load_dataset

    tr = load_dataset("digits", split="train", root=str(shared_data))
    te = load_dataset("digits", split="test", root=str(shared_data))
    xtr, ytr = tr.images.float() / 255, torch.as_tensor(tr.labels).long()
    xte, yte = te.images.float() / 255, torch.as_tensor(te.labels).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        perm = torch.randperm(len(ytr), generator=g)
        for i in range(0, len(ytr), 128):
            b = perm[i : i + 128]
            opt.zero_grad()
            F.cross_entropy(model(xtr[b]), ytr[b]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, xte, yte


# ---------------------------------------------------------------------------- known values


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_hyperplane_box_projection_is_optimal(norm: str) -> None:
    """FAB's projection: feasible, on the hyperplane when reachable, and of minimal norm (L-inf
    compared with a linear program, L2 with SLSQP)."""
    from scipy.optimize import linprog, minimize

    g = torch.Generator().manual_seed(0)
    n, d = 12, 7
    t = torch.rand(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(n, d, generator=g, dtype=torch.float64)
    w[0, :3] = 0  # zero weights are never moved
    b = (w * t).sum(1) + 0.3 * torch.randn(n, generator=g, dtype=torch.float64)
    dd = project_hyperplane_box(t, w, b, norm)
    assert bool(((t + dd) >= -1e-12).all() and ((t + dd) <= 1 + 1e-12).all())
    assert torch.equal(dd[0, :3], torch.zeros(3, dtype=torch.float64))
    for i in range(n):
        ti, wi, need = t[i].numpy(), w[i].numpy(), float(b[i] - (w[i] * t[i]).sum())
        bounds = [(-v, 1 - v) for v in ti]
        if norm == "Linf":
            lp = linprog(
                np.r_[np.zeros(d), 1.0],
                A_ub=np.vstack([np.c_[np.eye(d), -np.ones(d)], np.c_[-np.eye(d), -np.ones(d)]]),
                b_ub=np.zeros(2 * d),
                A_eq=np.r_[wi, 0.0][None],
                b_eq=[need],
                bounds=[*bounds, (0, None)],
            )
            if lp.status != 0:
                continue
            assert float(dd[i].abs().max()) == pytest.approx(lp.fun, abs=1e-9)
        else:
            res = minimize(
                lambda v: float(v @ v),
                np.zeros(d),
                jac=lambda v: 2 * v,
                constraints=[{"type": "eq", "fun": lambda v, wi=wi, need=need: wi @ v - need}],
                bounds=bounds,
                method="SLSQP",
                options={"ftol": 1e-14, "maxiter": 500},
            )
            if not res.success or abs(wi @ res.x - need) > 1e-8:
                continue
            assert float(dd[i].norm()) == pytest.approx(float(np.linalg.norm(res.x)), abs=1e-6)
        assert float((w[i] * (t[i] + dd[i])).sum() - b[i]) == pytest.approx(0, abs=1e-9)


def test_fab_t_finds_the_minimal_distance_of_a_linear_model() -> None:
    """For linear logits the distance to misclassification is ``min_j |f_j| / ||w_j - w_y||_1``
    (box inactive): FAB-T fools every point when eps is 2% above it and none when 2% below."""
    g = torch.Generator().manual_seed(1)
    lin = nn.Linear(16, 5).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(5, 16, generator=g, dtype=torch.float64))
        lin.bias.zero_()
    model = nn.Sequential(nn.Flatten(), lin).float()
    x = 0.45 + 0.1 * torch.rand(40, 16, generator=g)
    with torch.no_grad():
        z = model(x)
    y = z.argmax(1)
    wt = lin.weight.detach().float()
    dist = torch.full((40,), float("inf"))
    for j in range(5):
        f = (z[torch.arange(40), y] - z[:, j]).abs()
        nrm = (wt[j][None] - wt[y]).abs().sum(1)
        dj = torch.where(j == y, torch.full_like(f, float("inf")), f / nrm)
        dist = torch.minimum(dist, dj)
    keep = dist < 0.04  # the box [0, 1] is far away: the formula is exact
    x, y, dist = x[keep][:12], y[keep][:12], dist[keep][:12]
    assert x.shape[0] >= 8
    for i in range(x.shape[0]):
        xi, yi = x[i : i + 1], y[i : i + 1]
        above = FABT(float(dist[i]) * 1.02, steps=5)(model, xi, yi)
        below = FABT(float(dist[i]) * 0.98, steps=5)(model, xi, yi)
        assert not bool(_acc(model, above, yi)), i
        assert bool(_acc(model, below, yi)), i


def test_apgd_t_ignores_the_logit_scale(digits_model) -> None:
    """The targeted DLR loss is invariant to scaling the logits: APGD-T fools the same points on
    the model and on its logits times 1e4, where APGD-CE (zero gradients) is helpless."""
    model, x, y = digits_model
    x, y = x[:120], y[:120]
    eps = 24 / 255
    scaled = Scaled(model)
    plain_t = _acc(model, APGDT(eps, steps=20, n_target_classes=3)(model, x, y), y)
    scaled_t = _acc(scaled, APGDT(eps, steps=20, n_target_classes=3)(scaled, x, y), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaled_ce = _acc(scaled, APGD(eps, steps=20)(scaled, x, y), y)
    assert (plain_t != scaled_t).float().mean() <= 0.02
    assert scaled_t.float().mean() < scaled_ce.float().mean() - 0.2


def test_autoattack_versions_and_accounting(digits_model) -> None:
    model, x, y = digits_model
    x, y = x[:40], y[:40]
    names = lambda a: [m.name for m in a.members]  # noqa: E731
    assert names(get_attack("autoattack", eps=0.1)) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert names(get_attack("autoattack-plus", eps=0.1)) == [
        "apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"
    ]  # fmt: skip
    rand = get_attack("autoattack-rand", eps=0.1)
    assert names(rand) == ["apgd-ce", "apgd-dlr"] and all(m.eot_iter == 20 for m in rand.members)
    sq = get_attack("autoattack", eps=0.1).members[-1]
    assert (sq.n_queries, sq.p_init, sq.rescale_schedule) == (5000, 0.8, False)
    with pytest.raises(ConfigError, match="unknown attack"):
        get_attack("autoattack-strong", eps=0.1)
    aa = AutoAttack(24 / 255)
    adv, after = aa.perturb_with_report(model, x, y)
    steps = [int(v.sum()) for v in after.values()]
    assert steps == sorted(steps, reverse=True)  # later components only remove points
    assert torch.equal(after["square"], _acc(model, adv, y))
    # the first component sees the same points and seed as APGD-CE alone
    assert torch.equal(after["apgd-ce"], _acc(model, APGD(24 / 255)(model, x, y), y))
    assert float((adv - x).abs().max()) <= 24 / 255 + 1e-6


def test_l2_autoattack(digits_model) -> None:
    """L2: every component stays in the L2 ball; Square comes from the reference package."""
    from robnas.attacks.autoattack import _ReferenceSquareL2

    model, x, y = digits_model
    x, y = x[:16], y[:16]
    aa = get_attack("autoattack", eps=1.0, norm="L2")
    assert [type(m).__name__ for m in aa.members] == ["APGD", "APGDT", "FABT", "_ReferenceSquareL2"]
    for attack in [*aa.members[:3], _ReferenceSquareL2(1.0, n_queries=100, norm="L2")]:
        adv = attack(model, x, y)
        assert float((adv - x).flatten(1).norm(dim=1).max()) <= 1.0 + 1e-5, attack
        assert float(_acc(model, adv, y).float().mean()) < float(_acc(model, x, y).float().mean())
    res = evaluate_robustness(model, (x, y), {"fab-t": {"eps": [255], "norm": "L2"}}, checks=False)
    assert set(res.metrics()) == {"clean", "fab-t-l2@255", "worst@255"}


def test_paper_schedules_autoattack() -> None:
    # AutoAttack runs Square's 10,000-query schedule unchanged for 5,000 queries (resc_schedule=False)
    assert p_schedule(0.8, 6, 5000, rescale=False) == 0.8
    assert p_schedule(0.8, 4999, 5000, rescale=False) == 0.8 / 128
    assert p_schedule(0.8, 4999, 5000) == 0.8 / 512  # the rescaled schedule reaches its end


# ---------------------------------------------------------------------------- the evaluation call


def test_evaluation_call_mapping_form(digits_model) -> None:
    model, x, y = digits_model
    x, y = x[:60], y[:60]
    res = evaluate_robustness(model, (x, y), {"pgd": [4, 24], "fgsm": [24]}, batch_size=25)
    m = res.metrics()
    assert {"clean", "pgd@4", "pgd@24", "fgsm@24", "worst@4", "worst@24"} <= set(m)
    assert "fgsm@4" not in m
    assert m["worst@4"] == m["pgd@4"]  # one attack at 4/255
    # per-image worst case: recompute it from the two attacks' adversarial examples
    pgd = _acc(model, get_attack("pgd", eps=24 / 255)(model, x, y), y)
    fgsm = _acc(model, get_attack("fgsm", eps=24 / 255)(model, x, y), y)
    assert m["worst@24"] == pytest.approx(float((pgd & fgsm).float().mean()))
    assert m["worst@24"] <= min(m["pgd@24"], m["fgsm@24"])
    assert all(f"masking-{c.name}" in m for c in res.checks)
    with pytest.raises(ConfigError, match="1/255"):
        evaluate_robustness(model, (x, y), {"pgd": [0.03]} | {"fgsm": [300]})
    with pytest.raises(ConfigError, match="not both"):
        evaluate_robustness(model, (x, y), {"pgd": [8]}, [8 / 255])
    with pytest.raises(ConfigError, match="unknown attack"):
        evaluate_robustness(model, (x, y), {"pgdd": [8]})
    res2 = evaluate_robustness(model, (x, y), {"pgd": {"eps": [24], "steps": 3}}, checks=False)
    assert res2.provenance["attacks"]["pgd@24"]["steps"] == 3


def test_evaluation_call_reports_autoattack_components(digits_model) -> None:
    model, x, y = digits_model
    res = evaluate_robustness(model, (x[:20], y[:20]), {"autoattack": [64]}, checks=False)
    comp = res.components["autoattack"][64 / 255]
    assert list(comp) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert comp["square"] == res.accuracy["autoattack"][64 / 255] == res.metrics()["autoattack@64"]
    assert res.to_dict()["components"]["autoattack"]["64"] == comp


# ---------------------------------------------------------------------------- masking checks


class Noisy(nn.Module):
    """Randomised at test time: dropout that stays on in eval mode."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(F.dropout(x, 0.3, training=True))


class Softmaxed(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x).softmax(1)


class Dynamic(nn.Module):
    """A test-time optimisation defence: one gradient step on the input inside forward."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.inner(xr).logsumexp(1).sum(), xr)
        return self.inner(x + 0.0 * g)


def _checks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attacks=("pgd",)) -> dict[str, bool]:
    res = evaluate_robustness(model, (x, y), {a: [24] for a in attacks}, checks=False)
    ok = _acc(model, x, y) if not isinstance(model, Noisy) else torch.ones_like(y, dtype=torch.bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingGradientWarning)
        checks = run_checks(model, res, x[ok], y[ok], attacks=list(attacks))
    return {c.name: c.passed for c in checks}


@pytest.mark.parametrize(
    ("wrap", "flagged"),
    [
        (lambda m: m, None),
        (Scaled, "zero_gradient"),
        (Noisy, "randomized"),
        (Softmaxed, "probability_output"),
        (Dynamic, "dynamic"),
    ],
)
def test_masking_checks_flag_their_symptom(digits_model, wrap, flagged) -> None:
    model, x, y = digits_model
    got = _checks(wrap(model).eval(), x[:50], y[:50], attacks=("fgsm",))
    for name in ("zero_gradient", "randomized", "probability_output", "dynamic"):
        assert got[name] == (name != flagged), (name, got)


def test_class_count_check() -> None:
    torch.manual_seed(0)
    three = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x = torch.rand(20, 1, 4, 4)
    y = _acc(three, x, torch.zeros(20, dtype=torch.long)).long() * 0 + three(x).argmax(1)
    res = evaluate_robustness(three, (x, y), {"fgsm": [8]}, checks=False)
    got = {c.name: c for c in run_checks(three, res, x, y, attacks=["autoattack"])}
    assert not got["class_count"].passed and "4 classes" in got["class_count"].message
    got = {c.name: c for c in run_checks(three, res, x, y, attacks=["pgd"])}
    assert "class_count" not in got


def test_square_check_uses_autoattack_threshold() -> None:
    """Square lowering AutoAttack's accuracy by more than 0.2 points is flagged (reference threshold)."""
    from robnas.attacks.evaluate import RobustnessResult

    e = 8 / 255

    def result(square: float) -> RobustnessResult:
        return RobustnessResult(
            n=1000,
            clean_accuracy=0.9,
            accuracy={"autoattack": {e: square}, "pgd": {e: 0.5}, "square": {e: 0.5}},
            worst_case={e: square},
            components={"autoattack": {e: {"apgd-ce": 0.5, "apgd-t": 0.45, "fab-t": 0.45, "square": square}}},
        )

    empty = torch.empty(0, 1, 2, 2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 4))
    ok = {c.name: c.passed for c in run_checks(model, result(0.449), empty, torch.empty(0).long())}
    bad = {c.name: c.passed for c in run_checks(model, result(0.447), empty, torch.empty(0).long())}
    assert ok["square_vs_gradient"] and not bad["square_vs_gradient"]


# ---------------------------------------------------------------------------- the reference


def _reference(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str, eps: float) -> torch.Tensor:
    from pyautoattack import AutoAttack as RefAutoAttack
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
    from pyautoattack.square import SquareAttack

    kw = {"eps": eps, "norm": "Linf", "seed": 0, "device": "cpu"}
    if name == "apgd-ce":
        adv = APGDAttack(model, n_iter=100, n_restarts=1, **kw).perturb(x, y)
    elif name == "apgd-t":
        adv = APGDAttack_targeted(model, n_iter=100, n_restarts=1, n_target_classes=9, **kw).perturb(x, y)
    elif name == "square":
        adv = SquareAttack(
            model, p_init=0.8, n_queries=5000, n_restarts=1, resc_schedule=False, **kw
        ).perturb(x, y)
    else:
        logging.getLogger("auto-attack").disabled = True
        adv, _ = RefAutoAttack(model, version="standard", **kw).run_standard_evaluation(x, y, batch_size=500)
    return _acc(model, adv, y)


CROSS = [("plain", n) for n in ("apgd-ce", "apgd-t", "square", "autoattack")] + [
    ("scaled", n) for n in ("apgd-ce", "apgd-t", "autoattack")
]


@pytest.mark.parametrize(("which", "name"), CROSS)
def test_cross_check_reference_autoattack(digits_model, which: str, name: str) -> None:
    """Same model, same 359 real digits images, eps 24/255: robnas's robust accuracy is at most the
    reference's plus 0.5 points (both are randomised, so per-image agreement is reported, not
    required). The scaled model (logits x 1e4) defeats the cross-entropy but not APGD-T's DLR loss."""
    model, x, y = digits_model
    if which == "scaled":
        model = Scaled(model)
    eps = 24 / 255
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _reference(model, x, y, name, eps)
        ours = _acc(model, get_attack(name, eps=eps)(model, x, y), y)
    r, o = float(ref.float().mean()), float(ours.float().mean())
    agree = float((ref == ours).float().mean())
    print(f"{which} {name}: reference {r:.2%}, robnas {o:.2%}, per-image agreement {agree:.1%}")
    assert o <= r + 0.005, (o, r)
    assert r < float(_acc(model, x, y).float().mean())  # the attack does something here


def test_cli_attack_autoattack_json(cli, shared_data, monkeypatch) -> None:
    """The command line reports autoattack@8 (budgets cut here: this tests the plumbing)."""
    from robnas.attacks import autoattack

    small = [("apgd-ce", {"steps": 5}), ("apgd-t", {"steps": 5, "n_target_classes": 2}),
             ("fab-t", {"steps": 5, "n_target_classes": 2}), ("square", {"n_queries": 50})]  # fmt: skip
    monkeypatch.setattr(autoattack, "components", lambda version, norm: small)
    code, out, err = cli(
        "attack", "0", "--dataset", "digits", "--C", "4", "--N", "1", "--attacks", "autoattack",
        "--eps", "8", "--n", "24", "--json", "--root", str(shared_data),
    )  # fmt: skip
    assert code == 0, err
    import json

    res = json.loads(out)
    assert {"clean", "autoattack@8", "worst@8"} <= set(res["metrics"])
    assert res["metrics"]["autoattack@8"] == res["components"]["autoattack"]["8"]["square"]
    assert res["metrics"]["autoattack@8"] <= res["metrics"]["clean"]
    code, out, err = cli("attack", "0", "--dataset", "digits", "--attacks", "pgd,PGD", "--n", "4")
    assert code != 0 and "listed twice" in err
