"""The ``robnas`` command: a thin layer over the public Python API.

Each command group lives in its own module of :mod:`robnas.cli` and exposes a Typer app named
``app``; this module mounts them by name (:data:`GROUPS`) and turns user errors into one line on
standard error and a non-zero exit code.

Errors: a :class:`~robnas.errors.RobnasError` (bad input: an unknown name, a malformed value, a
missing or corrupt file) and an ``OSError`` about a file the user named (missing, a folder, not
permitted) print one line ``robnas: error: ...`` and exit with code 2. Anything else is a bug: its
traceback is printed with a line asking for a report, exit code 1. ``--debug`` or
``ROBNAS_DEBUG=1`` shows the traceback of user errors too.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import typer

from robnas import __version__

# name -> (module, help). Adding a command group is one line here plus one module.
GROUPS: dict[str, tuple[str, str]] = {
    "space": ("robnas.cli.space", "The NAS-Bench-201 cell space: architectures, sampling, neighbours."),
    "data": ("robnas.cli.data", "Datasets: registry, files, checksums."),
    "bench": ("robnas.cli.bench", "Robustness benchmarks: query, export, correlate, plot."),
    "search": ("robnas.cli.search", "Discrete search on a benchmark: run, compare, transfer."),
    "build": ("robnas.cli.build", "Build a benchmark: train, attack, store (resumable; local or Ray)."),
    "dnas": ("robnas.cli.dnas", "Differentiable robust search: DARTS, DSRNA, E2RNAS (search, eval)."),
    "measure": ("robnas.cli.measure", "Measures: build them (resumable), of a checkpoint, correlate, list."),
}

# name -> (module, attribute): single commands mounted at top level.
COMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": ("robnas.cli.quickstart", "quickstart"),
    "attack": ("robnas.cli.attack", "attack"),
    "train": ("robnas.cli.train", "train"),
}


_debug = False


def _debug_requested() -> bool:
    return _debug or os.environ.get("ROBNAS_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def _set_debug(value: bool) -> None:
    global _debug
    _debug = _debug or value


def _version(value: bool) -> None:
    if value:
        typer.echo(f"robnas {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="robnas",
        help=(
            "robnas: robust neural architecture search toolkit.\n\n"
            "Bad input prints one line 'robnas: error: ...' and exits with code 2; any other failure "
            "is a bug and prints its traceback (exit code 1). --debug or the environment variable "
            "ROBNAS_DEBUG=1 prints the traceback of every error."
        ),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # click's plain help: flags shown as flags (rich mode prints "--json <bool>")
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
        debug: bool = typer.Option(
            False,
            "--debug",
            callback=_set_debug,
            is_eager=True,
            help="Show the full traceback of every error (same as ROBNAS_DEBUG=1).",
        ),
    ) -> None:
        """robnas: robust neural architecture search toolkit."""

    for name, (module, help_text) in GROUPS.items():
        sub = importlib.import_module(module).app
        app.add_typer(sub, name=name, help=help_text)
    for name, (module, attr) in COMMANDS.items():
        app.command(name=name)(getattr(importlib.import_module(module), attr))
    return app


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Errors that are bad input: robnas's own, and a file the user named that cannot be opened."""
    from robnas.errors import RobnasError

    return (RobnasError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def _message(exc: BaseException) -> str:
    """The first line of an error's message, verbatim (quotes included)."""
    text = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    lines = text.strip().splitlines()
    return lines[0] if lines else exc.__class__.__name__


def _click_types() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """Click's usage-error and abort types, found through Typer's public names only.

    Recent Typer releases carry their own copy of click, older ones use click itself; either
    way ``typer.BadParameter`` derives from the ``ClickException`` in use, and ``typer.Abort``
    is the abort type.
    """
    errors = [c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"]
    return tuple(errors), (typer.Abort,)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``robnas`` console script."""
    global _debug
    _debug = False
    app = build_app()
    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc != 0:
            sys.exit(rc)
    except typer.Exit as exc:  # raised by commands to set an exit code
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("robnas: interrupted; results written so far are kept.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the boundary where errors become messages
        click_errors, aborts = _click_types()
        if isinstance(exc, aborts):
            typer.echo("robnas: aborted.", err=True)
            sys.exit(1)
        if isinstance(exc, click_errors):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if isinstance(exc, _user_error_types()):
            if _debug_requested():
                traceback.print_exc()
            typer.echo(f"robnas: error: {_message(exc)}", err=True)
            sys.exit(2)
        traceback.print_exc()
        typer.echo(
            f"robnas: internal error ({exc.__class__.__name__}): this is a bug in robnas, not in your "
            "input; please report it to the robnas developers with the traceback above and the "
            "command you ran.",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
