"""The build configuration: which architectures, which protocol, which seeds, where to store.

A configuration is a YAML file (or a dict) read into :class:`BuildConfig`; every field is
validated with a message that names the field and says what to write instead. Example::

    kind: train-attack            # job kind: train-attack (default) or synthetic (tests)
    architectures: sample:20      # all | unique | sample:N | 5,17,123 | [index or NAS-Bench-201 string, ...]
    sample_seed: 0                # seed of sample:N
    dataset: digits
    root: null                    # data root (default: $ROBNAS_DATA or the per-user folder)
    model: {C: 8, N: 1}           # optional: override the preset's width C and cells per stage N
    training: cpu-tiny            # a preset name, or {preset: cpu-tiny, epochs: 3, examples: 2000, ...}
    seeds: [0, 1]                 # or a count: 2  (= seeds 0 and 1)
    attacks: {fgsm: [8], pgd: [2, 8]}        # epsilons in units of 1/255
    # or with settings, spelled in the metric names (see AttackPlan): pgd: {eps: [3, 8], steps: 20}
    corruptions: {fog: [3], gaussian_noise: [1, 3]}   # severities 1..5
    measures: []                  # robustness measures at initialisation
    measure_options: {}           # per-measure options, e.g. {hessian: {max_iter: 10}}
    eval: {examples: 500, batch_size: 250}
    output: builds/digits.sqlite
    retries: 1                    # extra attempts of a failed job within one build
    device: auto                  # auto | cpu | cuda

Two hashes identify what was run. The **protocol hash** covers everything that determines a
job's numbers (kind, dataset, model, training, attacks, corruptions, measures, evaluation); it is
part of every result's key, so results of different protocols never mix. The **config hash**
covers the whole configuration (also the architecture list and seeds) and is stored as
provenance. An empty ``measure_options`` is left out of both (configurations written before it
existed keep their hashes). Relative ``output`` and ``root`` paths are relative to the
configuration file.

The architecture grammar (``architectures``) is the one of every command that selects
architectures (``robnas measure --archs`` too): ``all`` or ``unique`` (the 6,466 isomorphism-class
representatives), ``sample:N`` (``N`` of them drawn with ``sample_seed``), one index or
NAS-Bench-201 string, a comma-separated list of indices (``5,17,123``) or a YAML list. Jobs run on
the representative (uid) of each architecture's class, each once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robnas.errors import ConfigError, MissingFileError
from robnas.spaces.nb201 import Arch, sample_indices, unique_indices

SEVERITIES = (1, 2, 3, 4, 5)
DEVICES = ("auto", "cpu", "cuda")
_SAMPLE = re.compile(r"^sample\s*:\s*(\d+)$")

FIELDS = (
    "name",
    "kind",
    "architectures",
    "sample_seed",
    "dataset",
    "root",
    "model",
    "training",
    "seeds",
    "attacks",
    "corruptions",
    "measures",
    "measure_options",
    "eval",
    "synthetic",
    "output",
    "retries",
    "device",
)

PROTOCOL_FIELDS = (
    "kind",
    "dataset",
    "model",
    "training",
    "attacks",
    "corruptions",
    "measures",
    "measure_options",
    "eval",
    "synthetic",
)
"""Fields that determine a job's numbers (hashed into the protocol)."""


def _bad(field_name: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"build config: {field_name}: {problem}; {fix}")


def _hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class BuildConfig:
    """A validated build configuration (see the module docstring for the YAML form)."""

    architectures: Any = "sample:20"
    dataset: str = "digits"
    kind: str = "train-attack"
    name: str = ""
    sample_seed: int = 0
    root: str | None = None
    model: dict[str, int] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=lambda: {"preset": "cpu-tiny"})
    seeds: tuple[int, ...] = (0,)
    attacks: dict[str, Any] = field(default_factory=dict)
    corruptions: dict[str, tuple[int, ...]] = field(default_factory=dict)
    measures: tuple[str, ...] = ()
    measure_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    synthetic: dict[str, Any] = field(default_factory=dict)
    output: str = "build.sqlite"
    retries: int = 1
    device: str = "auto"

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: str | os.PathLike[str] | None = None) -> BuildConfig:
        """Validate a mapping; relative paths are taken relative to ``base`` (a folder)."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"a build config is a mapping of fields ({', '.join(FIELDS)}), got {type(data).__name__}"
            )
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            import difflib

            hints = [difflib.get_close_matches(u, FIELDS, n=1) for u in unknown]
            hint = "; ".join(
                f"{u!r} (did you mean {h[0]!r}?)" if h else repr(u)
                for u, h in zip(unknown, hints, strict=True)
            )
            raise ConfigError(f"build config: unknown field(s) {hint}; known fields: {', '.join(FIELDS)}")
        d = dict(data)
        kwargs: dict[str, Any] = {}
        kwargs["name"] = str(d.get("name") or "")
        kwargs["kind"] = _kind(d.get("kind", "train-attack"))
        kwargs["sample_seed"] = _int(d.get("sample_seed", 0), "sample_seed", minimum=0, maximum=2**32 - 1)
        kwargs["architectures"] = _architectures(d.get("architectures", "sample:20"))
        kwargs["dataset"] = _name(d.get("dataset", "digits"), "dataset", "e.g. dataset: digits")
        kwargs["root"] = _path(d.get("root"), base)
        kwargs["model"] = _model(d.get("model") or {})
        kwargs["training"] = _training(d.get("training", "cpu-tiny"))
        kwargs["seeds"] = _seeds(d.get("seeds", [0]))
        kwargs["attacks"] = _attacks(d.get("attacks") or {})
        kwargs["corruptions"] = _corruptions(d.get("corruptions") or {})
        kwargs["measures"] = _measures(d.get("measures") or [])
        kwargs["measure_options"] = _measure_options(d.get("measure_options") or {})
        kwargs["eval"] = _mapping(d.get("eval") or {}, "eval", "e.g. eval: {examples: 500, batch_size: 250}")
        kwargs["synthetic"] = _mapping(d.get("synthetic") or {}, "synthetic", "e.g. synthetic: {sleep: 0.1}")
        output = d.get("output", "build.sqlite")
        if not isinstance(output, str | os.PathLike) or not str(output).strip():
            raise _bad(
                "output", f"expected a database path, got {output!r}", "e.g. output: builds/digits.sqlite"
            )
        kwargs["output"] = _path(output, base)
        kwargs["retries"] = _int(d.get("retries", 1), "retries", minimum=0, maximum=100)
        device = str(d.get("device", "auto")).strip().lower()
        if device not in DEVICES and not re.fullmatch(r"cuda:\d+", device):
            raise _bad("device", f"unknown device {device!r}", f"use one of {', '.join(DEVICES)} or cuda:N")
        kwargs["device"] = device
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> BuildConfig:
        """Read and validate a YAML file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MissingFileError(f"build config {p} not found; see examples/build-*.yaml") from None
        except IsADirectoryError:
            raise ConfigError(
                f"build config {p} is a folder; give a YAML file such as examples/build-digits.yaml"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"build config {p} is not valid YAML{where}: {problem}") from None
        if data is None:
            raise ConfigError(f"build config {p} is empty; see examples/build-*.yaml for the fields")
        try:
            return cls.from_dict(data, base=p.parent)
        except ConfigError as exc:
            raise ConfigError(f"{p}: {exc}") from None

    # ------------------------------------------------------------------ derived
    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready form (tuples become lists); an empty ``measure_options`` is left out."""
        d = json.loads(json.dumps(asdict(self)))
        if not d["measure_options"]:
            del d["measure_options"]  # so configurations from before the field keep their hashes
        return d

    def protocol_dict(self) -> dict[str, Any]:
        d = self.to_dict()
        return {k: d[k] for k in PROTOCOL_FIELDS if k in d}

    @property
    def protocol_hash(self) -> str:
        """Hash of what determines the numbers of a job (see the module docstring)."""
        return _hash(self.protocol_dict())

    @property
    def config_hash(self) -> str:
        """Hash of the whole configuration (output path and retries excluded)."""
        d = self.to_dict()
        for k in ("output", "retries"):
            d.pop(k)
        return _hash(d)

    def arch_uids(self) -> list[int]:
        """The distinct uids (isomorphism-class representatives) to build, in first-seen order."""
        spec = self.architectures
        if spec in ("all", "unique"):
            return unique_indices()  # all 15,625 cells fall into these 6,466 classes
        if isinstance(spec, str):
            m = _SAMPLE.match(spec)
            assert m is not None
            indices = sample_indices(int(m[1]), seed=self.sample_seed, unique=True)
        else:
            indices = [Arch.parse(a).index for a in spec]
        seen: dict[int, None] = {}
        for i in indices:
            seen.setdefault(Arch.from_index(i).uid, None)
        return list(seen)

    def with_overrides(self, **changes: Any) -> BuildConfig:
        """A copy with some fields replaced (validated again)."""
        d = self.to_dict()
        d.update(changes)
        return BuildConfig.from_dict(d)


# ---------------------------------------------------------------------- validators
def _kind(value: Any) -> str:
    from robnas.runner.jobs import job_kinds

    kind = str(value).strip().lower()
    if kind not in job_kinds():
        raise _bad("kind", f"unknown job kind {value!r}", f"kinds: {', '.join(job_kinds())}")
    return kind


def _int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, f"expected an integer, got {value!r}", f"e.g. {name}: 1")
    if minimum is not None and value < minimum:
        raise _bad(name, f"must be at least {minimum}, got {value}", f"e.g. {name}: {max(minimum, 1)}")
    if maximum is not None and value > maximum:
        raise _bad(name, f"must be at most {maximum}, got {value}", f"e.g. {name}: {max(minimum or 0, 1)}")
    return value


def _name(value: Any, name: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, f"expected a name, got {value!r}", example)
    return value.strip().lower()


def _path(value: Any, base: str | os.PathLike[str] | None) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    p = Path(str(value)).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return str(p)


def _mapping(value: Any, name: str, example: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(name, f"expected a mapping, got {value!r}", example)
    return {str(k): v for k, v in value.items()}


def _architectures(value: Any) -> Any:
    """The ``architectures`` grammar (see the module docstring), validated: ``"all"``,
    ``"unique"``, ``"sample:N"`` or a list of indices."""
    fix = (
        "write all, unique, sample:N (with sample_seed), indices such as 5,17,123 "
        "or a list of indices / NAS-Bench-201 strings"
    )
    if isinstance(value, str):
        v = value.strip().lower()
        if not v:
            raise _bad("architectures", "no architecture given", fix)
        if v in ("all", "unique"):
            return v
        if "," in v:  # a comma-separated list (NAS-Bench-201 strings have no commas)
            value = [t.strip() for t in value.split(",") if t.strip()]
            return _architectures(value)
        m = _SAMPLE.match(v)
        if v.startswith("sample") and not m:
            raise _bad("architectures", f"{value!r} needs a whole number N in sample:N", fix)
        if m:
            n = int(m[1])
            if not 1 <= n <= 6466:
                raise _bad(
                    "architectures", f"sample:{n} is out of range (1..6466 distinct architectures)", fix
                )
            return f"sample:{n}"
        try:  # a single architecture
            return [Arch.parse(value).index]
        except ValueError as exc:
            raise _bad("architectures", f"cannot read {value!r} ({exc})", fix) from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list | tuple):
        if not value:
            raise _bad("architectures", "the list is empty", fix)
        out = []
        for item in value:
            try:
                out.append(Arch.parse(item).index)
            except ValueError as exc:
                raise _bad("architectures", f"item {item!r}: {exc}", fix) from None
        return out
    raise _bad("architectures", f"cannot read {value!r}", fix)


def _model(value: Any) -> dict[str, int]:
    d = _mapping(value, "model", "e.g. model: {C: 16, N: 5}")
    unknown = set(d) - {"C", "N"}
    if unknown:
        raise _bad(
            "model",
            f"unknown setting(s) {sorted(unknown)}",
            "settings are C (channels) and N (cells per stage)",
        )
    out = {}
    for k, v in d.items():
        out[k] = _int(v, f"model.{k}", minimum=1, maximum=4096 if k == "C" else 256)
    return out


def _training(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"preset": _name(value, "training", "e.g. training: cpu-tiny")}
    d = _mapping(
        value, "training", "write a preset name (training: cpu-tiny) or {preset: cpu-tiny, epochs: 3}"
    )
    if "preset" in d:
        d["preset"] = _name(d["preset"], "training.preset", "e.g. preset: cpu-tiny")
    return d


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 10_000:
            raise _bad(
                "seeds",
                f"a seed count must be at least 1 and at most 10000, got {value}",
                "e.g. seeds: 3 or seeds: [0, 1, 2]",
            )
        return tuple(range(value))
    if isinstance(value, list | tuple) and value:
        seeds = tuple(_int(s, "seeds", minimum=0, maximum=2**32 - 1) for s in value)
        if len(set(seeds)) != len(seeds):
            raise _bad("seeds", f"repeated seed in {list(seeds)}", "list each seed once")
        return seeds
    raise _bad("seeds", f"expected a count or a list of seeds, got {value!r}", "e.g. seeds: [0, 1, 2]")


def _epsilon(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(where, f"epsilon {value!r} is not a number", "epsilons are in units of 1/255, e.g. [2, 8]")
    eps = float(value)
    if 0 < eps < 0.1:
        raise _bad(
            where,
            f"epsilon {value!r} looks like a fraction of 1 (8/255 = 0.031)",
            "epsilons are in units of 1/255: write 8 for 8/255 (smallest 0.1)",
        )
    if not 0 < eps <= 255:
        raise _bad(
            where, f"epsilon {value!r} is out of range", "epsilons are in units of 1/255, in [0.1, 255]"
        )
    return eps


ATTACK_SETTINGS: dict[str, str] = {"steps": "k", "step_size": "a", "restarts": "r", "n_queries": "q"}
"""Attack settings a build configuration may give, and the tag each adds to the metric name."""


@dataclass(frozen=True)
class AttackPlan:
    """One attack of a build: its name as configured, epsilons and settings (both in 1/255 units).

    **Metric names never promise a protocol that did not run.** Without settings the metric is
    ``<attack>@<eps>`` and means robnas's attack with its defaults (``pgd``: 10 steps of
    ``2.5 eps / 10`` from one random start, early stopping). Every setting the configuration gives
    is spelled in the name, in the order steps (``k``), step size (``a``, in 1/255), restarts
    (``r``), queries (``q``): ``pgd: {eps: [8], steps: 20}`` writes ``pgd-k20@8`` (20 steps of
    ``2.5 eps / 20``, the definition of NAS-RobBench-201's ``pgd@8`` column), ``pgd: {eps: [8],
    steps: 7, step_size: 2}`` writes ``pgd-k7-a2@8``.
    """

    name: str
    eps: tuple[float, ...]
    settings: dict[str, float] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`robnas.attacks.get_attack` (step size in pixel units)."""
        out: dict[str, Any] = {}
        for k, v in self.settings.items():
            out[k] = v / 255 if k == "step_size" else int(v)
        return out

    def metric(self, attack: str, eps: float) -> str:
        """The metric name (without dataset) of ``attack`` (the canonical name) at ``eps``."""
        tag = "".join(
            f"-{ATTACK_SETTINGS[k]}{_number(self.settings[k])}" for k in ATTACK_SETTINGS if k in self.settings
        )
        return f"{attack}{tag}@{_number(eps)}"


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def attack_plans(attacks: Mapping[str, Any]) -> list[AttackPlan]:
    """The validated ``attacks`` field of a configuration as :class:`AttackPlan` values."""
    plans = []
    for name, value in attacks.items():
        if isinstance(value, Mapping):
            settings = {k: v for k, v in value.items() if k != "eps"}
            plans.append(AttackPlan(name, tuple(value["eps"]), settings))
        else:
            plans.append(AttackPlan(name, tuple(value)))
    return plans


def _attacks(value: Any) -> dict[str, Any]:
    """``{name: (eps, ...)}``, or ``{name: {"eps": (eps, ...), setting: value}}`` when settings
    are given (the plain form keeps the protocol hashes of earlier configurations)."""
    fix = "e.g. attacks: {pgd: [2, 8], fgsm: [8]} or {pgd: {eps: [3, 8], steps: 20}} (epsilons in 1/255)"
    d = _mapping(value, "attacks", fix)
    out: dict[str, Any] = {}
    for name, spec in d.items():
        key = name.strip().lower()
        settings: dict[str, float] = {}
        if isinstance(spec, Mapping):
            unknown = sorted(set(map(str, spec)) - {"eps", *ATTACK_SETTINGS})
            if unknown:
                raise _bad(
                    f"attacks.{key}",
                    f"unknown setting(s) {unknown}",
                    f"settings: eps, {', '.join(ATTACK_SETTINGS)} (step_size in units of 1/255)",
                )
            if "eps" not in spec:
                raise _bad(f"attacks.{key}", "no epsilons", f"e.g. {key}: {{eps: [3, 8], steps: 20}}")
            for k in ATTACK_SETTINGS:
                if k not in spec:
                    continue
                v = spec[k]
                if k == "step_size":
                    settings[k] = _epsilon(v, f"attacks.{key}.step_size")
                else:
                    settings[k] = _int(v, f"attacks.{key}.{k}", minimum=1)
            spec = spec["eps"]
        eps_list = spec if isinstance(spec, list | tuple) else [spec]
        if not eps_list:
            raise _bad(f"attacks.{key}", "no epsilons", "e.g. pgd: [2, 8]")
        eps = tuple(sorted({_epsilon(e, f"attacks.{key}") for e in eps_list}))
        out[key] = {"eps": eps, **settings} if settings else eps
    return out


def _corruptions(value: Any) -> dict[str, tuple[int, ...]]:
    fix = "e.g. corruptions: {fog: [3], gaussian_noise: [1, 3]} (severities 1..5)"
    if isinstance(value, list | tuple):  # a list of names: all severities
        value = {str(v): list(SEVERITIES) for v in value}
    d = _mapping(value, "corruptions", fix)
    out = {}
    for name, sev in d.items():
        key = name.strip().lower()
        sev_list = sev if isinstance(sev, list | tuple) else [sev]
        sevs = set()
        for s in sev_list:
            if isinstance(s, bool) or s not in SEVERITIES:
                raise _bad(f"corruptions.{key}", f"severity {s!r} is not one of 1..5", fix)
            sevs.add(int(s))
        if not sevs:
            raise _bad(f"corruptions.{key}", "no severities", fix)
        out[key] = tuple(sorted(sevs))
    return out


def _measures(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise _bad(
            "measures", f"expected a list of measure names, got {value!r}", "e.g. measures: [jacobian]"
        )
    return tuple(_name(m, "measures", "e.g. measures: [jacobian]") for m in value)


def _measure_options(value: Any) -> dict[str, dict[str, Any]]:
    """``{measure: {option: value}}`` (names in lower case); whether each measure takes each
    option is checked by the job kind, which knows the measures."""
    fix = "e.g. measure_options: {hessian: {max_iter: 10}, ntk_adv: {eps: 0.0314}}"
    d = _mapping(value, "measure_options", fix)
    out: dict[str, dict[str, Any]] = {}
    for name, opts in d.items():
        key = _name(name, "measure_options", fix)
        out[key] = _mapping(opts, f"measure_options.{key}", fix)
        for k, v in out[key].items():
            if not isinstance(v, str | int | float | bool) and v is not None:
                raise _bad(f"measure_options.{key}.{k}", f"expected a number or a word, got {v!r}", fix)
    return out


def load_config(source: str | os.PathLike[str] | Mapping[str, Any] | BuildConfig) -> BuildConfig:
    """A :class:`BuildConfig` from a YAML path, a mapping, or an existing config."""
    if isinstance(source, BuildConfig):
        return source
    if isinstance(source, Mapping):
        return BuildConfig.from_dict(source)
    return BuildConfig.from_yaml(source)


__all__ = ["ATTACK_SETTINGS", "AttackPlan", "BuildConfig", "attack_plans", "load_config"]
