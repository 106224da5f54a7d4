"""Evidence for robnas.training: objectives, learning, resume, divergence, determinism, CLI."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robnas.attacks import PGD
from robnas.data import load_dataset, train_val_split
from robnas.errors import ConfigError
from robnas.models import DARTSNetwork, build_network
from robnas.spaces.darts import Genotype
from robnas.training import (
    CHECKPOINT,
    DivergenceError,
    TrainPreset,
    get_objective,
    get_preset,
    load_checkpoint,
    lr_factor,
    model_from_checkpoint,
    train,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", "train")
    return train_val_split(ds, val_fraction=0.2, seed=0)


def _net(ds, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    info = ds.info
    return build_network(0, C=8, N=1, num_classes=10, in_channels=1, mean=info.mean, std=info.std)


def test_preset_nasrobbench201_matches_protocol() -> None:
    p = get_preset("nasrobbench201")
    assert (p.objective, p.epochs, p.batch_size, p.lr, p.momentum, p.weight_decay) == (
        "pgd-at",
        50,
        256,
        0.1,
        0.9,
        5e-4,
    )
    assert (p.eps, p.step_size, p.steps, p.schedule, p.C, p.N) == (
        8 / 255,
        2 / 255,
        7,
        "onecycle-torch",
        16,
        5,
    )
    with pytest.raises(ConfigError, match="unknown training preset"):
        get_preset("nope")
    assert lr_factor("onecycle", 0.4) == pytest.approx(1.0) and lr_factor("onecycle", 1.0) == 0.0


def test_beta_extremes_equal_standard_and_pgd_at() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4)).train()
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 4, (16,))
    kw = {"eps": 8 / 255, "step_size": 2 / 255, "steps": 3}
    std = get_objective("standard")(model, x, y, seed=5).loss
    at = get_objective("pgd-at", **kw)(model, x, y, seed=5).loss
    assert torch.equal(get_objective("mixed", beta=0.0, **kw)(model, x, y, seed=5).loss, std)
    assert torch.equal(get_objective("mixed", beta=1.0, **kw)(model, x, y, seed=5).loss, at)
    # PGD-AT is cross-entropy on Madry et al.'s PGD (all steps, last iterate)
    x_adv = PGD(8 / 255, steps=3, step_size=2 / 255, early_stop=False, seed=5)(model, x, y)
    assert torch.allclose(at, F.cross_entropy(model(x_adv), y))
    half = get_objective("mixed", beta=0.5, **kw)(model, x, y, seed=5).loss
    assert torch.allclose(half, 0.5 * std + 0.5 * at)
    assert at > std
    trades = get_objective("trades", eps=8 / 255, step_size=2 / 255, steps=2, beta=6.0)(
        model, x, y, seed=1
    ).loss
    assert trades >= F.cross_entropy(model(x), y) - 1e-6  # CE + beta * KL, KL >= 0
    fgsm = get_objective("fgsm-rs", eps=8 / 255)(model, x, y, seed=1).loss
    assert torch.isfinite(fgsm)
    with pytest.raises(ConfigError, match="beta"):
        get_objective("mixed", beta=1.5)


def test_loss_decreases_and_checkpoint(digits, tmp_path) -> None:
    tr, va = digits
    model = _net(tr)
    hist = train(model, tr, va, "cpu-tiny", seed=0, out_dir=tmp_path, progress=False)
    losses = [e.train_loss for e in hist.epochs]
    assert len(losses) == 3 and losses[-1] < losses[0] - 0.5
    assert hist.epochs[-1].val_acc > 0.5
    ckpt = load_checkpoint(tmp_path)
    assert (
        ckpt["epoch"] == 3 and ckpt["network"]["arch"] == model.arch.string and ckpt["history"]["completed"]
    )
    rebuilt, _ = model_from_checkpoint(tmp_path / "checkpoint.pt")
    x = torch.rand(4, 1, 8, 8)
    model.eval()
    assert torch.equal(rebuilt(x), model(x))
    assert json.loads((tmp_path / "history.json").read_text())["completed"]
    # a completed run is not trained again; a different preset in the same folder is refused
    again = train(_net(tr, seed=1), tr, va, "cpu-tiny", seed=0, out_dir=tmp_path, progress=False)
    assert [e.train_loss for e in again.epochs] == losses
    with pytest.raises(ConfigError, match="another run"):
        train(_net(tr), tr, va, "cpu-tiny-at", seed=0, out_dir=tmp_path, progress=False)


def test_resume_after_interruption_is_identical(digits, tmp_path) -> None:
    tr, va = digits
    preset = get_preset("cpu-tiny-at").replace(steps=2)
    ref_model = _net(tr)
    ref = train(ref_model, tr, None, preset, seed=3, out_dir=tmp_path / "ref", progress=False)

    class Interrupt(Exception):
        pass

    def stop_after_first(rec):
        if rec.epoch == 1:
            raise Interrupt

    model = _net(tr)
    with pytest.raises(Interrupt):
        train(
            model,
            tr,
            None,
            preset,
            seed=3,
            out_dir=tmp_path / "run",
            progress=False,
            callbacks=[stop_after_first],
        )
    assert load_checkpoint(tmp_path / "run")["epoch"] == 1
    resumed_model = _net(tr, seed=99)  # weights come from the checkpoint
    resumed = train(resumed_model, tr, None, preset, seed=3, out_dir=tmp_path / "run", progress=False)
    assert [e.train_loss for e in resumed.epochs] == [e.train_loss for e in ref.epochs]
    for a, b in zip(ref_model.state_dict().values(), resumed_model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_deterministic_without_checkpoints(digits) -> None:
    tr, _ = digits
    p = get_preset("cpu-tiny").replace(epochs=1)
    h1 = train(_net(tr), tr, None, p, seed=1, progress=False)
    h2 = train(_net(tr), tr, None, p, seed=1, progress=False)
    assert h1.epochs[0].train_loss == h2.epochs[0].train_loss


def test_divergence_raises_clear_error(digits, tmp_path) -> None:
    tr, _ = digits
    p = get_preset("cpu-tiny").replace(lr=1e6, epochs=2)
    with pytest.raises(DivergenceError, match=r"training diverged: the loss is .* lower the learning rate"):
        train(_net(tr), tr, None, p, seed=0, out_dir=tmp_path, progress=False)

    class NaNNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.flatten(1)) * float("nan")

    with pytest.raises(DivergenceError, match="nan"):
        train(NaNNet(), tr, None, "cpu-tiny", seed=0, progress=False)


def test_cli_train_then_attack(shared_data, tmp_path, capsys) -> None:
    from robnas.cli.main import main

    out = tmp_path / "run"
    main(["train", "0", "--dataset", "digits", "--preset", "cpu-tiny", "--epochs", "1", "--out", str(out), "--json",
          "--root", str(shared_data)])  # fmt: skip
    hist = json.loads(capsys.readouterr().out)
    assert hist["completed"] and len(hist["epochs"]) == 1
    main(
        [
            "attack",
            str(out),
            "--attacks",
            "fgsm",
            "--eps",
            "8",
            "--n",
            "32",
            "--json",
            "--root",
            str(shared_data),
        ]
    )
    res = json.loads(capsys.readouterr().out)
    assert res["dataset"] == "digits" and res["metrics"]["fgsm@8"] <= res["metrics"]["clean"]
    with pytest.raises(SystemExit) as exc:
        main(["train", "0", "--dataset", "digits", "--preset", "bogus"])
    assert exc.value.code != 0 and "unknown training preset" in capsys.readouterr().err


# ----------------------------------------------------------------------------- DARTS' auxiliary head
AUX_GENOTYPE = Genotype.parse(
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('dil_conv_3x3', 2), "
    "('avg_pool_3x3', 1), ('sep_conv_5x5', 3), ('dil_conv_5x5', 2), ('skip_connect', 4)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), "
    "('avg_pool_3x3', 2), ('dil_conv_3x3', 1), ('max_pool_3x3', 3), ('skip_connect', 4), ('sep_conv_5x5', 0)], "
    "reduce_concat=[2, 3, 4, 5])"
)


def _aux_net(auxiliary: bool = True) -> DARTSNetwork:
    torch.manual_seed(0)
    net = DARTSNetwork(AUX_GENOTYPE, C=2, layers=3, num_classes=10, in_channels=1, auxiliary=auxiliary)
    for m in net.modules():  # frozen BN statistics: eval-mode attacks see the same network every call
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.0
    return net.train()


def test_auxiliary_loss_is_ce_plus_weighted_auxiliary_ce() -> None:
    net = _aux_net()
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    w = 0.4
    ce = F.cross_entropy

    std = get_objective("standard", auxiliary_weight=w)(net, x, y)
    logits = net(x)
    aux = net.auxiliary_logits()
    assert aux is not None
    assert torch.allclose(std.loss, ce(logits, y) + w * ce(aux, y)) and torch.allclose(std.logits, logits)
    assert std.loss > ce(logits, y) + 1e-4  # the auxiliary term is there
    # PGD-AT: on the adversarial forward; the attack's (eval-mode) passes leave no auxiliary logits
    kw = {"eps": 8 / 255, "step_size": 2 / 255, "steps": 2}
    at = get_objective("pgd-at", auxiliary_weight=w, **kw)(net, x, y, seed=3)
    x_adv = PGD(8 / 255, steps=2, step_size=2 / 255, early_stop=False, seed=3)(net, x, y)
    assert net.auxiliary_logits() is None
    logits_adv = net(x_adv)
    aux_adv = net.auxiliary_logits()
    assert aux_adv is not None and not torch.allclose(aux_adv, aux)
    assert torch.allclose(at.loss, ce(logits_adv, y) + w * ce(aux_adv, y))
    # mixed: each cross-entropy term with its own auxiliary term
    half = get_objective("mixed", beta=0.5, auxiliary_weight=w, **kw)(net, x, y, seed=3).loss
    assert torch.allclose(half, 0.5 * std.loss + 0.5 * at.loss)
    # TRADES: on its clean cross-entropy, not in the KL term
    trades = get_objective("trades", eps=8 / 255, step_size=2 / 255, steps=1, beta=6.0, auxiliary_weight=w)
    out = trades(net, x, y, seed=1)
    x_tr = trades.adversarial_examples(net, x, seed=1)
    kl = F.kl_div(F.log_softmax(net(x_tr), 1), F.softmax(logits, 1), reduction="batchmean")
    assert torch.allclose(out.loss, ce(logits, y) + w * ce(aux, y) + 6.0 * kl)
    # weight 0, and a network without the head: plain cross-entropy
    assert torch.allclose(get_objective("standard", auxiliary_weight=0.0)(net, x, y).loss, ce(logits, y))
    plain = _aux_net(auxiliary=False)
    assert torch.allclose(get_objective("standard")(plain, x, y).loss, ce(plain(x), y))


def test_auxiliary_head_learns_only_through_the_auxiliary_loss(digits) -> None:
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    for w in (0.4, 0.0):
        net = _aux_net()
        assert net.auxiliary_head is not None
        get_objective("standard", auxiliary_weight=w)(net, x, y).loss.backward()
        grads = [p.grad for p in net.auxiliary_head.parameters()]
        if w > 0:
            assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
        else:
            assert all(g is None for g in grads)
    # through the loop: the preset's auxiliary_weight reaches the objective
    tr, _ = digits
    small = tr.take(64, seed=0)
    for w in (0.4, 0.0):
        net = _aux_net()
        assert net.auxiliary_head is not None
        before = [p.detach().clone() for p in net.auxiliary_head.parameters()]
        p = get_preset("cpu-tiny").replace(epochs=1, batch_size=32, auxiliary_weight=w)
        hist = train(net, small, None, p, seed=0, progress=False)
        assert hist.preset["auxiliary_weight"] == w
        moved = [not torch.equal(b, a) for b, a in zip(before, net.auxiliary_head.parameters(), strict=True)]
        assert all(moved) if w > 0 else not any(moved)


def test_auxiliary_weight_is_validated_and_old_checkpoints_resume(digits, tmp_path) -> None:
    from robnas.training.checkpoint import read_checkpoint, save_checkpoint

    assert get_preset("nasrobbench201").auxiliary_weight == 0.4
    assert TrainPreset("x", auxiliary_weight="0.5").auxiliary_weight == 0.5  # YAML text
    for bad in (-0.1, float("nan"), "heavy"):
        with pytest.raises(ConfigError, match="auxiliary_weight"):
            TrainPreset("x", auxiliary_weight=bad)
        with pytest.raises(ConfigError, match="auxiliary_weight"):
            get_objective("standard", auxiliary_weight=bad)
    # a checkpoint written before presets had auxiliary_weight still resumes
    tr, _ = digits
    small = tr.take(64, seed=0)
    p = get_preset("cpu-tiny").replace(epochs=1, batch_size=32)
    first = train(_net(small), small, None, p, seed=0, out_dir=tmp_path, progress=False)
    ckpt = read_checkpoint(tmp_path / CHECKPOINT)
    del ckpt["preset"]["auxiliary_weight"]
    save_checkpoint(ckpt, tmp_path / CHECKPOINT)
    again = train(_net(small), small, None, p, seed=0, out_dir=tmp_path, progress=False)
    assert again.completed and [e.train_loss for e in again.epochs] == [e.train_loss for e in first.epochs]
