"""The DARTS cell space: genotype validation, JSON and string round trips, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from robnas.spaces import DARTS_OPS, Genotype

# DARTS_V2 of the DARTS code (Liu et al., ICLR 2019, genotypes.py), in its own spelling
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def _genotype(**changes: object) -> Genotype:
    fields = Genotype.parse(DARTS_V2).to_dict()
    fields.update(changes)  # type: ignore[arg-type]
    return Genotype.from_dict(fields)


def test_no_torch_import() -> None:
    code = (
        "import sys, robnas.spaces.darts, robnas.spaces; "
        "assert 'torch' not in sys.modules, 'spaces.darts imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ops_in_darts_order() -> None:
    assert DARTS_OPS[0] == "none" and len(DARTS_OPS) == 8 and "sep_conv_5x5" in DARTS_OPS


def test_string_and_json_round_trips() -> None:
    g = Genotype.parse(DARTS_V2)
    assert g.normal[-1] == ("dil_conv_3x3", 2) and g.reduce_concat == (2, 3, 4, 5)
    assert Genotype.parse(str(g)) == g
    assert str(Genotype.parse(str(g))) == str(g)
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    ranged = DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert Genotype.parse(ranged) == g
    assert hash(Genotype.parse(str(g))) == hash(g)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"normal": [("conv_7x7", 0)] + [("skip_connect", 0)] * 7}, r"unknown DARTS operation 'conv_7x7'"),
        ({"normal": [("skip_connect", 0)] * 7}, r"normal cell has 8 edges, got 7"),
        ({"reduce": [("skip_connect", 0)] * 2 + [("skip_connect", 3)] * 6}, r"edge 2 of the reduce cell"),
        ({"normal_concat": [2, 9]}, r"normal_concat names node 9"),
        ({"reduce_concat": []}, r"reduce_concat .* names no node"),
        ({"normal": "sep_conv_3x3"}, r"normal cell .* \(operation, input node\) pairs"),
        ({"reduce_concat": ["two"]}, r"reduce_concat .* node numbers"),
    ],
)
def test_validation_errors_name_the_bad_part(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match) as exc:
        _genotype(**changes)
    assert "\n" not in str(exc.value)


def test_parse_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="not a DARTS genotype"):
        Genotype.parse("normal=[]")
    with pytest.raises(ValueError, match="without a 'reduce_concat' field"):
        Genotype.parse(DARTS_V2.replace("reduce_concat=[2, 3, 4, 5]", ""))
    with pytest.raises(ValueError, match="cannot read the 'normal' field"):
        Genotype.parse(DARTS_V2.replace("('sep_conv_3x3', 0)", "(sep_conv_3x3, 0)", 1))
    with pytest.raises(ValueError, match="without a 'reduce' field"):
        Genotype.from_dict({"normal": [], "normal_concat": [2]})
