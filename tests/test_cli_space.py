"""``robnas space``: JSON values, tables, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from robnas.models import nb201_flops, nb201_param_count
from robnas.spaces.nb201 import Arch, sample_indices

EXAMPLE_6111 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
)


def test_arch_6111_json(cli, shared_data) -> None:
    code, out, _ = cli("space", "arch", "6111", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["index"] == 6111
    assert info["string"] == EXAMPLE_6111
    assert info["uid"] == 6111 and info["is_unique"] is True
    assert info["op_counts"] == {
        "none": 0,
        "skip_connect": 1,
        "nor_conv_1x1": 1,
        "nor_conv_3x3": 4,
        "avg_pool_3x3": 0,
    }
    assert info["params"] == nb201_param_count(6111) == 1_073_466
    assert info["flops"] == nb201_flops(6111)
    assert info["macs"] == nb201_flops(6111, convention="macs")
    # the same numbers as NASLib's zero-cost file, whose key is the NASLib encoding
    with open(shared_data / "zero-cost" / "zc_nasbench201.json") as f:
        zc = json.load(f)["cifar10"]
    if info["naslib"] in zc:
        assert info["params_m"] == zc[info["naslib"]]["params"]["score"]
        assert info["mflops"] == zc[info["naslib"]]["flops"]["score"]
    assert info["params_m"] == 1.073466 and info["mflops"] == 155.584192


def test_arch_by_string_with_options(cli) -> None:
    string = Arch.from_index(14).string
    code, out, _ = cli(
        "space", "arch", string, "--json", "--C", "4", "--N", "1",
        "--num-classes", "7", "--input-size", "8", "--in-channels", "1",
    )  # fmt: skip
    assert code == 0
    info = json.loads(out)
    assert info["index"] == 14 and info["uid"] == Arch.from_index(14).uid
    assert info["is_unique"] == (info["uid"] == 14)
    assert info["config"] == {"C": 4, "N": 1, "num_classes": 7, "in_channels": 1, "input_size": [8, 8]}
    assert info["params"] == nb201_param_count(14, 4, 1, 7, 1)
    assert info["flops"] == nb201_flops(14, 4, 1, 7, (1, 8, 8))


def test_arch_table(cli) -> None:
    code, out, _ = cli("space", "arch", "0")
    assert code == 0
    for word in ("index", "uid", "parameters", "FLOPs", "avg_pool_3x3", f"{nb201_param_count(0):,}"):
        assert word in out


def test_sample_json(cli) -> None:
    code, out, _ = cli("space", "sample", "-n", "4", "--seed", "7", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["index"] for r in rows] == sample_indices(4, seed=7)
    for r in rows:
        assert Arch.from_string(r["string"]).index == r["index"]
    code, out, _ = cli("space", "sample", "-n", "6", "--unique", "--json")
    assert code == 0
    assert all(r["is_unique"] and r["uid"] == r["index"] for r in json.loads(out))
    code, out, _ = cli("space", "sample", "-n", "2")
    assert code == 0 and "uid" in out


def test_neighbours_json(cli) -> None:
    code, out, _ = cli("space", "neighbours", "6111", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["arch"]["index"] == 6111
    rows = data["neighbours"]
    assert len(rows) == 24
    assert {r["index"] for r in rows} == {b.index for b in Arch.from_index(6111).neighbours()}
    first = rows[0]
    assert first["edge"] == "0->1" and first["from"] == "nor_conv_3x3" and first["to"] == "none"
    code, out, _ = cli("space", "neighbours", EXAMPLE_6111)
    assert code == 0 and "24 neighbours" in out


def test_info(cli) -> None:
    code, out, _ = cli("space", "info", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["num_archs"] == 15625 and data["num_unique"] == 6466
    assert data["ops"][0] == "none" and len(data["edges"]) == 6
    code, out, _ = cli("space", "info")
    assert code == 0 and "15,625" in out and "6,466" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["space", "arch", "15625"], "out of range"),
        (["space", "arch", "|conv~0|"], "malformed architecture string"),
        (
            ["space", "arch", "|foo~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--json"],
            "unknown operation 'foo'",
        ),
        (["space", "neighbours", "--", "-3"], "out of range"),
        (["space", "sample", "-n", "7000", "--unique"], "cannot sample 7000"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, argv: list[str], message: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("robnas: error: ") and message in lines[0]
    assert "Traceback" not in err


def test_usage_error_is_one_line(cli) -> None:
    code, _, err = cli("space", "arch")
    assert code == 2 and "Traceback" not in err and "arch" in err
