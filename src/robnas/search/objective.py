"""Search objectives: benchmark metric names, or weighted sums of them across sources.

Grammar: ``TERM ('+' TERM)*`` where ``TERM = [WEIGHT '*'] [SOURCE ':'] METRIC``, for example
``cifar10/pgd@8`` (with a default source), ``nasrobbench201:cifar10/pgd@8``, or
``0.5*jung2023:cifar10/fgsm@1+0.5*nasrobbench201:cifar10/pgd@8``. Every objective is maximised;
a negative weight (or a leading ``-``) turns a metric into one to minimise.

Besides the benchmark sources, the source ``size`` gives the size of the NAS-Bench-201 network
(C=16, N=5) of every cell: ``size:cifar10/params`` and ``size:cifar10/flops`` (also for
``cifar100`` and ``imagenet16-120``), e.g. ``-size:cifar10/params`` for small networks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robnas.errors import ConfigError


@dataclass(frozen=True)
class Term:
    weight: float
    source: str
    metric: str

    def __str__(self) -> str:
        w = "" if self.weight == 1.0 else f"{self.weight:g}*"
        return f"{w}{self.source}:{self.metric}"


def parse_objective(spec: str, default_source: str | None = None) -> list[Term]:
    """Parse an objective specification into weighted terms."""
    if not spec or not spec.strip():
        raise ConfigError("empty objective; give a metric such as cifar10/pgd@8")
    terms = []
    for raw in spec.split("+"):
        text = raw.strip()
        weight = 1.0
        if text.startswith("-") and "*" not in text:
            weight, text = -1.0, text[1:].strip()
        if "*" in text:
            w, _, text = text.partition("*")
            try:
                weight = float(w)
            except ValueError:
                raise ConfigError(
                    f"bad weight {w!r} in objective {spec!r}; write e.g. 0.5*cifar10/clean"
                ) from None
            if not math.isfinite(weight):  # inf or nan would turn every value into inf/NaN
                raise ConfigError(f"weight {w!r} in objective {spec!r} must be a finite number")
        source, sep, metric = text.partition(":")
        if not sep:
            source, metric = default_source or "", text
        if not source:
            raise ConfigError(
                f"objective term {raw.strip()!r} names no benchmark source; use --bench SOURCE "
                "or write SOURCE:METRIC, e.g. jung2023:cifar10/fgsm@1"
            )
        if not metric:
            raise ConfigError(f"objective term {raw.strip()!r} names no metric")
        terms.append(Term(weight, source.strip(), metric.strip()))
    return terms


SIZE_SOURCE = "size"


def _size_values(metric: str) -> np.ndarray:
    from robnas.analysis.params import NUM_CLASSES, flop_counts, param_counts

    dataset, _, kind = metric.partition("/")
    if dataset not in NUM_CLASSES or kind not in ("params", "flops"):
        raise ConfigError(
            f"unknown size metric {metric!r}; use DATASET/params or DATASET/flops with DATASET one of "
            f"{', '.join(NUM_CLASSES)}"
        )
    counts = param_counts(dataset) if kind == "params" else flop_counts(dataset)
    return counts.astype(np.float64)


def objective_values(terms: list[Term], root: str | None = None) -> np.ndarray:
    """The objective for all 15,625 indices (NaN where any term is missing)."""
    from robnas.benchmarks import get_source

    total: np.ndarray | None = None
    sources: dict[str, object] = {}
    for t in terms:
        if t.source == SIZE_SOURCE:
            vals = _size_values(t.metric)
            total = t.weight * vals if total is None else total + t.weight * vals
            continue
        if t.source not in sources:
            sources[t.source] = get_source(t.source, root=root)
        vals = np.asarray(sources[t.source].values(t.metric), dtype=np.float64)  # type: ignore[attr-defined]
        total = t.weight * vals if total is None else total + t.weight * vals
    assert total is not None
    return total
