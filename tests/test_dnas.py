"""robnas.dnas: MGDA solvers, supernets, derivation, methods end to end, resume, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from robnas.data import load_dataset, train_val_split
from robnas.dnas import (
    DARTS_OPS,
    DARTSNetwork,
    Genotype,
    NB201Supernet,
    SearchConfig,
    available_methods,
    derive_darts,
    derive_nb201,
    frank_wolfe,
    min_norm_2,
    min_norm_exact,
    min_norm_weights,
    search,
)
from robnas.dnas.robustness import bounds_available
from robnas.errors import ConfigError
from robnas.models import NB201Network, count_params
from robnas.spaces.nb201 import EDGES, OPS, Arch


# ----------------------------------------------------------------------------- MGDA
def _qp(G: np.ndarray) -> float:
    """Min of ||w G||^2 on the simplex by SLSQP (reference)."""
    k = G.shape[0]
    M = G @ G.T
    res = minimize(
        lambda w: w @ M @ w,
        np.full(k, 1 / k),
        jac=lambda w: 2 * M @ w,
        bounds=[(0, 1)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    return float(res.fun)


def _value(w: torch.Tensor, G: np.ndarray) -> float:
    v = w.numpy() @ G
    return float(v @ v)


@pytest.mark.parametrize("seed", range(5))
def test_min_norm_two_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(2, 20))
    if seed == 0:
        G[1] = 0.5 * G[0]  # one gradient inside the other's direction: a vertex solution
    w = min_norm_2(torch.tensor(G[0]), torch.tensor(G[1]))
    grid = np.linspace(0, 1, 100001)
    fine = np.array([[g, 1 - g] for g in grid])
    brute = float(np.min(np.sum((fine @ G) ** 2, axis=1)))
    assert w.sum().item() == pytest.approx(1.0)
    assert (w >= 0).all()
    assert _value(w, G) <= brute + 1e-9
    assert _value(w, G) == pytest.approx(_qp(G), abs=1e-9)


@pytest.mark.parametrize(("k", "seed"), [(3, 0), (4, 1), (5, 2), (6, 3), (3, 4)])
def test_min_norm_several_matches_qp(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(k, 8)) + (rng.normal(size=8) if seed % 2 else 0)  # correlated when seed odd
    qp = _qp(G)
    exact = min_norm_exact(torch.tensor(G))
    fw = frank_wolfe(torch.tensor(G), max_iter=5000, tol=1e-12)
    assert _value(exact, G) == pytest.approx(qp, rel=1e-6, abs=1e-10)
    assert _value(fw, G) == pytest.approx(qp, rel=1e-3, abs=1e-8)
    assert torch.allclose(min_norm_weights(torch.tensor(G)).sum(), torch.tensor(1.0, dtype=torch.float64))
    # the min-norm direction d is a descent direction of every objective: <d, g_i> >= ||d||^2
    d = exact.numpy() @ G
    assert np.all(G @ d >= d @ d - 1e-8)


# ----------------------------------------------------------------------------- derivation
def test_derive_nb201_hand_set() -> None:
    alpha = torch.zeros(len(EDGES), len(OPS))
    want = ["nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none"]
    for k, name in enumerate(want):
        alpha[k, OPS.index(name)] = 2.0
    alpha[1, OPS.index("nor_conv_1x1")] = 1.0  # runner-up behind none on edge 1
    alpha[5, OPS.index("skip_connect")] = 1.5
    arch = derive_nb201(alpha)
    assert arch == Arch.from_names(dict(zip(EDGES, want, strict=True)))
    no_none = derive_nb201(alpha, exclude_none=True).edges()
    assert no_none[EDGES[1]] == "nor_conv_1x1" and no_none[EDGES[5]] == "skip_connect"


def test_derive_darts_top2_excluding_none() -> None:
    a = torch.full((14, len(DARTS_OPS)), -5.0)
    # node 0 (edges 0, 1): both inputs kept; node 1 (edges 2..4): inputs 0 and 2 win
    picks = {0: "sep_conv_3x3", 1: "skip_connect", 2: "dil_conv_5x5", 3: "max_pool_3x3", 4: "sep_conv_5x5"}
    strength = {0: 1.0, 1: 1.0, 2: 3.0, 3: 0.5, 4: 2.0}
    for e, op in picks.items():
        a[e, DARTS_OPS.index(op)] = strength[e]
    a[3, DARTS_OPS.index("none")] = 10.0  # a strong 'none' never selects its edge
    for e in range(5, 14):
        a[e, DARTS_OPS.index("avg_pool_3x3")] = float(e)
    g = derive_darts(a, a)
    assert g.normal[:4] == (
        ("sep_conv_3x3", 0),
        ("skip_connect", 1),
        ("dil_conv_5x5", 0),
        ("sep_conv_5x5", 2),
    )
    # node 2 (edges 5..8, inputs 0..3): the two largest are inputs 2 and 3
    assert g.normal[4:6] == (("avg_pool_3x3", 2), ("avg_pool_3x3", 3))
    assert Genotype.parse(str(g)) == g
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    net = DARTSNetwork(g, C=4, layers=5, num_classes=10)
    assert net(torch.rand(2, 3, 16, 16)).shape == (2, 10)


AUX_GENOTYPE = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('dil_conv_3x3', 2), "
    "('avg_pool_3x3', 1), ('sep_conv_5x5', 3), ('dil_conv_5x5', 2), ('skip_connect', 4)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), "
    "('avg_pool_3x3', 2), ('dil_conv_3x3', 1), ('max_pool_3x3', 3), ('skip_connect', 4), ('sep_conv_5x5', 0)], "
    "reduce_concat=[2, 3, 4, 5])"
)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("hw", [32, 8])  # 32: DARTS' 8x8 map at the head; 8: a 2x2 map (adaptive pooling)
def test_darts_auxiliary_head_in_training_only_and_not_counted(hw: int) -> None:
    import copy

    from robnas.models import AuxiliaryHead, count_flops

    g = Genotype.parse(AUX_GENOTYPE)
    torch.manual_seed(0)
    plain = DARTSNetwork(g, C=2, layers=5, num_classes=7)
    net = DARTSNetwork(g, C=2, layers=5, num_classes=7, auxiliary=True)
    assert plain.auxiliary_head is None and not any(isinstance(m, AuxiliaryHead) for m in plain.modules())
    assert isinstance(net.auxiliary_head, AuxiliaryHead) and net.auxiliary_position == 2 * 5 // 3
    x = torch.rand(3, 3, hw, hw)
    seen: list[tuple[int, ...]] = []
    net.cells[net.auxiliary_position].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    net.train()
    out = net(x)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 7)
    aux = net.auxiliary_logits()
    assert aux is not None and aux.shape == (3, 7) and aux.requires_grad
    assert net.cells[net.auxiliary_position].reduction and seen[-1][-2:] == ((2, 2) if hw == 8 else (8, 8))
    assert copy.deepcopy(net).auxiliary_logits() is None  # copies do not carry the last logits
    plain.train()
    assert isinstance(plain(x), torch.Tensor) and plain.auxiliary_logits() is None
    net.eval()
    assert net.auxiliary_logits() is None  # cleared by the mode switch
    out = net(x)
    assert isinstance(out, torch.Tensor) and out.shape == (3, 7) and net.auxiliary_logits() is None
    # sizes as DARTS reports them: without the head (it is discarded after training)
    head = sum(p.numel() for p in net.auxiliary_head.parameters())
    assert head > 0 and count_params(net) == count_params(plain)
    assert count_params(net, auxiliary=True) == count_params(plain) + head
    assert count_flops(net, (3, hw, hw)) == count_flops(plain, (3, hw, hw))


def test_expected_params_equals_derived_network_size() -> None:
    sup = NB201Supernet(C=4, N=1, num_classes=10)
    for arch in (
        Arch.from_index(0),
        Arch.parse(Arch.from_names(dict.fromkeys(EDGES, "nor_conv_3x3")).string),
    ):
        w = torch.nn.functional.one_hot(torch.tensor(arch.ops), len(OPS)).float()
        assert float(sup.expected_params([w])) == count_params(NB201Network(arch, C=4, N=1, num_classes=10))


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", "train").take(128, seed=0)
    return train_val_split(ds, val_fraction=0.5, seed=0)


def _cfg(**kw) -> SearchConfig:
    base = dict(space="nb201", dataset="digits", epochs=1, C=4, N=1, batch_size=16, max_steps=2)
    base.update(kw)
    return SearchConfig(**base)


@pytest.mark.parametrize("method", ["darts", "dsrna-jacobian", "e2rnas", "darts-at", "dsrna-cb"])
def test_every_method_runs_nb201(method: str, digits, tmp_path) -> None:
    alpha0 = NB201Supernet(C=4, N=1, num_classes=10, in_channels=1)
    run = search(_cfg(method=method, order="first"), tmp_path, data=digits)
    assert isinstance(run.derived, Arch)
    hist = json.loads((tmp_path / "history.json").read_text())
    assert len(hist) == 1 and len(hist[0]["alpha"][0]) == len(EDGES)
    assert not torch.equal(run.model.alpha.detach(), alpha0.alpha.detach())
    assert json.loads((tmp_path / "result.json").read_text())["arch"] == run.derived.string


@pytest.mark.parametrize("method", ["darts", "e2rnas"])
def test_second_order_and_darts_space(method: str, digits) -> None:
    run = search(_cfg(method=method, order="second", max_steps=1), None, data=digits)
    assert isinstance(run.derived, Arch)
    run = search(_cfg(space="darts", method=method, order="second", max_steps=1), None, data=digits)
    assert isinstance(run.derived, Genotype)


def test_second_order_with_zero_xi_is_first_order(digits) -> None:
    from robnas.dnas import architecture_step, get_method

    torch.manual_seed(0)
    model = NB201Supernet(C=4, N=1, num_classes=10, in_channels=1)
    x, y = digits[0].images[:16].float() / 255, digits[0].labels[:16]
    m = get_method("darts")
    g1, _ = architecture_step(model, m, (x, y), (x, y), order="first", xi=0.0, wd=0.0, seed=0)
    g2, _ = architecture_step(model, m, (x, y), (x, y), order="second", xi=0.0, wd=0.0, seed=0)
    assert torch.allclose(g1[0], g2[0], atol=1e-6)


def test_resume_continues_identically(digits, tmp_path) -> None:
    cfg = _cfg(method="e2rnas", epochs=2, max_steps=2)
    straight = search(cfg, tmp_path / "a", data=digits)

    def stop(epoch: int, epochs: int, step: int, steps: int, rec: dict) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        search(cfg, tmp_path / "b", data=digits, progress=stop)
    resumed = search(cfg, tmp_path / "b", data=digits)
    assert torch.equal(straight.model.alpha, resumed.model.alpha)
    for (n, p), (_, q) in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert torch.equal(p, q), n
    other = _cfg(method="darts", epochs=2, max_steps=2)
    with pytest.raises(ConfigError, match="other settings"):
        search(other, tmp_path / "b", data=digits)


def test_warmup_epochs_train_weights_at_fixed_alpha(digits, tmp_path) -> None:
    cfg = _cfg(method="darts", epochs=2, max_steps=2, warmup_epochs=1)
    run = search(cfg, tmp_path / "w", data=digits)
    first, second = run.history
    assert "upper" not in first and first["warmup"] == 1.0 and "upper" in second
    # alpha did not move in the warm-up epoch, and moved after it
    from robnas.dnas.search import build_model

    alpha0 = build_model(cfg, digits[0].info).alpha.detach()
    assert torch.equal(torch.tensor(first["alpha_raw"][0]), alpha0)
    assert not torch.equal(torch.tensor(second["alpha_raw"]), torch.tensor(first["alpha_raw"]))
    assert first["lower"] > 0  # the weights trained during the warm-up
    assert "warmup_epochs" not in _cfg(method="darts").identity()  # old runs resume unchanged
    for bad in (-1, 2):
        with pytest.raises(ConfigError, match="warmup_epochs"):
            _cfg(method="darts", epochs=2, warmup_epochs=bad)


def test_registry_and_errors() -> None:
    assert set(available_methods()) >= {"darts", "dsrna-cb", "dsrna-jacobian", "e2rnas", "darts-at"}
    with pytest.raises(ConfigError, match="unknown search method"):
        SearchConfig(method="enas")
    with pytest.raises(ConfigError, match="no option"):
        SearchConfig(method="darts", method_options={"gamma": 1.0})
    with pytest.raises(ConfigError, match="search space"):
        SearchConfig(space="nb101")


# ----------------------------------------------------------------------------- certified bound
@pytest.mark.parametrize("method", ["ibp", "crown_ibp"])
def test_certified_bound_is_a_lower_bound_under_pgd(method: str, digits) -> None:
    if not bounds_available():
        pytest.fail("robnas.measures.bounds is missing: dsrna-cb cannot run")
    from robnas.attacks import get_attack, margin
    from robnas.dnas.robustness import certified_margin_bound

    torch.manual_seed(0)
    x, y = digits[1].images[:32].float() / 255, digits[1].labels[:32]
    model = NB201Supernet(C=4, N=1, num_classes=10, in_channels=1)
    model(x)  # running statistics from a batch
    with torch.no_grad():
        model.alpha.normal_()
    model.eval()
    eps = 2 / 255
    bound = certified_margin_bound(model, x, y, eps, method)
    x_adv = get_attack("pgd", eps=eps, steps=20)(model, x, y)
    with torch.no_grad():
        attacked, clean = margin(model(x_adv), y), margin(model(x), y)
    assert torch.all(bound.detach() <= attacked + 1e-5)
    assert torch.all(bound.detach() <= clean + 1e-5)
    exact = certified_margin_bound(model, x, y, 0.0, method).detach()
    assert torch.allclose(exact, clean, atol=1e-5)  # tight without perturbation
    bound.mean().backward()  # differentiable in alpha
    assert model.alpha.grad is not None and float(model.alpha.grad.abs().sum()) > 0


# ----------------------------------------------------------------------------- CLI
def test_cli_search_and_eval(tmp_path, shared_data, capsys) -> None:
    from robnas.cli.main import main

    out = tmp_path / "run"
    main(
        [
            "dnas",
            "search",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--C",
            "4",
            "--batch",
            "32",
            "--n-train",
            "128",
            "--out",
            str(out),
            "--json",
        ]
    )
    res = json.loads(capsys.readouterr().out)
    assert (out / "alphas.png").is_file() and Arch.parse(res["arch"]).index == res["index"]
    main(["dnas", "eval", str(out), "--root", str(shared_data), "--json"])
    ev = json.loads(capsys.readouterr().out)
    assert 0 <= ev["nasrobbench201"]["cifar10/pgd@8"] <= 1 and "cifar10/clean" in ev["jung2023"]
    with pytest.raises(SystemExit) as exc:
        main(["dnas", "search", "--method", "nope", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "unknown search method" in capsys.readouterr().err


@pytest.mark.usefixtures("one_thread")
def test_cli_eval_darts_genotype_with_auxiliary_head(shared_data, cli) -> None:
    common = ["--C", "2", "--layers", "3", "--epochs", "1", "--n-train", "64", "--n-test", "16"]
    code, out, err = cli(
        "dnas", "eval", AUX_GENOTYPE, *common, "--auxiliary", "--auxiliary-weight", "0.3",
        "--device", "cpu", "--root", str(shared_data), "--json",
    )  # fmt: skip
    assert code == 0, err
    res = json.loads(out)
    assert res["settings"]["auxiliary"] is True and res["settings"]["auxiliary_weight"] == 0.3
    assert res["params"] == count_params(DARTSNetwork(Genotype.parse(AUX_GENOTYPE), C=2, layers=3))
    code, _, err = cli(
        "dnas", "eval", AUX_GENOTYPE, *common, "--auxiliary-weight", "-1", "--root", str(shared_data)
    )
    assert code != 0 and "auxiliary_weight" in err
