"""Errors meant for people.

Every error that robnas raises because of bad input derives from :class:`RobnasError` (or is a
plain ``ValueError`` / ``FileNotFoundError`` from the public API). The command-line interface
turns them into one clear line on standard error and a non-zero exit code.
"""

from __future__ import annotations


class RobnasError(Exception):
    """Base class of errors whose message is written for the user."""


class DataError(RobnasError):
    """A data file is missing, truncated or corrupt."""


class ConfigError(RobnasError, ValueError):
    """A configuration value is invalid."""
