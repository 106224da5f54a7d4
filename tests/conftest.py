"""Shared fixtures.

Integration tests read the real reference data through ``ROBNAS_DATA`` (set by ``.ci/run`` to
``../shared/data``). A test that needs it and cannot find it fails; it never silently passes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    env = os.environ.get("ROBNAS_DATA")
    if env:
        return Path(env)
    fallback = REPO.parent / "shared" / "data"
    return fallback if fallback.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the real reference data (``../shared/data``)."""
    root = _shared_data()
    if root is None or not root.is_dir():
        pytest.fail(
            "the real reference data was not found: set ROBNAS_DATA to the shared data folder "
            "(.ci/run sets it to ../shared/data)"
        )
    return root
