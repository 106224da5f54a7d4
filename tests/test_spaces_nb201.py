"""The NAS-Bench-201 cell space: spellings, index order, isomorphism, moves, errors."""

from __future__ import annotations

import csv
import json
import random
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robnas.spaces import nb201
from robnas.spaces.nb201 import NUM_ARCHS, OPS, Arch

EXAMPLE_6111 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)
archs = st.tuples(*[st.integers(0, 4)] * 6).map(Arch)


def test_no_torch_import() -> None:
    assert "robnas.spaces.nb201" in sys.modules
    import subprocess

    code = "import sys, robnas.spaces; assert 'torch' not in sys.modules, 'spaces imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_index_matches_nats_bench(shared_data) -> None:
    with open(shared_data / "nats-bench" / "nats_bench.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == NUM_ARCHS
    for i, row in enumerate(rows):
        arch = Arch.from_index(i)
        assert arch.string == row["ArchitectureString"], i
        assert Arch.from_string(row["ArchitectureString"]).index == i


def test_isomorphism_classes_equal_jung2023(shared_data) -> None:
    meta = json.loads((shared_data / "robustness-dataset" / "meta.json").read_text())
    assert len(nb201.unique_indices()) == nb201.NUM_UNIQUE == 6466
    for i in range(NUM_ARCHS):
        entry = meta["ids"][str(i)]
        arch = Arch.from_index(i)
        assert arch.string == entry["nb201-string"]
        assert arch.uid == int(entry["isomorph"]), i


def test_unique_indices_equal_nasrobbench201(shared_data) -> None:
    text = (shared_data / "nas-robbench-201" / "NasBenchID_6466_idx.txt").read_text()
    released = sorted(int(v) for v in text.split())
    assert released == nb201.unique_indices()


def test_naslib_encoding_joins_zero_cost_file(shared_data) -> None:
    data = json.loads((shared_data / "zero-cost" / "zc_nasbench201.json").read_text())
    for key in data["cifar10"]:
        arch = Arch.from_naslib(key)
        assert arch.naslib_key() == key
    # documented example: (0, 2, 3, 2, 3, 1) is skip, conv3, conv1 on 0->1, 0->2, 0->3 ...
    a = Arch.from_naslib("(0, 2, 3, 2, 3, 1)")
    assert a.edges()[(0, 1)] == "skip_connect"
    assert a.edges()[(0, 2)] == "nor_conv_3x3"
    assert a.edges()[(0, 3)] == "nor_conv_1x1"
    assert a.edges()[(2, 3)] == "none"


def test_known_example() -> None:
    a = Arch.parse(6111)
    assert a.string == EXAMPLE_6111
    assert Arch.parse("6111") == a == Arch.parse(EXAMPLE_6111)
    assert a.op_counts() == {
        "none": 0,
        "skip_connect": 1,
        "nor_conv_1x1": 1,
        "nor_conv_3x3": 4,
        "avg_pool_3x3": 0,
    }


@given(archs)
def test_round_trips(arch: Arch) -> None:
    assert Arch.from_string(arch.string) == arch
    assert Arch.from_index(arch.index) == arch
    assert Arch.from_code(arch.code) == arch
    assert Arch.from_naslib(arch.to_naslib()) == arch
    assert Arch.from_names(arch.edges()) == arch
    assert hash(arch) == hash(Arch(arch.ops))


@given(archs)
def test_neighbours(arch: Arch) -> None:
    nbrs = arch.neighbours()
    assert len(nbrs) == len(set(nbrs)) == 24
    for n in nbrs:
        assert sum(a != b for a, b in zip(n.ops, arch.ops, strict=True)) == 1
    assert arch.mutate(random.Random(0)) in nbrs


@given(archs)
def test_uid_is_class_minimum(arch: Arch) -> None:
    uid = arch.uid
    assert uid <= arch.index
    assert Arch.from_index(uid).canonical() == arch.canonical()
    assert Arch.from_index(uid).uid == uid


def test_isomorphism_rules() -> None:
    # skip_connect is the identity and sums commute: both compute 4 x avg(x) + ... the same way.
    a = Arch.from_string(
        "|avg_pool_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|skip_connect~2|"
    )
    b = Arch.from_string(
        "|skip_connect~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|skip_connect~2|"
    )
    assert a.is_isomorphic(b) and a.uid == b.uid
    # An edge that cannot reach the output does not matter.
    c = Arch.from_string("|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|")
    d = Arch.from_string("|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|")
    assert c.is_isomorphic(d)
    assert not Arch.parse(EXAMPLE_6111).is_isomorphic(c)


def test_connectivity() -> None:
    assert Arch.parse(EXAMPLE_6111).is_connected()
    assert not Arch.from_string("|none~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|").is_connected()


def test_iteration_and_sampling() -> None:
    assert sum(1 for _ in nb201.iter_archs()) == NUM_ARCHS
    uniq = list(nb201.iter_archs(unique=True))
    assert len(uniq) == 6466 and all(a.is_unique for a in uniq)
    s1 = nb201.sample(50, seed=3)
    assert s1 == nb201.sample(50, seed=3) and len(set(s1)) == 50
    assert all(a.is_unique for a in nb201.sample(40, seed=1, unique=True))
    classes = nb201.isomorphism_classes()
    assert len(classes) == 6466 and sum(map(len, classes.values())) == NUM_ARCHS
    assert nb201.random_arch(7) == nb201.random_arch(7)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 node groups"),
        ("|conv9x9~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|", "conv9x9"),
        (
            "|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
            "from node 0",
        ),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|none~2|", "2 inputs"),
        ("nor_conv_3x3~0+|a~0|b~1|+|c~0|", "must start and end"),
        (
            "|nor_conv_3x3|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
            "operation~input",
        ),
    ],
)
def test_malformed_strings(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment) as info:
        Arch.from_string(text)
    assert "|" in str(info.value)  # names the bad part and/or shows a valid example


@pytest.mark.parametrize("bad", [-1, NUM_ARCHS, 10**9])
def test_out_of_range_index(bad: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        Arch.from_index(bad)


def test_bad_values() -> None:
    with pytest.raises(ValueError, match="6 edges"):
        Arch((1, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="out of range"):
        Arch((0, 0, 0, 0, 0, 9))
    with pytest.raises(ValueError, match="unknown operation"):
        Arch.parse(6111).with_op((0, 1), "conv7")
    with pytest.raises(ValueError, match="NASLib"):
        Arch.from_naslib("(0, 1)")
    with pytest.raises(ValueError, match="cannot sample"):
        nb201.sample(7000, unique=True)
    assert OPS[0] == "none"
