"""Where robnas finds data: one rule for datasets and benchmark files alike.

The data root is, in order of precedence: the ``root`` argument (``--root`` on the command line),
the ``ROBNAS_DATA`` environment variable, or the per-user data directory
(``$XDG_DATA_HOME/robnas``, by default ``~/.local/share/robnas``). Below the root every dataset
and benchmark has a folder of its own, named as in the released archives, for example
``cifar10/cifar-10-batches-py/``, ``mnist/``, ``robustness-dataset/``, ``nas-robbench-201/``,
``nats-bench/``.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ROBNAS_DATA"


def user_data_dir() -> Path:
    """The per-user data directory."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "robnas"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data root (argument, then ``ROBNAS_DATA``, then the per-user directory)."""
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return user_data_dir()


def cache_dir() -> Path:
    """Directory for derived caches (``$XDG_CACHE_HOME/robnas``); created on demand."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(os.environ.get("ROBNAS_CACHE", Path(base) / "robnas"))
    path.mkdir(parents=True, exist_ok=True)
    return path
