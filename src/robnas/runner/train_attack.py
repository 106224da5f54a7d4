"""The ``train-attack`` job kind: train one architecture with one seed, attack it, corrupt its inputs.

For a job (architecture, seed) under a protocol it

1. builds the NAS-Bench-201 network for the dataset (:func:`robnas.models.build_network`; width
   and depth from the training preset, or from ``model: {C, N}`` in the configuration);
2. trains it on the dataset's ``train`` split with the preset (:func:`robnas.training.train`;
   ``training: {preset: NAME, epochs: ..., ...}`` overrides preset fields);
3. evaluates clean accuracy and all attacks at their epsilons in one call
   (:func:`robnas.attacks.evaluate_robustness`: per-image worst case ``worst@8`` and the
   gradient-masking checks ``masking-<check>`` are stored too; ``eval: {checks: false}`` turns the
   checks off) and each corruption at its severities on the ``test`` split (``eval: {examples: N}``
   limits the number of test images, ``eval: {batch_size: B}``; ``eval: {corruption_source:
   released}`` reads the corrupted images of CIFAR-10-C / CIFAR-100-C as released instead of
   generating them);
4. computes the configured measures (:mod:`robnas.measures`) on one batch
   (:func:`robnas.measures.measure_batch`) at initialisation and again on the trained network
   with its own BatchNorm statistics (``bn="as-is"``), with the options of ``measure_options``.

Metric names follow the benchmarks: ``digits/clean``, ``digits/pgd@8``, ``digits/autoattack@8``,
``digits/worst@8``, ``digits/masking-huge_eps``, ``digits/fog#3``, ``digits/pgd-k20@8`` (an attack
with settings from the configuration, see :class:`robnas.runner.config.AttackPlan`),
``digits/params``, ``digits/flops``, ``digits/train-seconds``, ``digits/train-accuracy``,
``digits/init.<measure>`` (at initialisation) and ``digits/<measure>`` (trained network); see
:mod:`robnas.runner.measure_job`.
"""

from __future__ import annotations

import time
from dataclasses import fields
from functools import lru_cache
from typing import Any

import torch

from robnas.errors import ConfigError
from robnas.runner.jobs import Job

EVAL_KEYS = ("examples", "batch_size", "measure_batch", "checks", "corruption_source")


def check(config: Any) -> None:
    """Refuse, before any job runs, a configuration this kind cannot run (one clear sentence)."""
    from robnas.attacks import available_corruptions, canonical_attack_name
    from robnas.data import available_datasets
    from robnas.training import TrainPreset, get_preset

    if config.dataset not in available_datasets():
        raise ConfigError(
            f"build config: dataset: unknown dataset {config.dataset!r}; "
            f"datasets: {', '.join(available_datasets())}"
        )
    training = dict(config.training)
    examples = training.pop("examples", None)
    if examples is not None and (not isinstance(examples, int) or isinstance(examples, bool) or examples < 1):
        raise ConfigError(
            f"build config: training: examples must be a positive number of training images, got {examples!r}"
        )
    preset = get_preset(training.pop("preset", "cpu-tiny"))
    known = {f.name for f in fields(TrainPreset)} - {"name", "description"}
    unknown = sorted(set(training) - known)
    if unknown:
        raise ConfigError(
            f"build config: training: unknown setting(s) {unknown}; "
            f"settings: preset, examples, {', '.join(sorted(known))}"
        )
    preset.replace(**training)  # validates values
    from robnas.attacks import get_attack
    from robnas.runner.config import attack_plans

    for plan in attack_plans(config.attacks):
        canonical_attack_name(plan.name)
        get_attack(plan.name, eps=plan.eps[0] / 255, **plan.kwargs())  # unknown settings: ConfigError
    corr = set(available_corruptions())
    for name in config.corruptions:
        if name not in corr:
            raise ConfigError(
                f"build config: corruptions: unknown corruption {name!r}; "
                f"corruptions: {', '.join(sorted(corr))}"
            )
    unknown_eval = sorted(set(config.eval) - set(EVAL_KEYS))
    if unknown_eval:
        raise ConfigError(
            f"build config: eval: unknown setting(s) {unknown_eval}; settings: {', '.join(EVAL_KEYS)}"
        )
    if not isinstance(config.eval.get("checks", True), bool):
        raise ConfigError(
            f"build config: eval: checks is true or false (the gradient-masking checks), "
            f"not {config.eval['checks']!r}"
        )
    for key, value in config.eval.items():
        if (
            key in ("examples", "batch_size", "measure_batch")
            and value is not None
            and (isinstance(value, bool) or not isinstance(value, int) or value < 1)
        ):
            raise ConfigError(
                f"build config: eval: {key} must be a positive whole number (or left out), got {value!r}"
            )
    source = config.eval.get("corruption_source", "generated")
    if source not in ("generated", "released"):
        raise ConfigError(f"build config: eval: corruption_source is generated or released, not {source!r}")
    if source == "released" and config.corruptions:
        from robnas.data import get_reader
        from robnas.data.corrupted import corrupted_name, split_name

        reader = get_reader(corrupted_name(config.dataset), config.root)
        for name, sevs in config.corruptions.items():
            for s in sevs:
                if not reader.split_available(split_name(name, s)):
                    raise ConfigError(
                        f"build config: eval: corruption_source released needs {reader.folder}/{name}.npy "
                        f"and labels.npy; {reader.how_to_get()}"
                    )
    check_data_files(config.dataset, config.root)
    if config.measures or config.measure_options:
        from robnas.measures import parse_measures
        from robnas.measures.registry import check_measure_options

        names = parse_measures(list(config.measures)) if config.measures else []
        try:
            check_measure_options(config.measure_options, names)
        except ConfigError as exc:
            raise ConfigError(f"build config: measure_options: {exc}") from None


def check_data_files(dataset: str, root: str | None, splits: tuple[str, ...] = ("train", "test")) -> None:
    """:class:`~robnas.errors.DataError` naming the first missing file of the ``splits`` (the
    training and test splits), before any job starts (instead of every job failing, and being
    retried, on its own)."""
    from robnas.data import get_reader

    reader = get_reader(dataset, root)
    for split in splits:
        if split in reader.splits():
            for spec in reader.describe().files_for(split):
                reader.require(spec)


@lru_cache(maxsize=4)
def _dataset(name: str, split: str, root: str | None) -> Any:
    from robnas.data import load_dataset

    return load_dataset(name, split=split, root=root)


def run(job: Job, device: str) -> dict[str, float]:
    """Train, attack and measure one architecture with one seed; returns metric values."""
    from robnas.attacks import evaluate_robustness
    from robnas.attacks.evaluate import evaluate_corruptions
    from robnas.models import build_network, count_flops, count_params
    from robnas.training import get_preset, train

    spec = job.spec
    ds_name = job.dataset
    training = dict(spec.get("training") or {})
    n_train = training.pop("examples", None)
    overrides = {**training, **(spec.get("model") or {})}
    preset = get_preset(overrides.pop("preset", "cpu-tiny")).replace(**overrides)
    ev = dict(spec.get("eval") or {})
    n_eval = ev.get("examples")
    batch = int(ev.get("batch_size", 256))
    root = spec.get("root")

    train_ds = _dataset(ds_name, "train", root)
    if n_train is not None and n_train < len(train_ds):
        # a fixed, stratified subset: the same images for every architecture and seed
        train_ds = train_ds.take(int(n_train), seed=0)
    test_ds = _dataset(ds_name, "test", root)
    info = train_ds.info
    prefix = f"{ds_name}/"

    def make() -> torch.nn.Module:
        return build_network(
            job.uid,
            C=preset.C,
            N=preset.N,
            **info.model_kwargs(),
        )

    out: dict[str, float] = {}
    torch.manual_seed(job.seed)
    model = make().to(device)
    out[prefix + "params"] = float(count_params(model))
    out[prefix + "flops"] = float(count_flops(model, input_size=(info.channels, *info.image_size)))

    if spec.get("measures"):
        from robnas.measures import compute_measures, measure_batch
        from robnas.runner.measure_job import init_metric, measure_metrics, trained_metric

        mx, my, _ = measure_batch(ds_name, int(ev.get("measure_batch", 64)), job.seed, root)
        mx, my = mx.to(device), my.to(device)
        options = spec.get("measure_options") or None
        flags: dict[str, str] = {}
        values = compute_measures(
            list(spec["measures"]), make, mx, my, seed=job.seed, options=options, flags=flags
        )
        out.update(measure_metrics(values, flags, lambda c: init_metric(ds_name, c)))
        torch.manual_seed(job.seed)
        model = make().to(device)

    t0 = time.perf_counter()
    history = train(model, train_ds, None, preset, seed=job.seed, device=device, progress=False)
    out[prefix + "train-seconds"] = time.perf_counter() - t0
    if history.final is not None:
        out[prefix + "train-accuracy"] = float(history.final.train_acc)

    model.eval()
    if spec.get("measures"):
        from robnas.measures import measure_trained

        flags = {}
        trained = measure_trained(
            list(spec["measures"]), model, mx, my, seed=job.seed, options=options, flags=flags
        )
        # sizes come from robnas.models (count_params, count_flops): a measure of the same name
        # (the zero-cost "params" and "flops" proxies) does not overwrite them
        trained = {k: v for k, v in trained.items() if prefix + k not in out}
        out.update(measure_metrics(trained, flags, lambda c: trained_metric(ds_name, c)))
        model.eval()
    from robnas.attacks import canonical_attack_name
    from robnas.attacks.evaluate import eps_label
    from robnas.runner.config import attack_plans

    plans = attack_plans(spec.get("attacks") or {})
    if plans:
        # one evaluation call for all attacks: per-image worst case per epsilon (worst@8) and the
        # gradient-masking checks (masking-<check>, 1 passed / 0 flagged) reach the store too;
        # metric names come from the epsilons as configured (1/255 units), never a float lookup
        res = evaluate_robustness(
            model,
            test_ds,
            {plan.name: {"eps": list(plan.eps), **plan.kwargs()} for plan in plans},
            n=n_eval,
            batch_size=batch,
            device=device,
            seed=job.seed,
            checks=bool(ev.get("checks", True)),
        )
        metrics = res.metrics()
        # an attack run with settings from the configuration is named by them (pgd-k20@8)
        for plan in plans:
            if not plan.settings:
                continue
            canonical = canonical_attack_name(plan.name)
            for eps in plan.eps:
                old = f"{canonical}@{eps_label(eps / 255)}"
                if old in metrics:
                    metrics[plan.metric(canonical, eps)] = metrics.pop(old)
        out.update({prefix + k: float(v) for k, v in metrics.items()})
    else:
        out[prefix + "clean"] = float(_clean_accuracy(model, test_ds, n_eval, batch, device))
    corruptions = spec.get("corruptions") or {}
    for name, sevs in corruptions.items():
        if ev.get("corruption_source", "generated") == "released":
            from robnas.data.corrupted import released_corruption_accuracy

            acc = released_corruption_accuracy(
                model, ds_name, [name], list(sevs), root=root, n=n_eval, batch_size=batch, device=device
            )
        else:
            acc = evaluate_corruptions(
                model, test_ds, [name], list(sevs), n=n_eval, batch_size=batch, device=device, seed=job.seed
            )
        for s in sevs:
            out[f"{prefix}{name}#{s}"] = float(acc[name][s])
    return out


def _clean_accuracy(model: Any, ds: Any, n: int | None, batch: int, device: str) -> float:
    images, labels = torch.as_tensor(ds.images), torch.as_tensor(ds.labels)
    if n is not None:
        images, labels = images[:n], labels[:n]
    correct = 0
    with torch.no_grad():
        for i in range(0, len(labels), batch):
            xb = images[i : i + batch].to(device).float().div(255)
            correct += int((model(xb).argmax(1).cpu() == labels[i : i + batch].long()).sum())
    return correct / max(len(labels), 1)
