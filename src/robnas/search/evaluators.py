"""Ready-made evaluators ``evaluate(arch) -> value(s)`` for :func:`robnas.search.search_space`.

An evaluator is any function of an architecture returning a number (or one number per
objective), higher is better. Besides your own (train and attack a DARTS genotype, a toy
function), three are built in:

* :func:`table_evaluator` -- a NAS-Bench-201 table of values by architecture (what
  :func:`~robnas.search.run_search` uses, as an evaluator);
* :func:`benchmark_evaluator` -- objectives written as on the command line
  (``"jung2023:cifar10/pgd@8"``, ``"0.5*store:digits/clean + 0.5*store:digits/pgd@8"``) over any
  benchmark source, including a finished build's store (source ``store``, root the database);
* :func:`build_evaluator` -- a *live* build: each new architecture is trained and attacked by
  ``robnas build`` (its configuration, its store, its resumption and retries) and the metric is
  read back from the store. Architectures built before (by this search or an earlier build of
  the same protocol) are not built again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from robnas.errors import ConfigError
from robnas.spaces.nb201 import NUM_ARCHS, Arch


def table_evaluator(values: np.ndarray | Sequence[float]) -> Callable[[Arch], np.ndarray]:
    """``values`` of shape ``(15625,)`` or ``(k, 15625)`` by NAS-Bench-201 index -> an evaluator.

    Isomorphic cells share their class representative's value (the benchmarks' convention).
    """
    table = np.asarray(values, dtype=np.float64)
    if table.ndim == 1:
        table = table[None, :]
    if table.ndim != 2 or table.shape[1] != NUM_ARCHS:
        raise ConfigError(f"a NAS-Bench-201 table has shape (15625,) or (k, 15625), got {table.shape}")

    def evaluate(arch: Arch) -> np.ndarray:
        return table[:, Arch.parse(arch).uid]

    return evaluate


def benchmark_evaluator(
    objectives: str | Sequence[str], root: str | None = None, bench: str | None = None
) -> Callable[[Arch], np.ndarray]:
    """Objectives over benchmark sources (as ``robnas search run --objective``) -> an evaluator.

    Args:
        objectives: one objective or several (each ``[w*]SOURCE:METRIC [+ ...]``).
        root: the data root of the sources (for ``store``: the database file).
        bench: the source of terms that name none.
    """
    from robnas.search.objective import objective_values, parse_objective

    specs = [objectives] if isinstance(objectives, str) else list(objectives)
    if not specs:
        raise ConfigError("give at least one objective, e.g. jung2023:cifar10/pgd@8")
    return table_evaluator(np.stack([objective_values(parse_objective(s, bench), root) for s in specs]))


def build_evaluator(
    config: Any,
    metrics: str | Sequence[str],
    executor: str = "local",
    workers: int = 1,
    progress: bool = False,
) -> Callable[[Arch], np.ndarray]:
    """A live build as an evaluator: ``evaluate(arch)`` builds ``arch`` (all seeds), returns metrics.

    Args:
        config: a build configuration (:class:`~robnas.runner.BuildConfig`, a YAML path or a
            mapping); its ``architectures`` field is replaced by the one being evaluated.
        metrics: store metric names to return, e.g. ``"digits/pgd@8"`` (the mean over seeds).
        executor, workers: as for :func:`robnas.runner.build`.

    A job that fails every retry gives ``nan`` (ranked below every value by the search).
    """
    from robnas.runner import build, load_config
    from robnas.store import StoreSource

    cfg = load_config(config) if not hasattr(config, "with_overrides") else config
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise ConfigError("give at least one metric of the build, e.g. digits/pgd@8")

    def evaluate(arch: Arch) -> np.ndarray:
        a = Arch.parse(arch)
        one = cfg.with_overrides(architectures=[a.index])
        build(one, executor=executor, workers=workers, progress=progress, interruptible=False)
        source = StoreSource(os.fspath(one.output), protocol=one.protocol_hash)
        try:
            present = set(source.metrics())
            missing = [m for m in names if m not in present]
            if len(missing) == len(names) and not present:
                return np.full(len(names), np.nan)
            if missing:
                raise ConfigError(
                    f"the build stores no metric {', '.join(missing)}; it has {', '.join(sorted(present))}"
                )
            return np.array([source.values(m)[a.index] for m in names], dtype=np.float64)
        finally:
            source.store.close()

    return evaluate


__all__ = ["benchmark_evaluator", "build_evaluator", "table_evaluator"]
