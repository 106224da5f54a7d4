"""Export a results store in other benchmarks' file layouts.

``jung2023``: the layout of the robustness dataset of Jung, Lukasik and Keuper (ICLR 2023):
``meta.json`` (``ids[str(index)] = {"nb201-string", "isomorph"}`` for all 15,625 indices and
``epsilons[key]`` in units of 1/255) and ``<dataset>/<key>_accuracy.json`` with
``json[dataset][key]["accuracy"][str(uid)]`` = a float (``clean``), a list over
``epsilons[key]`` (attacks) or a list over severities 1..5 (corruptions); ``null`` where a value is
missing. Values are means over seeds. Metrics the layout has no place for (``params``, ``flops``,
timings) are listed in the returned report, not written.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robnas.errors import ConfigError, DataError
from robnas.spaces.nb201 import NUM_ARCHS, Arch, uid_of
from robnas.store.db import ResultStore

JUNG_ATTACK_KEYS: dict[str, str] = {
    "fgsm": "fgsm",
    "pgd": "pgd",
    "apgd-ce": "aa_apgd-ce",
    "square": "aa_square",
}
"""robnas attack name -> name in the Jung et al. files (other attacks keep their name)."""

_NORMS = {"linf": "Linf", "l2": "L2", "l1": "L1"}
_ATTACK = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*?)(?:-(?P<norm>linf|l2|l1))?@(?P<eps>[0-9.eE+-]+)$")
_CORR = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)#(?P<sev>[1-5])$")


@dataclass
class ExportReport:
    """What an export wrote and what it left out."""

    out: Path
    files: list[Path] = field(default_factory=list)
    architectures: int = 0
    skipped_metrics: list[str] = field(default_factory=list)


def _finite(value: Any) -> Any:
    """JSON-safe values: NaN and infinities become ``null`` (strict JSON has no NaN/Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _atomic_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(_finite(payload), fh, allow_nan=False)
        os.replace(tmp, path)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None


def _split(metric: str) -> tuple[str, str, str, float | int | None] | None:
    """``"digits/pgd@8"`` -> (dataset, kind, key, epsilon or severity); None if not exportable."""
    parts = metric.split("/")
    if len(parts) != 2:
        return None
    dataset, body = parts
    if body == "clean":
        return dataset, "clean", "clean", None
    m = _ATTACK.match(body)
    if m:
        key = f"{JUNG_ATTACK_KEYS.get(m['name'], m['name'])}@{_NORMS[m['norm'] or 'linf']}"
        return dataset, "attack", key, float(m["eps"])
    m = _CORR.match(body)
    if m:
        return dataset, "corruption", m["name"], int(m["sev"])
    return None


def export_jung2023(
    store: ResultStore, out: str | os.PathLike[str], protocol: str | None = None
) -> ExportReport:
    """Write the store's results (means over seeds) in the Jung et al. 2023 layout below ``out``."""
    out_dir = Path(out)
    report = ExportReport(out_dir)
    # (dataset, kind, key) -> {position (eps or severity): {uid: value}}
    table: dict[tuple[str, str, str], dict[Any, dict[int, float]]] = defaultdict(dict)
    protocols = store.protocols() if protocol is None else [protocol]
    if protocol is None and len(protocols) > 1:
        raise ConfigError(
            f"{store.path} holds results of {len(protocols)} protocols ({', '.join(protocols)}); "
            "export one at a time with --protocol"
        )
    uids: set[int] = set()
    for metric in store.metrics():
        parsed = _split(metric)
        if parsed is None:
            report.skipped_metrics.append(metric)
            continue
        dataset, kind, key, pos = parsed
        means = store.seed_means(metric, protocols[0] if protocols else None)
        table[(dataset, kind, key)][pos] = means
        uids.update(means)
    epsilons: dict[str, list[float]] = {}
    for (_dataset, kind, key), by_pos in sorted(table.items()):
        if kind == "attack":
            eps = sorted({*epsilons.get(key, []), *by_pos})
            epsilons[key] = eps
    for (dataset, kind, key), by_pos in sorted(table.items()):
        present = sorted({u for values in by_pos.values() for u in values})
        get: Callable[[int], Any]
        if kind == "clean":
            get = by_pos[None].get
        else:
            positions: list[Any] = epsilons[key] if kind == "attack" else [1, 2, 3, 4, 5]

            def get(u: int, positions: list[Any] = positions, by_pos: dict[Any, Any] = by_pos) -> Any:
                return [by_pos.get(p, {}).get(u) for p in positions]

        payload = {dataset: {key: {"accuracy": {str(u): get(u) for u in present}}}}
        path = out_dir / dataset / f"{key}_accuracy.json"
        _atomic_json(path, payload)
        report.files.append(path)
    ids = {}
    for i in range(NUM_ARCHS):
        ids[str(i)] = {"nb201-string": Arch.from_index(i).string, "isomorph": str(uid_of(i))}
    meta_path = out_dir / "meta.json"
    _atomic_json(meta_path, {"ids": ids, "epsilons": epsilons})
    report.files.insert(0, meta_path)
    report.architectures = len(uids)
    return report


EXPORTERS: dict[str, Callable[..., ExportReport]] = {"jung2023": export_jung2023}
"""Layout name -> exporter ``(store, out, protocol=None) -> ExportReport``."""


def export(
    store: ResultStore,
    layout: str,
    out: str | os.PathLike[str],
    protocol: str | None = None,
    force: bool = False,
) -> ExportReport:
    """Export ``store`` in ``layout`` (see :data:`EXPORTERS`) into the folder ``out``.

    An existing non-empty ``out`` is refused unless ``force`` (then files of the same names are
    replaced; others are left alone).
    """
    try:
        exporter = EXPORTERS[layout.strip().lower()]
    except KeyError:
        raise ConfigError(f"unknown export layout {layout!r}; layouts: {', '.join(EXPORTERS)}") from None
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise DataError(f"{target} exists and is not a folder; give a folder to export into")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ConfigError(f"{target} is not empty; give a new folder, or pass --force to overwrite its files")
    return exporter(store, out, protocol=protocol)
