"""Checks of values that many commands share, made before any work starts.

Devices: one check for every ``--device`` / ``device:`` value.

``check_device("cuda:1")`` returns the device string torch will use, or raises
:class:`~robnas.errors.ConfigError` with one line: an unknown name, a malformed index, CUDA or MPS
asked for where torch cannot see it, or an index beyond the GPUs present. ``auto`` becomes
``cuda`` when torch sees a GPU, else ``cpu``.

Seeds: :func:`check_seed` accepts 0 .. 2**32 - 1, the range of NumPy's legacy generator (torch
takes more, but a seed both libraries accept keeps every run reproducible by either).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from robnas.errors import ConfigError, DataError

_CUDA = re.compile(r"^cuda(?::(\d+))?$")
KNOWN = "auto, cpu, cuda, cuda:N or mps"


def check_device(value: object, what: str = "--device") -> str:
    """The torch device string for ``value`` (see the module docstring)."""
    text = str(value).strip().lower() if value is not None else ""
    if text in ("", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return "cpu"
    m = _CUDA.match(text)
    if m:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"{what} {value} was given but torch sees no CUDA device; use {what} cpu or auto"
            )
        if m[1] is not None and int(m[1]) >= torch.cuda.device_count():
            raise ConfigError(
                f"{what} {value}: there are {torch.cuda.device_count()} CUDA device(s), numbered from 0"
            )
        return text
    if text == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise ConfigError(f"{what} mps was given but torch sees no MPS device; use {what} cpu or auto")
        return text
    raise ConfigError(f"unknown {what} {value!r}; use {KNOWN}")


MAX_SEED = 2**32 - 1


def check_seed(value: int, what: str = "--seed") -> int:
    """``value`` if it is a whole number in 0 .. 2**32 - 1; :class:`ConfigError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{what} must be a whole number between 0 and {MAX_SEED}, got {value!r}")
    return value


def check_range(value: int | float | None, what: str, lo: float, hi: float) -> None:
    """:class:`ConfigError` unless ``value`` (when given) lies in ``[lo, hi]``; the bounds of sizes
    (channels, cells, images) refuse absurd values that would only end in an out-of-memory error."""
    if value is None:
        return
    if isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"{what} must be at least {lo:g} and at most {hi:g}, got {value!r}")


def check_network_size(C: int | None, N: int | None) -> None:
    """Channels ``--C`` in 1..4096 and cells per stage ``--N`` in 1..256."""
    check_range(C, "--C (channels)", 1, 4096)
    check_range(N, "--N (cells per stage)", 1, 256)


@contextmanager
def writing(path: object, what: str = "") -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` (a folder given as a file, a full disk,
    a read-only place, a missing parent) into one :class:`DataError` line."""
    try:
        yield
    except OSError as exc:
        label = f"{what} {path}" if what else str(path)
        raise DataError(f"cannot write {label}: {exc.strerror or exc}") from None
