"""Measures of trained networks (BatchNorm ``as-is``, checkpoints), the one-pass NTK kernels,
the exact Gauss-Newton Hessian, Wu et al.'s NTK defaults and the ``measure`` job kind.

Tiny networks (C=4, N=1) and batches; the job-kind test uses the bundled ``digits`` dataset.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from robnas.errors import ConfigError, DataError
from robnas.measures import (
    compute_measures,
    load_trained,
    measure_trained,
    per_sample_grads,
)
from robnas.measures.hessian import hessian_top_eigenvalue
from robnas.measures.ntk import gram_matrix, ntk_adv, ntk_mixed, ntk_mixed_robust
from robnas.measures.registry import INIT_STRIDE, MeasureContext, calibrate_bn
from robnas.models import build_network
from robnas.training.checkpoint import save_checkpoint as seal
from robnas.training.loop import FORMAT, network_config

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny(arch: str = ARCH, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_network(arch, C=4, N=1, num_classes=5, mean=MEAN, std=STD)


def batch(n: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 3, 8, 8), generator=g), torch.randint(0, 5, (n,), generator=g)


def trained_net() -> nn.Module:
    """A network after a few SGD steps in train mode: weights and BN statistics of its own."""
    net = tiny()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    for step in range(5):
        x, y = batch(16, seed=100 + step)
        opt.zero_grad()
        nn.functional.cross_entropy(net(x * 0.5 + 0.3), y).backward()
        opt.step()
    return net.eval()


def save_checkpoint(net: nn.Module, path) -> None:
    seal({"format": FORMAT, "model": net.state_dict(), "network": network_config(net), "epoch": 1}, path)


def test_trained_checkpoint_jacobian_equals_direct_computation_with_its_own_statistics(tmp_path) -> None:
    net = trained_net()
    save_checkpoint(net, tmp_path / "checkpoint.pt")
    x, y = batch()
    # the direct computation: the network as trained (eval mode, its running statistics)
    direct = []
    for i in range(x.shape[0]):
        jac = torch.autograd.functional.jacobian(lambda v: net(v.unsqueeze(0))[0], x[i])
        direct.append(float(jac.flatten().norm()))
    want = sum(direct) / len(direct)
    got = measure_trained(["jacobian"], tmp_path, x, y)["jacobian"]
    assert math.isclose(got, want, rel_tol=1e-5)
    # the same through the Python API on the module, and the checkpoint loads with its statistics
    assert math.isclose(compute_measures(["jacobian"], net, x, y, bn="as-is")["jacobian"], want, rel_tol=1e-5)
    loaded, _ = load_trained(tmp_path)
    for (k, a), b in zip(net.state_dict().items(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)
    # calibrating on the measuring batch (the mode for networks at initialisation) is another value
    calibrated = compute_measures(["jacobian"], net, x, y)["jacobian"]
    assert not math.isclose(calibrated, want, rel_tol=1e-2)


def test_trained_measures_hessian_and_ntk_score_the_one_network(tmp_path) -> None:
    net = trained_net()
    x, y = batch()
    vals = measure_trained(["hessian", "ntk"], net, x, y)
    g = per_sample_grads(net, x)
    lmin = float(torch.linalg.eigvalsh((g @ g.T).double())[0])
    assert math.isclose(vals["ntk.lmin"], lmin, rel_tol=1e-4)
    power, _ = hessian_top_eigenvalue(net, x, y, max_iter=300, tol=1e-8)
    assert math.isclose(vals["hessian"], float(power.mean()), rel_tol=1e-4)


def test_checkpoints_load_only_plain_data(tmp_path) -> None:
    class Evil:
        def __reduce__(self):  # would run on unpickling without weights_only
            return (print, ("executed",))

    torch.save({"format": FORMAT, "payload": Evil()}, tmp_path / "checkpoint.pt")
    with pytest.raises(DataError, match="nothing in it was run"):
        load_trained(tmp_path)
    with pytest.raises(DataError, match="no checkpoint"):
        load_trained(tmp_path / "missing")
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(DataError, match="not a robnas checkpoint"):
        load_trained(tmp_path / "x.pt")


# ------------------------------------------------------------------ NTK


@pytest.mark.parametrize("arch", [ARCH, NONE])
def test_per_layer_kernels_equal_per_sample_gradients(arch: str) -> None:
    x, _ = batch()
    net = calibrate_bn(tiny(arch).double(), x.double())
    x = x.double()
    g = per_sample_grads(net, x)
    want = g @ g.T
    tol = 1e-10 * float(want.abs().max())
    torch.testing.assert_close(gram_matrix(net, x, "sum"), want, atol=tol, rtol=1e-9)
    for chunk in (64, 4):
        got = gram_matrix(net, x, "sum", chunk=chunk, method="layers")
        torch.testing.assert_close(got, want, atol=tol, rtol=1e-9)
    full = gram_matrix(net, x, "full")  # rows (sample, logit)
    n, c = x.shape[0], 5
    blocks = full.reshape(n, c, n, c)
    torch.testing.assert_close(blocks.sum((1, 3)), want, atol=tol, rtol=1e-9)
    trace = gram_matrix(net, x, "trace")
    torch.testing.assert_close(trace, blocks.diagonal(dim1=1, dim2=3).sum(-1), atol=tol, rtol=1e-9)
    with pytest.raises(ConfigError, match="reduction"):
        gram_matrix(net, x, "mean")
    with pytest.raises(ConfigError, match="method='layers'"):
        gram_matrix(net, x, "trace", method="vmap")


def test_ntk_defaults_are_wu_et_al_protocol() -> None:
    for fn in (ntk_adv, ntk_mixed, ntk_mixed_robust):
        p = inspect.signature(fn).parameters
        assert p["attack"].default == "pgd" and p["eps"].default == 8 / 255
        assert p["n_init"].default >= 3 and p["reduction"].default == "sum"
    assert inspect.signature(ntk_mixed).parameters["beta"].default == 1.0
    from robnas.measures.ntk import PGD_STEPS

    assert PGD_STEPS == 7


def test_ntk_scores_are_means_over_disjoint_initialisations() -> None:
    x, y = batch()

    def factory() -> nn.Module:
        return build_network(ARCH, C=4, N=1, num_classes=5, mean=MEAN, std=STD)

    two = compute_measures(["ntk"], factory, x, y, seed=3, options={"ntk": {"n_init": 2}})
    a = compute_measures(["ntk"], factory, x, y, seed=3, options={"ntk": {"n_init": 1}})
    b = compute_measures(["ntk"], factory, x, y, seed=3 + INIT_STRIDE, options={"ntk": {"n_init": 1}})
    assert math.isclose(two["ntk.lmin"], (a["ntk.lmin"] + b["ntk.lmin"]) / 2, rel_tol=1e-6)
    ctx0 = MeasureContext(factory(), x, y, nn.functional.cross_entropy, seed=0)
    ctx1 = MeasureContext(factory(), x, y, nn.functional.cross_entropy, seed=1)
    assert not {ctx0.init_seed(i) for i in range(5)} & {ctx1.init_seed(i) for i in range(5)}
    with pytest.raises(ConfigError, match="n_init"):
        compute_measures(["ntk"], factory, x, y, options={"ntk": {"n_init": 0}})


def test_ntk_kernels_same_in_both_memory_layouts() -> None:
    from robnas.measures.ntk import ntk_kernels

    x, y = batch()
    blocks = {}
    for layout in ("channels_last", "contiguous"):
        torch.manual_seed(0)
        net = calibrate_bn(tiny(), x)
        ctx = MeasureContext(net, x, y, nn.functional.cross_entropy, seed=0)
        blocks[layout] = ntk_kernels(ctx, n_init=1, layout=layout)[0]
    for key, k in blocks["contiguous"].items():
        assert torch.allclose(blocks["channels_last"][key], k, rtol=1e-4, atol=1e-6 * float(k.abs().max())), (
            key
        )
    with pytest.raises(ConfigError, match="memory layout"):
        ntk_kernels(ctx, n_init=1, layout="nhwc")


# ------------------------------------------------------------------ Hessian


@pytest.mark.parametrize("arch", [ARCH, NONE])
def test_gauss_newton_hessian_equals_power_iteration(arch: str) -> None:
    x, y = batch()
    exact = compute_measures(["hessian"], lambda: tiny(arch).double(), x.double(), y)
    power = compute_measures(
        ["hessian"],
        lambda: tiny(arch).double(),
        x.double(),
        y,
        options={"hessian": {"method": "power", "max_iter": 500, "tol": 1e-10}},
    )
    assert math.isclose(exact["hessian"], power["hessian"], rel_tol=1e-6, abs_tol=1e-12)


def test_hessian_of_a_smooth_network_falls_back_to_power_iteration() -> None:
    from robnas.measures.hessian import piecewise_linear

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.Tanh(), nn.Linear(16, 5))
    assert not piecewise_linear(net) and piecewise_linear(tiny().eval())
    x, y = batch()
    default = compute_measures(["hessian"], net, x, y)["hessian"]
    power = compute_measures(["hessian"], net, x, y, options={"hessian": {"method": "power"}})["hessian"]
    assert default == power
    with pytest.raises(ConfigError, match="gauss-newton or power"):
        compute_measures(["hessian"], net, x, y, options={"hessian": {"method": "lanczos"}})


# ------------------------------------------------------------------ the measure job kind


def test_measure_job_kind_builds_resumes_and_names_metrics(tmp_path) -> None:
    from robnas.runner import build
    from robnas.store import ResultStore

    config = {
        "kind": "measure",
        "architectures": [ARCH, NONE],
        "dataset": "digits",
        "model": {"C": 4, "N": 1},
        "seeds": [0, 1],
        "measures": ["params", "jacobian", "hessian", "ntk"],
        "eval": {"measure_batch": 8},
        "output": str(tmp_path / "m.sqlite"),
    }
    report = build(config, workers=1, progress=False)
    assert report.done == 4 and report.failed == 0
    again = build(config, workers=1, progress=False)
    assert again.done == 0  # resumed: nothing left to do
    store = ResultStore(tmp_path / "m.sqlite", readonly=True)
    names = set(store.metrics())
    assert {"digits/init.jacobian", "digits/init.hessian", "digits/init.ntk.lmin", "digits/params"} <= names
    assert "digits/jacobian" not in names  # nothing was trained
    with pytest.raises(ConfigError, match="no attacks"):
        build({**config, "attacks": {"pgd": [8]}}, workers=1, progress=False)
    with pytest.raises(ConfigError, match="unknown measure"):
        build({**config, "measures": ["jacobain"]}, workers=1, progress=False)


def test_measure_job_kind_applies_and_checks_measure_options(tmp_path) -> None:
    from robnas.measures import measure_batch
    from robnas.runner import build
    from robnas.store import ResultStore

    config = {
        "kind": "measure",
        "architectures": [ARCH],
        "dataset": "digits",
        "model": {"C": 4, "N": 1},
        "measures": ["ntk"],
        "measure_options": {"ntk": {"n_init": 1}},
        "eval": {"measure_batch": 8},
        "output": str(tmp_path / "m.sqlite"),
    }
    report = build(config, workers=1, progress=False)
    assert report.done == 1 and report.failed == 0
    store = ResultStore(tmp_path / "m.sqlite", readonly=True)
    got = store.query("digits/init.ntk.lmin")["value"].item()
    store.close()
    x, y, info = measure_batch("digits", 8, 0)
    make = lambda: build_network(ARCH, C=4, N=1, **info.model_kwargs())  # noqa: E731
    one = compute_measures(["ntk"], make, x, y, options={"ntk": {"n_init": 1}})["ntk.lmin"]
    three = compute_measures(["ntk"], make, x, y)["ntk.lmin"]
    assert got == pytest.approx(one, rel=1e-5) and one != pytest.approx(three, rel=1e-5)
    for options, message in [
        ({"hessian": {"max_iter": 2}}, "options given for measure hessian, which is not computed"),
        ({"ntk": {"nope": 1}}, "measure ntk has no option nope"),
    ]:
        with pytest.raises(ConfigError, match=f"measure_options: .*{message}"):
            build({**config, "measure_options": options}, workers=1, progress=False)
