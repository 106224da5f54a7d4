"""The example build configurations (``examples/build-*.yaml``), in a wheel and in a source tree.

A wheel carries them as the package ``robnas.examples`` (``pyproject.toml`` maps the top-level
``examples/`` folder there); a source checkout or an editable install reads the folder itself.
``robnas build --example NAME`` writes one into the current folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from robnas.errors import ConfigError

__all__ = ["example_names", "example_text"]


def _files() -> dict[str, str]:
    """``{name: YAML text}`` with ``name`` the part after ``build-`` (``digits``)."""
    found: dict[str, str] = {}
    try:
        pkg = resources.files("robnas.examples")
        for entry in pkg.iterdir():
            if entry.name.startswith("build-") and entry.name.endswith(".yaml"):
                found[entry.name[len("build-") : -len(".yaml")]] = entry.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        pass
    if not found:  # a source tree: src/robnas/runner/examples.py -> <repo>/examples
        folder = Path(__file__).resolve().parents[3] / "examples"
        for path in sorted(folder.glob("build-*.yaml")):
            found[path.stem[len("build-") :]] = path.read_text(encoding="utf-8")
    return found


def example_names() -> list[str]:
    """Names of the example configurations (``digits``, ``nasrobbench201``, ``synthetic``)."""
    return sorted(_files())


def example_text(name: str) -> str:
    """The YAML text of example ``name``; a :class:`ConfigError` naming the others if unknown."""
    files = _files()
    key = name.strip().lower().removeprefix("build-").removesuffix(".yaml")
    if key not in files:
        known = ", ".join(sorted(files)) or "none found (a broken installation?)"
        raise ConfigError(f"no example build configuration named {name!r}; examples: {known}")
    return files[key]
