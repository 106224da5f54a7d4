"""The registry of benchmark sources: looked up by name, one file per source.

Built-in sources are imported lazily from :data:`BUILTIN`; a new source (the project's results
store, the per-seed NAS-RobBench-201 release) is one module whose class is decorated with
:func:`register` and one line in :data:`BUILTIN`.
"""

from __future__ import annotations

import difflib
import importlib
import os
from typing import TypeVar

from robnas.benchmarks.base import BenchmarkSource
from robnas.benchmarks.metrics import Metric, parse_metric
from robnas.errors import ConfigError, RobnasError

BUILTIN: dict[str, str] = {
    "jung2023": "robnas.benchmarks.jung2023",
    "nasrobbench201": "robnas.benchmarks.nasrobbench201",
    "natsbench": "robnas.benchmarks.natsbench",
    "zerocost": "robnas.benchmarks.zerocost",
    "store": "robnas.store.benchmark",
}
"""Source name -> module that registers it."""

_REGISTRY: dict[str, type[BenchmarkSource]] = {}
S = TypeVar("S", bound=type[BenchmarkSource])


class UnknownSourceError(RobnasError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def register(cls: S) -> S:
    """Class decorator: make a :class:`BenchmarkSource` available under ``cls.info.name``."""
    _REGISTRY[cls.info.name] = cls
    return cls


def source_names() -> list[str]:
    """Names of all known sources (built-in and registered)."""
    return sorted(set(BUILTIN) | set(_REGISTRY))


def source_class(name: str) -> type[BenchmarkSource]:
    key = name.strip().lower()
    if key not in _REGISTRY and key in BUILTIN:
        importlib.import_module(BUILTIN[key])
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, source_names(), n=3, cutoff=0.4)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UnknownSourceError(
            f"unknown benchmark source {name!r}{hint} (sources: {', '.join(source_names())})"
        )
    return _REGISTRY[key]


def get_source(
    name: str, root: str | os.PathLike[str] | None = None, protocol: str | None = None
) -> BenchmarkSource:
    """The source ``name`` reading its files below the data root ``root`` (see :mod:`robnas.paths`).

    ``protocol`` (a hash or ``"latest"``) chooses one protocol of a source that holds several
    (the results store); other sources refuse it.
    """
    cls = source_class(name)
    if protocol is None:
        return cls(root)
    if not getattr(cls, "has_protocols", False):
        raise ConfigError(
            f"--protocol applies to a results store (source store), not to {cls.info.name}, "
            "which has one published protocol"
        )
    return cls(root, protocol=protocol)  # type: ignore[call-arg]


def split_spec(spec: str, default_source: str | None = None) -> tuple[str, Metric]:
    """Read ``"SOURCE:METRIC"`` (e.g. ``"jung2023:cifar10/pgd@8"``) into (source name, metric)."""
    text = spec.strip()
    if ":" in text:
        src, _, metric = text.partition(":")
    elif default_source is not None:
        src, metric = default_source, text
    else:
        raise RobnasError(
            f"{spec!r} does not name its source; write SOURCE:METRIC, e.g. jung2023:cifar10/pgd@8 "
            f"(sources: {', '.join(source_names())})"
        )
    source_class(src)  # validates the name
    return src.strip().lower(), parse_metric(metric)
