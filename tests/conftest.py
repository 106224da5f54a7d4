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


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run the ``robnas`` command line in-process: ``code, out, err = cli("space", "info")``.

    ``code`` is the exit code ``robnas`` would return (0 on success); ``out`` and ``err`` are what
    it printed, captured since the previous call.
    """
    from robnas.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for the tests of a module (tiny tensors run faster so on a shared 2-core
    machine); use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
