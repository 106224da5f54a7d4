"""The results store as a benchmark source: one value per architecture and metric.

:class:`StoreSource` answers the same questions as the released benchmarks
(:mod:`robnas.benchmarks`): ``values(metric)`` is a float array over all 15,625 NAS-Bench-201
indices, NaN where nothing was measured, the mean over seeds where several were, and isomorphic
architectures share the value of their class (results are stored by uid).

**Protocols never mix.** A store may hold results of several protocols (a quickstart re-run with
other epochs, two builds writing one file). Values are read for one protocol only: the one given
(a hash, a unique prefix of one, or ``"latest"``: the protocol whose configuration was stored
last), else the only one present; asking for a metric measured under several protocols without
choosing one is an error that lists them. :meth:`StoreSource.protocols` describes each: its
training regime (from its training objective, see :func:`regime_of_config`), preset, epochs.

**Timings are job metadata, not metrics.** Values whose name ends in ``-seconds`` (the builder's
``DATASET/train-seconds``) change on every run and machine; :meth:`StoreSource.metrics` leaves
them out (so no benchmark query, ranking or correlation uses them) and
:meth:`StoreSource.job_metadata` returns them per job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robnas.errors import ConfigError, RobnasError
from robnas.spaces import nb201
from robnas.spaces.nb201 import NUM_ARCHS
from robnas.store.db import ResultStore

if TYPE_CHECKING:
    import pandas as pd

LATEST = "latest"
TIMING_SUFFIX = "-seconds"
"""Metric names ending in this are timings: job metadata, never benchmark metrics."""

ADVERSARIAL_OBJECTIVES = ("pgd-at", "fgsm-rs", "trades")
"""Training objectives that train on adversarial examples only (TRADES: a clean term plus a
robustness regulariser on adversarial examples; the benchmarks call this adversarial training)."""


class UnknownStoreMetricError(RobnasError, KeyError):
    """A metric the store holds no values for."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def uid_table() -> np.ndarray:
    """``uid_table()[i]`` is the uid of NAS-Bench-201 index ``i``."""
    return np.asarray(nb201.uid_table(), dtype=np.int32)


def is_timing(metric: str) -> bool:
    """Whether ``metric`` is a timing (job metadata), e.g. ``digits/train-seconds``."""
    return str(metric).split("/")[-1].endswith(TIMING_SUFFIX) or str(metric).endswith(TIMING_SUFFIX)


def training_of_config(body: dict[str, Any]) -> dict[str, Any]:
    """The training settings of a stored build configuration: preset, objective, beta, epochs.

    The preset's fields fill what the configuration does not override. Reading the presets
    imports :mod:`robnas.training` (and torch), so this is only called when a regime is shown.
    """
    training = dict(body.get("training") or {})
    out: dict[str, Any] = {"preset": training.get("preset")}
    try:
        from robnas.training.presets import get_preset

        preset = get_preset(str(training.get("preset", "cpu-tiny")))
        out.update(objective=preset.objective, beta=preset.beta, epochs=preset.epochs)
    except (ImportError, RobnasError, ValueError):  # a preset this robnas does not know
        out.update(objective=None, beta=None, epochs=None)
    for key in ("objective", "beta", "epochs"):
        if key in training:
            out[key] = training[key]
    return out


def regime_of_config(body: dict[str, Any]) -> str:
    """The training regime of a build: ``standard``, ``adversarial``, ``mixed`` or another word.

    From the training objective (not from a flag): ``standard`` -> standard; ``pgd-at``,
    ``fgsm-rs``, ``trades`` -> adversarial; ``mixed`` (Wu et al.'s beta-mix of clean and PGD
    losses) -> mixed, except beta 0 (standard) and beta 1 (adversarial). A ``synthetic`` build
    trains nothing (``synthetic``); an objective robnas does not know is ``unknown``.
    """
    if str(body.get("kind", "train-attack")) == "synthetic":
        return "synthetic"
    tr = training_of_config(body)
    objective = str(tr.get("objective") or "").lower()
    if objective == "standard":
        return "standard"
    if objective in ADVERSARIAL_OBJECTIVES:
        return "adversarial"
    if objective == "mixed":
        beta = tr.get("beta")
        if beta is not None and float(beta) == 0.0:
            return "standard"
        if beta is not None and float(beta) == 1.0:
            return "adversarial"
        return "mixed"
    return "unknown"


class StoreSource:
    """Read a results database as a benchmark source.

    ``protocol`` selects one protocol: a hash (or a unique prefix), or ``"latest"``. Without it,
    a store that holds one protocol is read as is, and a metric measured under several protocols
    is refused with the list of hashes.
    """

    name = "store"

    def __init__(self, path: str | os.PathLike[str] | ResultStore, protocol: str | None = None) -> None:
        if isinstance(path, ResultStore):
            self.store = path
        else:
            self.store = ResultStore(Path(path), readonly=True)
        self._uids: np.ndarray | None = None
        self.protocol = self.resolve_protocol(protocol)

    # ------------------------------------------------------------------ protocols
    def _configs_by_protocol(self) -> dict[str, tuple[float, dict[str, Any]]]:
        """``{protocol: (created, configuration body)}``, the last stored body of each protocol."""
        out: dict[str, tuple[float, dict[str, Any]]] = {}
        for protocol, body, created in self.store.execute(
            "SELECT protocol, body, created FROM configs ORDER BY created, config_hash"
        ):
            try:
                out[str(protocol)] = (float(created), json.loads(body))
            except (TypeError, ValueError):
                out[str(protocol)] = (float(created), {})
        return out

    def resolve_protocol(self, protocol: str | None) -> str | None:
        """A protocol choice -> a full hash present in the store (``None`` stays ``None``)."""
        if protocol is None or not str(protocol).strip():
            return None
        present = self.store.protocols()
        choice = str(protocol).strip()
        if choice.lower() == LATEST:
            if not present:
                raise ConfigError(f"{self.store.path} holds no results yet, so it has no latest protocol")
            configs = self._configs_by_protocol()
            # the protocol whose configuration was stored last (builds store it when they start);
            # protocols without a stored configuration count as oldest
            return max(present, key=lambda p: (configs.get(p, (-1.0, {}))[0], p))
        matches = [p for p in present if p == choice] or [p for p in present if p.startswith(choice)]
        if len(matches) == 1:
            return matches[0]
        listing = ", ".join(present) or "none"
        if not matches:
            raise ConfigError(
                f"{self.store.path} has no protocol {choice!r}; protocols present: {listing} "
                "(or use --protocol latest)"
            )
        raise ConfigError(
            f"protocol prefix {choice!r} is ambiguous in {self.store.path}: {', '.join(matches)}"
        )

    def protocols(self) -> list[dict[str, Any]]:
        """Every protocol present: hash, regime, objective, preset, epochs, dataset, results, created."""
        configs = self._configs_by_protocol()
        counts = dict(self.store.execute("SELECT protocol, count(*) FROM results GROUP BY protocol"))
        out = []
        for p in self.store.protocols():
            created, body = configs.get(p, (None, {}))
            tr = training_of_config(body) if body else {}
            out.append(
                {
                    "protocol": p,
                    "regime": regime_of_config(body) if body else "unknown",
                    "objective": tr.get("objective"),
                    "preset": tr.get("preset"),
                    "epochs": tr.get("epochs"),
                    "dataset": body.get("dataset"),
                    "kind": body.get("kind"),
                    "results": int(counts.get(p, 0)),
                    "created": created,
                }
            )
        return out

    def regime(self) -> str:
        """Training regime of the chosen protocol (or of all protocols present, if they agree)."""
        infos = self.protocols()
        chosen = [i for i in infos if self.protocol is None or i["protocol"] == self.protocol]
        regimes = sorted({i["regime"] for i in chosen})
        if len(regimes) == 1:
            return regimes[0]
        return "mixed protocols (" + ", ".join(regimes) + ")" if regimes else "unknown"

    # ------------------------------------------------------------------ metrics and values
    def metrics(self) -> list[str]:
        """Names of the metrics present (under the chosen protocol), timings left out."""
        if self.protocol is None:
            names = self.store.metrics()
        else:
            names = [
                r[0]
                for r in self.store.execute(
                    "SELECT DISTINCT metric FROM results WHERE protocol = ? ORDER BY metric", (self.protocol,)
                )
            ]
        return [m for m in names if not is_timing(m)]

    def has(self, metric: str) -> bool:
        return str(metric) in self.metrics()

    def uids(self) -> np.ndarray:
        """``uids()[i]`` is the isomorphism-class representative of index ``i``."""
        if self._uids is None:
            self._uids = uid_table()
        return self._uids

    def _protocol_for(self, metric: str) -> str | None:
        found = self.store.protocols(metric)
        if not found:
            known = ", ".join(self.metrics()) or "none yet"
            raise UnknownStoreMetricError(
                f"{self.store.path} holds no values of metric {metric!r} (metrics present: {known})"
            )
        if self.protocol is not None:
            if self.protocol not in found:
                raise UnknownStoreMetricError(
                    f"{self.store.path} has metric {metric!r} under protocol(s) {', '.join(found)}, "
                    f"not {self.protocol}"
                )
            return self.protocol
        if len(found) > 1:
            raise ConfigError(
                f"{self.store.path} holds {metric!r} under {len(found)} protocols ({', '.join(found)}); "
                "results of different protocols are never averaged: choose one with "
                "--protocol HASH or --protocol latest (Python: protocol=...)"
            )
        return found[0]

    def values(self, metric: str) -> np.ndarray:
        """Mean over seeds of ``metric`` for all 15,625 indices (float64; NaN where absent)."""
        metric = str(metric)
        means = self.store.seed_means(metric, self._protocol_for(metric))
        by_uid = np.full(NUM_ARCHS, np.nan)
        if means:
            keys = np.fromiter(means.keys(), dtype=np.int64, count=len(means))
            by_uid[keys] = np.fromiter(means.values(), dtype=np.float64, count=len(means))
        return by_uid[self.uids()]

    def measured_indices(self, metric: str) -> np.ndarray:
        """Indices that are class representatives and have a value of ``metric``."""
        vals = self.values(metric)
        return np.flatnonzero(np.isfinite(vals) & (self.uids() == np.arange(NUM_ARCHS)))

    def job_metadata(self) -> pd.DataFrame:
        """Per job: uid, dataset, protocol, seed, job duration (s) and every timing value stored."""
        import pandas as pd

        rows = self.store.execute(
            "SELECT job_key, uid, dataset, protocol, seed, metric, value, duration FROM results"
            + (" WHERE protocol = ?" if self.protocol else "")
            + " ORDER BY job_key, metric",
            (self.protocol,) if self.protocol else (),
        )
        jobs: dict[str, dict[str, Any]] = {}
        for key, uid, dataset, protocol, seed, metric, value, duration in rows:
            job = jobs.setdefault(
                key,
                {"job": key, "uid": uid, "dataset": dataset, "protocol": protocol, "seed": seed,
                 "job-seconds": duration},
            )  # fmt: skip
            if is_timing(metric):
                job[metric.split("/")[-1]] = value
        return pd.DataFrame(list(jobs.values()))
