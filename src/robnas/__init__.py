"""robnas: a toolkit for robust neural architecture search.

robnas brings together robustness benchmarks of the NAS-Bench-201 space (Jung, Lukasik and
Keuper, ICLR 2023; Wu et al., NAS-RobBench-201, ICLR 2024), cheap robustness measures,
discrete search, and differentiable robust search (DSRNA, E2RNAS).

The names a notebook needs are importable from here, and load on first use (``import robnas``
stays fast: torch, NumPy and pandas are imported only when a name that needs them is used)::

    import robnas
    a = robnas.Arch.parse(6111)
    jung = robnas.get_source("jung2023")
    jung.query(a, "cifar10/pgd@8")
    robnas.run_search("re", jung.values("cifar10/pgd@2"), budget=300, seed=0)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily by __getattr__)
_EXPORTS: dict[str, str] = {
    # architectures
    "Arch": "robnas.spaces",
    "Genotype": "robnas.spaces",
    "sample": "robnas.spaces",
    "random_arch": "robnas.spaces",
    # benchmarks
    "get_source": "robnas.benchmarks",
    "source_names": "robnas.benchmarks",
    "frame": "robnas.benchmarks",
    "Metric": "robnas.benchmarks",
    "parse_metric": "robnas.benchmarks",
    # networks, data, training
    "build_network": "robnas.models",
    "count_params": "robnas.models",
    "load_dataset": "robnas.data",
    "available_datasets": "robnas.data",
    "train": "robnas.training",
    "get_preset": "robnas.training",
    # attacks and measures
    "get_attack": "robnas.attacks",
    "available_attacks": "robnas.attacks",
    "evaluate_robustness": "robnas.attacks",
    "evaluate_corruptions": "robnas.attacks",
    "compute_measures": "robnas.measures",
    "available_measures": "robnas.measures",
    # search
    "run_search": "robnas.search",
    "compare": "robnas.search",
    "available_algorithms": "robnas.search",
    # building benchmarks
    "build": "robnas.runner",
    "load_config": "robnas.runner",
    "ResultStore": "robnas.store",
    # errors
    "RobnasError": "robnas.errors",
    "ConfigError": "robnas.errors",
    "DataError": "robnas.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'robnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
