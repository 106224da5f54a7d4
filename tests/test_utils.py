"""robnas.utils (the one atomic writer, reading user JSON) and the one epsilon formatter (robnas.units)."""

from __future__ import annotations

import json

import pytest

from robnas.errors import DataError, MissingFileError
from robnas.units import format_epsilon
from robnas.utils import atomic_write, atomic_write_json, read_json


@pytest.mark.parametrize(
    ("eps", "pixels", "text"),
    [(8, False, "8"), (8.0, False, "8"), (0.5, False, "0.5"), (0.1, False, "0.1"), (8 / 255, True, "8"),
     (0.5 / 255, True, "0.5"), (0.1 / 255, True, "0.1"), (2.5 / 255, True, "2.5"), (0, True, "0")],
)  # fmt: skip
def test_format_epsilon(eps, pixels, text):
    assert format_epsilon(eps, pixels=pixels) == text


def test_atomic_write_replaces_whole_files_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "f.json"
    atomic_write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"

    def fail(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"new" and sorted(p.name for p in target.parent.iterdir()) == ["f.json"]


def test_read_json_errors_are_data_errors(tmp_path):
    with pytest.raises(MissingFileError, match="history .* not found"):
        read_json(tmp_path / "nope.json", "history")
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": ')
    with pytest.raises(DataError, match="not valid JSON"):
        read_json(bad)
    assert read_json(
        bad.with_name("ok.json") if atomic_write_json(bad.with_name("ok.json"), [1]) else bad
    ) == [1]


def test_atomic_write_gives_the_permissions_of_an_ordinary_file(tmp_path):
    import os

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    out = atomic_write(tmp_path / "atomic.txt", "x")
    assert os.stat(out).st_mode & 0o777 == os.stat(plain).st_mode & 0o777
