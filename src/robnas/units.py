"""Epsilons for people: the one formatter of an epsilon in units of 1/255.

Inside robnas an epsilon is a float in pixel units (``8 / 255``); at every edge that a person
reads (tables, metric names, messages, plots, help) it is written in units of 1/255 (``8``), as
NAS-RobBench-201 and the Jung et al. release write it. :func:`format_epsilon` is the only place
that turns one into text; it imports nothing.
"""

from __future__ import annotations

__all__ = ["format_epsilon"]


def format_epsilon(eps: float, *, pixels: bool = False, unit: bool = False) -> str:
    """An epsilon in units of 1/255 as short text.

    ``eps`` is in units of 1/255 (``8.0 -> "8"``, ``0.5 -> "0.5"``), or in pixel units with
    ``pixels=True`` (``8 / 255 -> "8"``, ``0.5 / 255 -> "0.5"``); the value is rounded to four
    decimals of 1/255 first so that float noise of the division never shows. ``unit=True``
    appends ``/255`` (``"8/255"``) for prose.
    """
    v = round(float(eps) * 255 if pixels else float(eps), 4)
    text = str(int(v)) if v.is_integer() else f"{v:g}"
    return f"{text}/255" if unit else text
