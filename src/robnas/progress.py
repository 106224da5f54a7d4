"""Progress for long work that shows on a terminal and off it.

On a terminal, :func:`make_progress` returns a live :class:`rich.progress.Progress` bar. Off a
terminal (a pipe, a log file, a batch job) a live bar is invisible or garbles the log, so it
returns a :class:`PlainProgress` instead: the same small interface (``add_task``, ``update``,
``advance``, ``remove_task``, ``start``/``stop``, a context manager, ``console``), which prints
one plain line per task whenever another ``every_pct`` percent is done or ``every_s`` seconds
have passed, and a last line when a task finishes::

    [00:01:12] epoch 1/10: 120/500 (24%), ETA 3m 48s  loss 1.902 acc 31.2%

Choices: lines go to standard error (standard output stays clean for ``--json``); a task without
a total prints only on the time rule; fields are shown as given, after the counts, with rich
markup stripped. ``ROBNAS_PROGRESS=plain`` forces the plain lines on a terminal, ``=bar`` forces
the live bar. This module does not import torch.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["PlainProgress", "format_duration", "is_terminal", "make_progress"]


def format_duration(seconds: float) -> str:
    """``75 -> "1m 15s"``, ``3725 -> "1h 02m"``, ``9 -> "9s"``."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether progress should be a live bar on ``stream`` (standard error by default)."""
    forced = os.environ.get("ROBNAS_PROGRESS", "").strip().lower()
    if forced in ("plain", "lines"):
        return False
    if forced in ("bar", "rich"):
        return True
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _strip_markup(text: str) -> str:
    try:
        from rich.text import Text

        return Text.from_markup(text).plain
    except Exception:  # noqa: BLE001 - text that is not valid markup prints as given
        return text


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    fields: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    last_line: float = field(default_factory=time.monotonic)
    last_pct: int = 0
    finished: bool = False


class _PlainConsole:
    """What callers use of a rich console: ``print`` (markup stripped) to the plain stream."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def print(self, *objects: Any, markup: bool | None = None, **_: Any) -> None:
        parts = []
        for o in objects:
            if hasattr(o, "plain"):  # a rich Text
                parts.append(o.plain)
            elif markup is False:
                parts.append(str(o))
            else:
                parts.append(_strip_markup(str(o)))
        print(" ".join(parts), file=self._stream, flush=True)


class PlainProgress:
    """Periodic plain progress lines; the subset of :class:`rich.progress.Progress` robnas uses."""

    def __init__(
        self,
        stream: TextIO | None = None,
        every_pct: float = 10.0,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.every_pct = every_pct
        self.every_s = every_s
        self._clock = clock
        self._tasks: dict[int, _Task] = {}
        self._next = 0
        self.console = _PlainConsole(self._stream)

    # context manager and lifecycle, as rich's Progress
    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def add_task(self, description: str, total: float | None = 100.0, **fields: Any) -> int:
        now = self._clock()
        task_id = self._next
        self._next += 1
        self._tasks[task_id] = _Task(description, total, 0.0, dict(fields), now, now)
        return task_id

    def remove_task(self, task_id: int) -> None:
        task = self._tasks.pop(task_id, None)
        if task is not None and not task.finished and task.completed:
            self._line(task)

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(
        self,
        task_id: int,
        *,
        total: float | None = None,
        completed: float | None = None,
        advance: float | None = None,
        description: str | None = None,
        **fields: Any,
    ) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            return
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = completed
        if advance is not None:
            task.completed += advance
        if description is not None:
            task.description = description
        task.fields.update(fields)
        now = self._clock()
        due = now - task.last_line >= self.every_s
        if task.total:
            pct = int(100 * task.completed / task.total // self.every_pct * self.every_pct)
            if pct > task.last_pct:
                task.last_pct = pct
                due = True
            if task.completed >= task.total:
                if task.finished:
                    return
                task.finished = True
                due = True
        if due:
            self._line(task)

    def _line(self, task: _Task) -> None:
        now = self._clock()
        task.last_line = now
        elapsed = now - task.started
        clock = format_duration(elapsed)
        done = f"{task.completed:g}"
        if task.total:
            frac = min(task.completed / task.total, 1.0)
            text = f"{done}/{task.total:g} ({frac:.0%})"
            if task.completed >= task.total:
                text += f", done in {clock}"
            elif frac > 0:
                text += f", {clock} elapsed, ETA {format_duration(elapsed * (1 - frac) / frac)}"
        else:
            text = f"{done} done, {clock} elapsed"
        # numbers are labelled by their field name ("3 done"), text is shown as it is
        extra = " ".join(
            f"{v:g} {k}" if isinstance(v, int | float) and not isinstance(v, bool) else _strip_markup(str(v))
            for k, v in task.fields.items()
            if str(v)
        )
        stamp = time.strftime("%H:%M:%S")
        desc = _strip_markup(task.description)
        print(f"[{stamp}] {desc}: {text}" + (f"  {extra}" if extra else ""), file=self._stream, flush=True)


def make_progress(
    *columns: Any,
    console: Any = None,
    transient: bool = False,
    every_pct: float = 10.0,
    every_s: float = 30.0,
) -> Any:
    """A live rich bar with ``columns`` on a terminal, else :class:`PlainProgress` on stderr.

    ``console`` is the rich console the bar would draw on; its ``file`` decides whether it is a
    terminal. Without one, both the bar and the lines go to standard error.
    """
    stream = getattr(console, "file", None) if console is not None else None
    if is_terminal(stream):
        from rich.console import Console
        from rich.progress import Progress

        return Progress(*columns, console=console or Console(stderr=True), transient=transient)
    return PlainProgress(stream if stream is not None else sys.stderr, every_pct=every_pct, every_s=every_s)
