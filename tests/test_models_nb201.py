"""NAS-Bench-201 operations and networks: shapes, semantics, parameter and FLOPs counts."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
import torch
from torch import nn

from robnas.models import (
    OPERATIONS,
    NB201Network,
    Normalize,
    ResidualBlock,
    build_network,
    count_flops,
    count_params,
    make_op,
    nb201_flops,
    nb201_param_count,
)
from robnas.models.nb201 import NB201Cell
from robnas.spaces.nb201 import OPS, Arch, sample

EXAMPLE_6111 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
DEAD_OUTPUT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|none~2|"
# node 2 cannot reach the output (edge 2->3 is none) but carries convolutions
DEAD_NODE = "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def zc(shared_data):
    """NASLib's zero-cost scores, ``{dataset: {naslib key: {measure: {score, time}}}}``."""
    with open(shared_data / "zero-cost" / "zc_nasbench201.json") as f:
        return json.load(f)


# ---------------------------------------------------------------------------- operations
def test_registry_has_the_five_operations_in_nb201_order() -> None:
    assert tuple(OPERATIONS) == OPS


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize(("c_in", "c_out", "stride"), [(4, 4, 1), (4, 6, 1), (4, 8, 2), (3, 6, 2)])
def test_operations_shapes(name: str, c_in: int, c_out: int, stride: int) -> None:
    op = make_op(name, c_in, c_out, stride)
    for size in (8, 7):
        y = op(torch.randn(2, c_in, size, size))
        out = -(-size // stride)
        assert y.shape == (2, c_out, out, out), (name, c_in, c_out, stride, size)


def test_operation_semantics() -> None:
    x = torch.randn(2, 4, 6, 6)
    assert torch.equal(make_op("skip_connect", 4, 4, 1)(x), x)
    assert torch.count_nonzero(make_op("none", 4, 4, 1)(x)) == 0
    pool = make_op("avg_pool_3x3", 4, 4, 1)
    # count_include_pad=False: a constant image stays constant, borders included
    assert torch.allclose(pool(torch.ones(1, 4, 5, 5)), torch.ones(1, 4, 5, 5))
    conv = make_op("nor_conv_3x3", 4, 4, 1)
    assert [type(m) for m in conv.op] == [nn.ReLU, nn.Conv2d, nn.BatchNorm2d]
    assert conv.op[1].bias is None and conv.op[1].kernel_size == (3, 3)
    assert make_op("nor_conv_1x1", 4, 4, 1).op[1].kernel_size == (1, 1)
    bn = make_op("nor_conv_3x3", 4, 4, 1, affine=False, track_running_stats=False).op[2]
    assert not bn.affine and not bn.track_running_stats


def test_unknown_operation_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="unknown operation 'conv_5x5'.*nor_conv_3x3"):
        make_op("conv_5x5", 4, 4, 1)


def test_residual_block_matches_nb201_layout() -> None:
    block = ResidualBlock(4, 8, 2)
    # conv_a 3x3 (4->8) + BN, conv_b 3x3 (8->8) + BN, shortcut conv 1x1 (4->8)
    assert count_params(block) == 9 * 4 * 8 + 16 + 9 * 8 * 8 + 16 + 4 * 8
    for size, out in ((8, 4), (4, 2), (2, 1), (7, 4), (1, 1)):
        assert block(torch.randn(2, 4, size, size)).shape == (2, 8, out, out)


def test_normalize() -> None:
    norm = Normalize([0.5, 0.25], [0.5, 2.0])
    x = torch.rand(3, 2, 4, 4)
    expected = torch.stack([(x[:, 0] - 0.5) / 0.5, (x[:, 1] - 0.25) / 2.0], dim=1)
    assert torch.allclose(norm(x), expected)
    assert count_params(norm) == 0 and "mean" in norm.state_dict()
    with pytest.raises(ValueError, match="positive"):
        Normalize([0.0], [0.0])
    with pytest.raises(ValueError, match="same length"):
        Normalize([0.0, 0.0], [1.0])


# ---------------------------------------------------------------------------- network
@pytest.mark.parametrize(
    ("arch", "C", "N", "classes", "in_ch", "size"),
    [
        (EXAMPLE_6111, 4, 1, 10, 3, 32),
        (0, 4, 1, 100, 3, 16),
        (ALL_CONV, 2, 2, 7, 1, 28),
        (DEAD_NODE, 4, 1, 10, 1, 8),  # digits: 8x8 grayscale -> 4 -> 2
        ("|skip_connect~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|", 3, 1, 10, 1, 8),
        (15624, 4, 0, 3, 3, 5),
        (1234, 4, 1, 10, 3, 1),
    ],
)
def test_forward_shapes(arch, C: int, N: int, classes: int, in_ch: int, size: int) -> None:
    model = NB201Network(arch, C=C, N=N, num_classes=classes, in_channels=in_ch)
    for mode in (model.train, model.eval):
        mode()
        y = model(torch.rand(2, in_ch, size, size))
        assert y.shape == (2, classes) and torch.isfinite(y).all()


def test_layout_and_arch_spellings() -> None:
    model = build_network(6111, C=4, N=2)
    assert model.arch == Arch.from_string(EXAMPLE_6111)
    assert NB201Network(EXAMPLE_6111, C=4, N=2).arch == model.arch
    kinds = [type(m).__name__ for m in model.cells]
    assert (
        kinds
        == ["NB201Cell"] * 2 + ["ResidualBlock"] + ["NB201Cell"] * 2 + ["ResidualBlock"] + ["NB201Cell"] * 2
    )
    assert model.classifier.in_features == 16 and model.stem[0].out_channels == 4
    with pytest.raises(ValueError, match="unknown operation"):
        NB201Network("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="out of range"):
        NB201Network(15625)


def test_normalisation_is_the_first_layer() -> None:
    mean, std = [0.2, 0.4, 0.6], [0.5, 0.25, 0.125]
    torch.manual_seed(0)
    plain = NB201Network(6111, C=4, N=1)
    torch.manual_seed(0)
    normed = NB201Network(6111, C=4, N=1, mean=mean, std=std)
    assert count_params(plain) == count_params(normed)
    plain.eval(), normed.eval()
    x = torch.rand(2, 3, 8, 8)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(normed(x), plain((x - m) / s), atol=1e-6)
    assert not torch.allclose(normed(x), plain(x))
    with pytest.raises(ValueError, match="one value per input channel"):
        NB201Network(0, C=4, N=1, in_channels=1, mean=mean, std=std)
    with pytest.raises(ValueError, match="both mean and std"):
        NB201Network(0, C=4, N=1, mean=mean)


def test_none_only_output_gives_the_classifier_bias() -> None:
    model = NB201Network(DEAD_OUTPUT, C=4, N=2, num_classes=5)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.arange(5.0))
    for mode in (model.train, model.eval):
        mode()
        y = model(torch.rand(3, 3, 8, 8))
        assert torch.equal(y, torch.arange(5.0).expand(3, 5))


def test_pruned_forward_equals_full_forward() -> None:
    """Skipping none edges and edges that cannot reach the output does not change the function."""
    for arch in [Arch.from_string(DEAD_NODE), Arch.from_string(EXAMPLE_6111), *sample(6, seed=3)]:
        torch.manual_seed(0)
        model = NB201Network(arch, C=4, N=1)
        # non-trivial BN statistics and shifts
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
        model.eval()
        x = torch.rand(2, 3, 8, 8)
        with torch.no_grad():
            pruned = model(x)
            for cell in model.modules():
                if isinstance(cell, NB201Cell):
                    cell.prune = False
            full = model(x)
        assert torch.allclose(pruned, full, atol=1e-6), arch.string


def test_deterministic_for_a_fixed_seed() -> None:
    x = torch.rand(2, 3, 8, 8)
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = NB201Network(6111, C=4, N=1)
        model.eval()
        outs.append(model(x))
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(124)
    other = NB201Network(6111, C=4, N=1).eval()
    assert not torch.equal(outs[0], other(x))


def test_every_edge_is_instantiated() -> None:
    """Like NAS-Bench-201, dead edges keep their parameters (they count in the size)."""
    dead = NB201Network(DEAD_NODE, C=4, N=1)
    alive = NB201Network(DEAD_NODE.replace("none~2", "skip_connect~2"), C=4, N=1)
    assert count_params(dead) == count_params(alive)


# ---------------------------------------------------------------------------- sizes
@pytest.mark.parametrize(
    ("C", "N", "classes", "in_ch", "size"),
    [(4, 1, 10, 3, 32), (2, 2, 7, 1, 28), (3, 1, 10, 1, 8), (4, 1, 100, 3, 16), (4, 0, 5, 3, 9)],
)
def test_analytic_sizes_equal_module_counts(C: int, N: int, classes: int, in_ch: int, size: int) -> None:
    archs = [Arch.from_string(DEAD_NODE), Arch.from_string(ALL_CONV), *sample(8, seed=C * 10 + N)]
    for arch in archs:
        model = NB201Network(arch, C=C, N=N, num_classes=classes, in_channels=in_ch)
        assert count_params(model) == nb201_param_count(arch, C, N, classes, in_ch), arch.string
        for conv in ("naslib", "macs"):
            got = count_flops(model, (in_ch, size, size), convention=conv)
            assert got == nb201_flops(arch, C, N, classes, (in_ch, size, size), conv), (arch.string, conv)


def test_macs_convention_by_hand() -> None:
    model = NB201Network("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", C=2, N=1, num_classes=3)
    # stem 3->2 at 4x4; block 2->4 at 2x2 (conv_a, conv_b, shortcut); block 4->8 at 1x1; classifier
    expected = 27 * 2 * 16 + (9 * 2 * 4 + 9 * 4 * 4 + 2 * 4) * 4 + (9 * 4 * 8 + 9 * 8 * 8 + 4 * 8) + 8 * 3
    assert count_flops(model, (3, 4, 4), convention="macs") == expected
    with pytest.raises(ValueError, match="unknown FLOPs convention"):
        count_flops(model, (3, 4, 4), convention="gflops")  # type: ignore[arg-type]


def test_count_flops_restores_mode_and_pruning() -> None:
    model = NB201Network(DEAD_NODE, C=4, N=1).train()
    count_flops(model, (3, 8, 8))
    assert model.training
    assert all(c.prune for c in model.modules() if isinstance(c, NB201Cell))
    full = count_flops(model, (3, 8, 8))
    pruned = count_flops(model, (3, 8, 8), full=False)
    assert pruned < full  # the dead node's convolutions are not run


def test_params_and_flops_equal_the_zero_cost_file(zc) -> None:
    """C=16, N=5, CIFAR-10: params (M) and FLOPs (M) equal NASLib's scores for every architecture.

    Every key is checked with the analytic formulas; for each distinct (params, FLOPs) pair one
    real network is built and counted by its modules (the other keys of the group have the
    same operation counts, which is all the counts depend on).
    """
    cifar10 = zc["cifar10"]
    assert len(cifar10) > 700
    groups: dict[tuple[int, int], Arch] = {}
    for key, scores in cifar10.items():
        arch = Arch.from_naslib(key)
        params, flops = nb201_param_count(arch), nb201_flops(arch)
        assert round(params / 1e6, 6) == scores["params"]["score"], key
        assert round(flops / 1e6, 6) == scores["flops"]["score"], key
        groups.setdefault((params, flops), arch)
    assert len(groups) > 50
    by_params: dict[int, list[Arch]] = defaultdict(list)
    for (params, flops), arch in groups.items():
        by_params[params].append(arch)
        model = NB201Network(arch)
        assert count_flops(model) == flops, arch.string
    for params, archs in by_params.items():
        with torch.device("meta"):
            assert count_params(NB201Network(archs[0])) == params


@pytest.mark.parametrize(("dataset", "classes", "size"), [("cifar100", 100, 32), ("ImageNet16-120", 120, 16)])
def test_other_datasets_of_the_zero_cost_file(zc, dataset: str, classes: int, size: int) -> None:
    """100 classes; 120 classes on 16x16 inputs: every key analytically, a few by module counts."""
    entries = zc[dataset]
    assert len(entries) > 700
    for n, (key, scores) in enumerate(entries.items()):
        arch = Arch.from_naslib(key)
        params = nb201_param_count(arch, num_classes=classes)
        flops = nb201_flops(arch, num_classes=classes, input_size=(3, size, size))
        assert round(params / 1e6, 6) == scores["params"]["score"], key
        assert round(flops / 1e6, 6) == scores["flops"]["score"], key
        if n < 3:
            model = NB201Network(arch, num_classes=classes)
            assert count_params(model) == params
            assert count_flops(model, (3, size, size)) == flops


def test_cell_factory_builds_the_cells() -> None:
    calls: list[tuple[int, int, int]] = []

    def factory(c_in: int, c_out: int, stride: int) -> torch.nn.Module:
        calls.append((c_in, c_out, stride))
        return torch.nn.Identity()

    model = NB201Network(None, C=4, N=2, cell_factory=factory)
    assert calls == [(4, 4, 1)] * 2 + [(8, 8, 1)] * 2 + [(16, 16, 1)] * 2
    assert model.arch is None and model(torch.rand(1, 3, 8, 8)).shape == (1, 10)
    with pytest.raises(ValueError, match="cannot read an architecture from None"):
        NB201Network(None, C=4, N=1)
