"""The one Registry type and the eleven registries built on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robnas.errors import ConfigError
from robnas.registry import Registry

SRC = str(Path(__file__).resolve().parents[1] / "src")

# (registry module, registry attribute, lookup through the public function, a name in another
#  case, the canonical name, a misspelling, the suggestion it must get)
REGISTRIES = [
    ("robnas.attacks.base", "ATTACKS", "get_attack('Pgd', eps=8 / 255).name", "pgd", "pdg", "pgd"),
    ("robnas.measures.registry", "MEASURES", "get_measure('SynFlow').name", "synflow", "synflw", "synflow"),
    ("robnas.search.registry", "ALGORITHMS", "get_algorithm('RE').name", "re", "nsga", "nsga2"),
    ("robnas.dnas.methods", "METHODS", "get_method('DARTS').name", "darts", "e2rna", "e2rnas"),
    ("robnas.training.objectives", "OBJECTIVES", "get_objective('PGD-AT').name", "pgd-at", "trade", "trades"),
    ("robnas.training.presets", "PRESETS", "get_preset('CPU-Tiny').name", "cpu-tiny", "cpu-tny", "cpu-tiny"),
    ("robnas.attacks.corruptions", "CORRUPTIONS", "CORRUPTIONS.get('Fog').__name__", "fog", "fogg", "fog"),
    ("robnas.data.registry", "DATASETS", "get_reader('CIFAR10').info.name", "cifar10", "cifar1O", "cifar10"),
    ("robnas.benchmarks.registry", "SOURCES", "source_class('Jung2023').info.name", "jung2023", "jungg", "jung2023"),
    ("robnas.runner.jobs", "JOB_KINDS", "kind_function('Synthetic').__module__", "robnas.runner.synthetic",
     "synthetc", "synthetic"),
    ("robnas.runner.executors", "EXECUTORS", "get_executor('Local').name", "local", "locl", "local"),
]  # fmt: skip
IDS = [r[1].lower() for r in REGISTRIES]


def _import(module: str):
    import importlib

    return importlib.import_module(module)


@pytest.mark.parametrize(("module", "attr", "call", "expected", "typo", "suggestion"), REGISTRIES, ids=IDS)
def test_lookup_is_case_insensitive(module, attr, call, expected, typo, suggestion):
    mod = _import(module)
    assert isinstance(getattr(mod, attr), Registry)
    assert eval(call, vars(mod)) == expected  # the public function keeps working, in any case


@pytest.mark.parametrize(("module", "attr", "call", "expected", "typo", "suggestion"), REGISTRIES, ids=IDS)
def test_unknown_name_is_a_config_error_with_a_suggestion(module, attr, call, expected, typo, suggestion):
    registry = getattr(_import(module), attr)
    with pytest.raises(
        ConfigError, match=f"unknown {registry.kind} '{typo}' \\(did you mean {suggestion}\\?\\); choose from"
    ):
        registry.get(typo)
    with pytest.raises(ConfigError, match="choose from"):
        registry.get("zzzzzzzz")


@pytest.mark.parametrize(("module", "attr"), [r[:2] for r in REGISTRIES], ids=IDS)
def test_registry_module_does_not_import_its_members(module, attr):
    """Importing a registry and listing its names imports none of the modules that define members."""
    registry = getattr(_import(module), attr)
    if {t.partition(":")[0] for t in registry.declared().values()} == {module}:
        return  # the built-ins are defined in the registry module itself: nothing else to import
    code = f"""
import json, sys
import {module} as m
reg = m.{attr}
names = reg.names()
members = sorted({{t.partition(":")[0] for t in reg.declared().values()}} - {{"{module}"}})
print(json.dumps({{"names": names, "members": members,
                  "imported": [x for x in members if x in sys.modules]}}))
"""
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["names"]
    assert got["imported"] == [], f"importing {module} imported its members {got['imported']}"


def test_registry_aliases_declarations_and_registration():
    reg: Registry[object] = Registry("widget", builtin={"json": "json:dumps"}, aliases={"js": "json"})
    assert reg.names() == ["json"] and "JS" in reg and "xml" not in reg
    assert reg.get("JS") is json.dumps  # a "module:attribute" target is imported on first use
    marker = object()
    assert reg.register("Other", marker, aliases=["o"]) is marker
    assert reg.get("O") is marker and reg.canonical(" OTHER ") == "other"

    @reg.register("deco")
    def member() -> None: ...

    assert reg.get("deco") is member
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("other", object())
    reg.register("other", member, replace=True)
    assert reg.get("other") is member
    assert reg.get("nope", None) is None
    with pytest.raises(ConfigError, match="did you mean json"):
        reg.get("jsn")
    with pytest.raises(ConfigError, match="did you mean json"):  # an alias suggests its name
        reg.get("jss")


def test_a_module_that_does_not_register_its_member_is_a_bug_not_bad_input():
    reg: Registry[object] = Registry("widget", builtin={"ghost": "json"})
    with pytest.raises(RuntimeError) as exc:
        reg.get("ghost")
    assert not isinstance(exc.value, ConfigError)


def test_objective_refuses_unknown_options():
    from robnas.training import get_objective, get_preset

    with pytest.raises(ConfigError, match="standard objective has no option beta"):
        get_objective("standard", beta=0.5)
    assert get_preset("cpu-tiny").objective_params() == {}
    assert set(get_preset("trades").objective_params()) == {"eps", "step_size", "steps", "beta"}


def test_unknown_options_are_config_errors_everywhere():
    import numpy as np
    import torch

    from robnas.attacks import get_attack
    from robnas.measures import compute_measures
    from robnas.search import run_search

    with pytest.raises(ConfigError, match="the pgd attack has no option stepz; its options are .*steps"):
        get_attack("PGD", eps=8 / 255, stepz=3)
    with pytest.raises(
        ConfigError, match="measure hessian has no option iters; its options are method, max_iter, tol"
    ):
        compute_measures(
            ["params"],
            torch.nn.Linear(2, 2),
            torch.zeros(1, 1, 1, 2),
            torch.zeros(1),
            options={"hessian": {"iters": 3}},
        )
    with pytest.raises(ConfigError, match="rs has no option warm_start"):
        run_search("rs", np.zeros(15625), 5, warm_start=[0])
