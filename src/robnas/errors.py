"""Errors meant for people, told apart from bugs.

Every error that robnas raises because of bad input derives from :class:`RobnasError`:

* :class:`ConfigError` -- a value the user gave is invalid (an unknown name, a malformed
  architecture, an option out of range). It is also a ``ValueError``, so callers of the Python
  API that caught ``ValueError`` keep working.
* :class:`DataError` -- a data file is missing, truncated or corrupt;
  :class:`MissingFileError` is the one for a file that does not exist (also a
  ``FileNotFoundError``).
* a few domain errors derive from these (``StoreError``, ``DivergenceError``, ...).

The command-line interface prints a :class:`RobnasError` as one line on standard error with exit
code 2. Any other exception is a bug in robnas (or in code plugged into it): the CLI shows its
traceback and asks for a report. ``--debug`` (or ``ROBNAS_DEBUG=1``) shows the traceback of user
errors too.
"""

from __future__ import annotations


class RobnasError(Exception):
    """Base class of errors whose message is written for the user."""


class DataError(RobnasError):
    """A data file is missing, truncated or corrupt."""


class MissingFileError(DataError, FileNotFoundError):
    """A file the user named (or that a command needs) does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(RobnasError, ValueError):
    """A configuration value is invalid."""


__all__ = ["ConfigError", "DataError", "MissingFileError", "RobnasError"]
