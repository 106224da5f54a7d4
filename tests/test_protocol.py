"""The nasrobbench201 preset and build settings pin NAS-RobBench-201's protocol (TT2408/nasrobbench201
``main.py``): PGD-7 adversarial training crafted in eval mode, OneCycleLR with PyTorch's defaults
stepped per batch, SGD weight decay 5e-4, batch 256, 50 epochs on the whole training split, and
FGSM / PGD-20 evaluation under metric names that say what ran."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from robnas.attacks import PGD, get_attack
from robnas.data import load_dataset
from robnas.errors import ConfigError
from robnas.runner.config import AttackPlan, BuildConfig, attack_plans, load_config
from robnas.training import default_val_fraction, get_objective, get_preset, make_scheduler, train

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_preset_settings() -> None:
    p = get_preset("nasrobbench201")
    assert (p.objective, p.eps, p.step_size, p.steps) == ("pgd-at", 8 / 255, 2 / 255, 7)
    assert (p.epochs, p.batch_size, p.lr, p.momentum, p.weight_decay, p.nesterov) == (
        50,
        256,
        0.1,
        0.9,
        5e-4,
        False,
    )
    assert (p.schedule, p.augment, p.C, p.N) == ("onecycle-torch", True, 16, 5)
    assert default_val_fraction("nasrobbench201") == 0.0 and default_val_fraction(p) == 0.0
    assert default_val_fraction("cpu-tiny") == 0.1


def _sequence(scheduler_factory, steps: int) -> list[tuple[float, float]]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = scheduler_factory(opt)
    out = []
    for _ in range(steps):
        g = opt.param_groups[0]
        out.append((g["lr"], g["momentum"]))
        opt.step()
        sched.step()
    return out


def test_schedule_is_torch_onecycle_as_the_reference_builds_it() -> None:
    epochs, steps_per_epoch = 3, 7  # the reference: OneCycleLR(opt, 0.1, epochs=E, steps_per_epoch=S)
    ours = _sequence(
        lambda o: make_scheduler(o, get_preset("nasrobbench201").replace(epochs=epochs), epochs * 7), 21
    )
    ref = _sequence(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.1, epochs=epochs, steps_per_epoch=steps_per_epoch),
        21,
    )
    assert ours == ref
    # PyTorch's defaults, as known values: start at max/25 with momentum 0.95, peak at 30% with
    # momentum 0.85, end near max/25/1e4 with momentum 0.95 (cosine in between)
    assert ours[0] == pytest.approx((0.1 / 25, 0.95))
    peak = max(range(21), key=lambda i: ours[i][0])
    assert abs(peak - (0.3 * 21 - 1)) < 1 and ours[peak][1] == pytest.approx(0.85, abs=1e-3)
    assert ours[-1][0] == pytest.approx(0.1 / 25 / 1e4, rel=1e-6) and ours[-1][1] == pytest.approx(0.95)


def test_train_loop_follows_the_schedule_per_batch() -> None:
    ds = load_dataset("digits", "train").take(96, seed=0)
    p = get_preset("nasrobbench201").replace(objective="standard", epochs=2, batch_size=32, C=4, N=1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    hist = train(model, ds, None, p, seed=0, progress=False)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, epochs=2, steps_per_epoch=3)
    after = []
    for _ in range(6):
        opt.step()
        ref.step()
        after.append(ref.get_last_lr()[0])
    sched_after = [after[2], after[5]]  # the epoch records hold the rate after each epoch's last step
    assert [e.lr for e in hist.epochs] == pytest.approx(sched_after, rel=1e-9)


def test_pgd_at_crafts_in_eval_mode_and_updates_in_train_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    )
    model.train()
    x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 3, (8,))
    p = get_preset("nasrobbench201")
    objective = get_objective(p.objective, **p.objective_params())
    bn = model[1]
    before = copy.deepcopy(model)
    out = objective(model, x, y, seed=3)
    assert model.training  # back in train mode for the update
    assert int(bn.num_batches_tracked) == 1  # the 7 attack steps did not touch batch-norm statistics
    before.eval()
    x_adv = PGD(8 / 255, steps=7, step_size=2 / 255, early_stop=False, seed=3)(before, x, y)
    before.train()
    # the loss is the train-mode cross-entropy of the eval-mode PGD-7 examples
    ref = nn.functional.cross_entropy(before(x_adv), y)
    assert torch.allclose(out.loss, ref)


def test_cli_train_holds_out_nothing_for_the_preset(cli, shared_data, tmp_path) -> None:
    run = tmp_path / "run"
    code, out, err = cli(
        "train", "0", "--dataset", "digits", "--preset", "nasrobbench201", "--epochs", "1", "--C", "2",
        "--N", "1", "--out", str(run), "--json", "--root", str(shared_data),
    )  # fmt: skip
    assert code == 0, err
    hist = json.loads(out)
    assert hist["epochs"][0]["val_acc"] is None  # no validation images were held out
    from robnas.training import load_checkpoint

    assert load_checkpoint(run)["meta"]["val_fraction"] == 0.0


def test_attack_settings_and_metric_names() -> None:
    cfg = BuildConfig.from_dict(
        {
            "attacks": {
                "fgsm": [8, 3],
                "pgd": {"eps": [3, 8], "steps": 20},
                "apgd-ce": {"eps": 8, "steps": 50, "restarts": 2},
            }
        }
    )
    plans = {p.name: p for p in attack_plans(cfg.attacks)}
    assert plans["fgsm"] == AttackPlan("fgsm", (3.0, 8.0)) and plans["fgsm"].metric("fgsm", 8) == "fgsm@8"
    assert plans["pgd"].metric("pgd", 8) == "pgd-k20@8" and plans["pgd"].kwargs() == {"steps": 20}
    assert plans["apgd-ce"].metric("apgd-ce", 8) == "apgd-ce-k50-r2@8"
    pgd = get_attack("pgd", 8 / 255, **plans["pgd"].kwargs())
    assert pgd.steps == 20 and pgd.step_size == pytest.approx(2.5 * (8 / 255) / 20)  # the benchmark's PGD-20
    custom = attack_plans(
        BuildConfig.from_dict({"attacks": {"pgd": {"eps": [8], "steps": 7, "step_size": 2}}}).attacks
    )
    assert custom[0].metric("pgd", 8) == "pgd-k7-a2@8" and custom[0].kwargs()["step_size"] == pytest.approx(
        2 / 255
    )
    # the plain form keeps its protocol hash (earlier stores stay valid); settings change it
    plain = BuildConfig.from_dict({"attacks": {"pgd": [8]}})
    assert plain.attacks == {"pgd": (8.0,)}
    assert (
        plain.protocol_hash
        != BuildConfig.from_dict({"attacks": {"pgd": {"eps": [8], "steps": 10}}}).protocol_hash
    )
    for bad, match in (
        ({"pgd": {"eps": [8], "stepz": 20}}, "unknown setting"),
        ({"pgd": {"steps": 20}}, "no epsilons"),
        ({"pgd": {"eps": [8], "steps": 0}}, "at least 1"),
        ({"pgd": {"eps": [8], "step_size": 0.008}}, "units of 1/255"),
    ):
        with pytest.raises(ConfigError, match=match):
            BuildConfig.from_dict({"attacks": bad})


def test_a_setting_the_attack_lacks_is_refused(tmp_path) -> None:
    from robnas.runner.train_attack import check

    cfg = BuildConfig.from_dict({"dataset": "digits", "attacks": {"fgsm": {"eps": [8], "steps": 3}}})
    with pytest.raises(ConfigError, match="no option steps|does not take the setting"):
        check(cfg)


def test_example_runs_the_benchmarks_evaluation() -> None:
    cfg = load_config(EXAMPLES / "build-nasrobbench201.yaml")
    assert cfg.training == {"preset": "nasrobbench201"} and "examples" not in cfg.training
    names = sorted(p.metric(p.name, e) for p in attack_plans(cfg.attacks) for e in p.eps)
    assert names == ["fgsm@3", "fgsm@8", "pgd-k20@3", "pgd-k20@8"]
