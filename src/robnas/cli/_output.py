"""What every ``robnas`` command shares in its output: ``--json``, ``--plain``, ``--device``.

* :func:`jsonable` / :func:`echo_json`: one JSON writer for every command. Floats lose the
  noise of their binary expansion (:func:`round_float`: values that went through float32 print
  as ``0.4438``, not ``0.4438000023``); NaN and infinities become ``null`` (JSON has neither);
  NumPy scalars and arrays, pandas objects, paths, sets and dataclasses become plain JSON.
* :func:`table`: a rich table whose columns never wrap a token (an architecture string stays on
  one line), or, with ``--plain``, tab-separated lines that other tools can read.
* :func:`device_option`: ``--device`` with ``auto`` as the default of every command; commands
  resolve and check it with :func:`robnas.checks.check_device`.

Choice: a fixed number of significant digits would either keep float32 noise (8 digits print
``float32(0.7)`` as ``0.69999999``) or cut exact float64 values (6 digits turn 155.584192 MFLOPs
into 155.584). So a value that float32 represents exactly is printed as the shortest decimal
that gives back that float32 (6 to 9 digits, what NumPy prints for a float32), and any other
value with 12 significant digits, which removes float64 arithmetic noise only.
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

import typer

JSON_DIGITS = 12

JSON_HELP = "Print JSON instead of text."
PLAIN_HELP = "Print tab-separated lines instead of a table."
DEVICE_HELP = "Torch device: auto (cuda when available, else cpu), cpu, cuda or cuda:N."


def json_option(help: str = JSON_HELP) -> Any:
    """The ``--json`` flag (a flag: ``--json``, never ``--json true``)."""
    return typer.Option(False, "--json", help=help)


def plain_option(help: str = PLAIN_HELP) -> Any:
    """The ``--plain`` flag: tab-separated output for pipes and spreadsheets."""
    return typer.Option(False, "--plain", help=help)


def device_option(help: str = DEVICE_HELP) -> Any:
    """The ``--device`` option, ``auto`` by default everywhere."""
    return typer.Option("auto", "--device", help=help)


def _float32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def round_float(x: float, digits: int = JSON_DIGITS) -> float | None:
    """``x`` without the noise of its binary expansion; ``None`` for NaN and infinities.

    A value that a float32 holds exactly (accuracies from benchmark files and from tensors) is
    written with the fewest digits that give back the same float32 (``0.4438000023 -> 0.4438``);
    any other value with ``digits`` significant digits (``0.1 + 0.2 -> 0.3``, while
    ``155.584192`` stays as it is).
    """
    if not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    try:
        exact32 = _float32(x) == x
    except OverflowError:
        exact32 = False
    if exact32:
        for d in range(6, 10):
            short = float(f"{x:.{d}g}")
            if _float32(short) == x:
                return short
    return float(f"{x:.{digits}g}")


def jsonable(obj: Any, digits: int = JSON_DIGITS) -> Any:
    """``obj`` as plain JSON values, floats rounded (see the module docstring)."""
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return round_float(obj, digits)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v, digits) for k, v in obj.items()}
    if isinstance(obj, PurePath):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        return jsonable(to_dict() if callable(to_dict) else dataclasses.asdict(obj), digits)
    mod = type(obj).__module__.split(".")[0]
    if mod == "numpy":
        import numpy as np

        if isinstance(obj, np.ndarray):
            return [jsonable(v, digits) for v in obj.tolist()]
        if isinstance(obj, np.generic):
            return jsonable(obj.item(), digits)
    if mod == "pandas":
        if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # DataFrame: records
            return [jsonable(r, digits) for r in obj.to_dict(orient="records")]
        if hasattr(obj, "to_dict"):  # Series
            return jsonable(obj.to_dict(), digits)
        if hasattr(obj, "isoformat"):
            return obj.isoformat()
    if mod == "torch" and hasattr(obj, "tolist"):
        return jsonable(obj.tolist(), digits)
    if isinstance(obj, Sequence | set | frozenset):
        return [jsonable(v, digits) for v in obj]
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict(), digits)
    return str(obj)


def dumps(obj: Any, indent: int | None = 2) -> str:
    """JSON text of ``obj`` (strict: no NaN or Infinity can appear)."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False)


def echo_json(obj: Any) -> None:
    """Print ``obj`` as JSON on standard output."""
    typer.echo(dumps(obj))


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    plain: bool = False,
    justify: Mapping[str, str] | None = None,
    console: Any = None,
) -> None:
    """Print ``rows`` as a rich table whose cells never wrap, or as TSV with ``plain``.

    Cells and the title are printed with ``str``; rich markup in them is shown as text, never interpreted.
    """
    if plain:
        typer.echo("\t".join(columns))
        for r in rows:
            typer.echo("\t".join("" if v is None else str(v) for v in r))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = Table(title=None if title is None else Text(title))
    for c in columns:
        t.add_column(c, no_wrap=True, justify=(justify or {}).get(c, "left"))  # type: ignore[arg-type]
    for r in rows:
        t.add_row(*(Text("" if v is None else str(v)) for v in r))
    print_wide(t, console or Console(soft_wrap=True))


def print_wide(renderable: Any, console: Any = None) -> None:
    """Print a rich table at its natural width, wider than the console if need be.

    Rich fits a table into the console's width (80 columns when piped) by wrapping or cutting
    cells; an architecture string cut in the middle is wrong output, so the console is widened
    to the table's natural width instead (a terminal then wraps whole lines, never a cell).
    """
    from rich.console import Console
    from rich.measure import Measurement

    console = console or Console(soft_wrap=True)
    need = Measurement.get(console, console.options.update_width(100_000), renderable).maximum
    if need > console.width:
        console = Console(
            file=console.file,
            width=need,
            soft_wrap=True,
            force_terminal=console.is_terminal,
            no_color=console.no_color,
        )
    console.print(renderable, crop=False)
