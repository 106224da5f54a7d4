"""Checkpoint files that load without executing anything and that detect corruption.

A checkpoint holds plain values only (dicts, lists, strings, numbers, booleans, ``None`` and
tensors), so it loads with ``torch.load(..., weights_only=True)``: PyTorch's restricted
unpickler, which builds tensors and containers and refuses every other global. A crafted file
whose pickle would call ``os.system`` is refused before anything runs.

The file is a sealed envelope, itself a ``torch.save`` file of plain values::

    {"envelope": "robnas-sealed/1", "sha256": "<hex>", "payload": <uint8 tensor>}

``payload`` is the ``torch.save`` serialisation of the state, and ``sha256`` its digest. Both
layers load with ``weights_only=True``; the digest is checked before the inner layer is read, so
overwritten bytes are reported as corruption instead of loading as different weights. Choice:
the checksum lives inside the file (not in a file beside it) so that one ``os.replace`` makes the
write atomic and a copied checkpoint keeps its checksum; the envelope stays an ordinary
``torch.save`` file, so other tools can still open it. The cost is one extra copy of the state in
memory while saving and loading, small for the networks robnas trains.

Every failure is a :class:`~robnas.errors.DataError` with one line that says what to do.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from robnas.errors import DataError

ENVELOPE = "robnas-sealed/1"


def plain(value: Any) -> Any:
    """``value`` with string subclasses (``torch.__version__``, enums of str) turned into ``str``
    and tuples into lists, recursively; tensors, numbers and ``OrderedDict`` state dicts (whose
    ``_metadata`` ``load_state_dict`` reads) are kept as they are."""
    if isinstance(value, torch.Tensor | OrderedDict | bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``state`` sealed to ``path`` atomically (a temporary file, then ``os.replace``)."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = bytearray(buf.getbuffer())
    envelope = {
        "envelope": ENVELOPE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "payload": torch.frombuffer(data, dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8),
    }
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(envelope, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp.is_file():
            tmp.unlink()
        raise DataError(f"cannot write the checkpoint {path}: {exc.strerror or exc}") from None


def _safe_load(source: Any, map_location: Any) -> Any:
    with warnings.catch_warnings():  # e.g. "pickle protocol 4" for a raw pickle that is refused anyway
        warnings.simplefilter("ignore")
        return torch.load(source, map_location=map_location, weights_only=True)


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """The state stored by :func:`save_checkpoint` at ``path``; :class:`DataError` for a file that
    is missing, foreign, of an older robnas, corrupt, or holds anything but plain values."""
    p = Path(path)
    again = "train (or search) again into a new folder"
    try:
        outer = _safe_load(p, "cpu")
    except FileNotFoundError:
        raise DataError(f"no checkpoint at {p}") from None
    except IsADirectoryError:
        raise DataError(f"{p} is a folder, not a checkpoint file") from None
    except OSError as exc:
        raise DataError(f"cannot read the checkpoint {p}: {exc.strerror or exc}") from None
    except pickle.UnpicklingError:
        raise DataError(
            f"{p} holds objects that robnas does not load (an older robnas checkpoint, or a "
            f"foreign or crafted file); nothing in it was run; {again}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any parse failure of a user file is a data error
        raise DataError(
            f"{p} cannot be read as a robnas checkpoint (truncated or foreign: "
            f"{exc.__class__.__name__}); {again}"
        ) from None
    if not isinstance(outer, dict) or outer.get("envelope") != ENVELOPE:
        raise DataError(
            f"{p} is not a robnas checkpoint (an older robnas version or another program wrote it); {again}"
        )
    payload, digest = outer.get("payload"), outer.get("sha256")
    if not isinstance(payload, torch.Tensor) or payload.dtype != torch.uint8 or not isinstance(digest, str):
        raise DataError(f"{p} is a damaged robnas checkpoint (its envelope is incomplete); {again}")
    data = payload.contiguous().numpy().tobytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise DataError(
            f"{p} is corrupt (its checksum does not match its contents); {again} or restore the file"
        )
    try:
        state = _safe_load(io.BytesIO(data), map_location)
    except Exception as exc:  # noqa: BLE001 - a sealed but unreadable payload
        raise DataError(
            f"{p} is a robnas checkpoint whose contents cannot be read ({exc.__class__.__name__}); {again}"
        ) from None
    if not isinstance(state, dict):
        raise DataError(f"{p} is not a robnas checkpoint (its contents are not a state); {again}")
    return state
