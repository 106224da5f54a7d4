"""Small helpers used across packages: atomic file writes and reading user JSON (epsilon labels:
:func:`robnas.units.format_epsilon`).

Kept free of torch, NumPy and pandas so that any package may import it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from robnas.errors import DataError, MissingFileError

PathLike = str | os.PathLike[str]


def _read_umask() -> int:
    umask = os.umask(0o022)  # the only way to read it; done once, at import, before any threads
    os.umask(umask)
    return umask


_UMASK = _read_umask()


def atomic_write(path: PathLike, content: bytes | str | Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` all at once: readers see the old file or the new one, never half of one.

    ``content`` is bytes, text (UTF-8) or a function that writes to a binary file object (e.g.
    ``lambda fh: torch.save(state, fh)``). The data go to a temporary file in the same folder,
    which then replaces ``path`` (``os.replace`` is atomic on POSIX and Windows); on any failure
    the temporary file is removed and ``path`` is untouched. The folder is created if needed.
    The file gets the permissions of an ordinary ``open()`` (``0666`` minus the umask).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp creates 0600; an ordinary open() gives this
        with os.fdopen(fd, "wb") as fh:
            if isinstance(content, str):
                fh.write(content.encode("utf-8"))
            elif isinstance(content, bytes | bytearray):
                fh.write(content)
            else:
                content(fh)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_json(path: PathLike, payload: Any, indent: int | None = None) -> Path:
    """:func:`atomic_write` of ``payload`` as JSON."""
    return atomic_write(path, json.dumps(payload, indent=indent))


def read_json(path: PathLike, what: str = "file") -> Any:
    """Read a JSON file the user pointed at; a missing or malformed file is a :class:`DataError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingFileError(f"{what} {p} not found") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {what} {p}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{what} {p} is not valid JSON ({exc.msg} at line {exc.lineno}); is it truncated?"
        ) from None


__all__ = ["atomic_write", "atomic_write_json", "read_json"]
