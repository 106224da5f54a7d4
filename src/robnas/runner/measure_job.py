"""The ``measure`` job kind: architecture measures at initialisation, as builder jobs.

A build with ``kind: measure`` computes measures for every architecture and seed of the
configuration, so a measure study gets the store's provenance, resumption, retries and Ray like
any build. For a job (architecture ``uid``, ``seed``):

1. the batch is :func:`robnas.measures.measure_batch` (``eval: {measure_batch: 64}`` images of
   the dataset's train split, stratified, drawn with the job's seed);
2. the network is the NAS-Bench-201 network at the benchmarks' size unless ``model: {C, N}``
   says otherwise (default ``C=16, N=5``), initialised from the seed;
3. the measures are ``measures:`` (names, ``default`` or ``all``; default:
   :data:`robnas.measures.DEFAULT_MEASURES`) with their defaults (for the NTK family, Wu et al.'s
   protocol: PGD-7 at 8/255, ``beta = 1``, three initialisations), or as ``measure_options:``
   says (``{hessian: {max_iter: 10}}``; part of the protocol).

``robnas measure --archs SPEC`` runs such a build (:mod:`robnas.cli.measure`), and
:func:`robnas.measures.study.export_csv` writes its results as a table, one row per architecture.

Metric names: ``DATASET/init.MEASURE`` (``cifar10/init.jacobian``, ``cifar10/init.ntk_adv.lmin``)
for values at initialisation; the ``train-attack`` kind stores the same measures of the *trained*
network as ``DATASET/MEASURE`` (``cifar10/jacobian``). ``@`` is kept for epsilons
(``cifar10/pgd@8``), so "at initialisation" is the ``init.`` prefix. The job also stores
``DATASET/params`` (parameter count) and ``DATASET/measure-seconds``.

A value its measure flags as numerically meaningless (a
:class:`~robnas.measures.registry.MeasureWarning`, e.g. a vacuous certified bound) is stored
as it is, with ``DATASET/flag:NAME = 1`` beside it (``cifar10/flag:init.ibp``): the table
(:func:`robnas.measures.study.study_rows`) lists such columns in its ``flagged`` column.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from robnas.errors import ConfigError
from robnas.runner.jobs import Job

INIT_PREFIX = "init."
FLAG_PREFIX = "flag:"
EVAL_KEYS = ("measure_batch",)
DEFAULT_SIZE = {"C": 16, "N": 5}


def init_metric(dataset: str, column: str) -> str:
    """The metric name of a measure column taken at initialisation: ``DATASET/init.COLUMN``."""
    return f"{dataset}/{INIT_PREFIX}{column}"


def trained_metric(dataset: str, column: str) -> str:
    """The metric name of a measure column taken on the trained network: ``DATASET/COLUMN``."""
    return f"{dataset}/{column}"


def flag_metric(metric: str) -> str:
    """The metric recording that ``metric`` (``DATASET/NAME``) was flagged: ``DATASET/flag:NAME``."""
    dataset, name = metric.split("/", 1)
    return f"{dataset}/{FLAG_PREFIX}{name}"


def measure_metrics(
    values: dict[str, float], flags: dict[str, str], metric: Callable[[str], str]
) -> dict[str, float]:
    """Store-ready metrics of measure ``values``, named by ``metric(column)``, with a flag metric
    (value 1) for each flagged column."""
    out = {metric(k): float(v) for k, v in values.items()}
    out.update({flag_metric(metric(k)): 1.0 for k in flags if k in values})
    return out


def _names(config_measures: Any) -> list[str]:
    from robnas.measures import DEFAULT_MEASURES, parse_measures

    items = list(config_measures or ())
    return parse_measures(items) if items else list(DEFAULT_MEASURES)


def check(config: Any) -> None:
    """Refuse, before any job runs, a configuration this kind cannot run (an unknown dataset or
    measure, an option a measure does not take, a missing training split)."""
    from robnas.data import available_datasets
    from robnas.measures.registry import check_measure_options
    from robnas.runner.train_attack import check_data_files

    if config.dataset not in available_datasets():
        raise ConfigError(
            f"build config: dataset: unknown dataset {config.dataset!r}; "
            f"datasets: {', '.join(available_datasets())}"
        )
    if config.attacks or config.corruptions:
        raise ConfigError(
            "build config: a measure build takes no attacks or corruptions (nothing is trained); "
            "use kind: train-attack, whose measures are taken at initialisation and after training"
        )
    unknown = sorted(set(config.eval) - set(EVAL_KEYS))
    if unknown:
        raise ConfigError(
            f"build config: eval: unknown setting(s) {unknown}; settings: {', '.join(EVAL_KEYS)}"
        )
    n = config.eval.get("measure_batch", 64)
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(f"build config: eval: measure_batch must be an integer >= 2, got {n!r}")
    names = _names(config.measures)
    try:
        check_measure_options(config.measure_options, names)
    except ConfigError as exc:
        raise ConfigError(f"build config: measure_options: {exc}") from None
    check_data_files(config.dataset, config.root, splits=("train",))


def run(job: Job, device: str) -> dict[str, float]:
    """Measure one architecture at initialisation with one seed; returns metric values."""
    import torch

    from robnas.measures import compute_measures, measure_batch
    from robnas.models import build_network, count_params

    spec = job.spec
    size = {**DEFAULT_SIZE, **(spec.get("model") or {})}
    n = int((spec.get("eval") or {}).get("measure_batch", 64))
    x, y, info = measure_batch(job.dataset, n, job.seed, spec.get("root"))

    def make() -> torch.nn.Module:
        return build_network(job.uid, C=size["C"], N=size["N"], **info.model_kwargs()).to(device)

    t0 = time.perf_counter()
    options = spec.get("measure_options") or None
    flags: dict[str, str] = {}
    values = compute_measures(
        _names(spec.get("measures")), make, x, y, seed=job.seed, options=options, flags=flags
    )
    out = measure_metrics(values, flags, lambda c: init_metric(job.dataset, c))
    torch.manual_seed(job.seed)
    out[f"{job.dataset}/params"] = float(count_params(make()))
    out[f"{job.dataset}/measure-seconds"] = time.perf_counter() - t0
    return out
