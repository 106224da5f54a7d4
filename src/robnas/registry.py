"""One registry type for every name lookup in robnas.

Attacks, measures, search algorithms, dnas methods, training objectives and presets, corruptions,
datasets, benchmark sources, job kinds and executors are each a :class:`Registry`. A registry

* knows its **built-in** members by name and module path without importing them
  (``"pgd": "robnas.attacks.pgd"``); the module is imported the first time the name is looked
  up, so a registry module never imports its members and listing names is cheap. A target
  ``"module:attribute"`` names the member itself; a plain ``"module"`` is a module that
  registers the member when imported (with :meth:`Registry.register`, usually as a decorator);
* looks names up **case-insensitively** (``"PGD"``, ``"Pgd"`` and ``"pgd"`` are one name) after
  stripping blanks, and resolves **declared aliases** (``"apgd"`` -> ``"apgd-ce"``);
* answers an unknown name with one :class:`~robnas.errors.ConfigError` that lists the names and,
  where one is close, asks "did you mean ...?".

Adding a member is one new module that registers itself (third-party code calls
:meth:`Registry.register` directly) plus, for a built-in, one line in the registry's table.

Choice: names are compared in lower case but otherwise verbatim; ``-`` and ``_`` are not
folded together, because some registries use both in distinct names (``ntk_mixed`` beside
``apgd-ce``) and a fold would make the listing disagree with what the user typed.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

from robnas.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = object()
F = TypeVar("F")


def _key(name: str) -> str:
    if not isinstance(name, str):
        raise ConfigError(f"a name must be a string, got {name!r}")
    return name.strip().lower()


class Registry(Generic[T]):
    """Named members of one kind, built-ins imported lazily.

    Args:
        kind: what a member is, for messages (``"attack"``, ``"search algorithm"``).
        builtin: ``{name: "module"}`` or ``{name: "module:attribute"}`` of the built-in members.
        aliases: ``{alias: name}`` declared up front (more can come with :meth:`register`).
        hint: appended to the unknown-name message (e.g. how to add one).
    """

    def __init__(
        self,
        kind: str,
        builtin: Mapping[str, str] | None = None,
        aliases: Mapping[str, str] | None = None,
        hint: str = "",
    ) -> None:
        self.kind = kind
        self.hint = hint
        self._builtin: dict[str, str] = {_key(k): v for k, v in (builtin or {}).items()}
        self._members: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        for alias, name in (aliases or {}).items():
            self.alias(alias, name)

    # -- adding ---------------------------------------------------------------------------------
    def alias(self, alias: str, name: str) -> None:
        """Declare ``alias`` as another spelling of ``name``."""
        self._aliases[_key(alias)] = _key(name)

    @overload
    def register(self, name: str, member: T, *, aliases: Iterable[str] = (), replace: bool = False) -> T: ...

    @overload
    def register(
        self, name: str, member: None = None, *, aliases: Iterable[str] = (), replace: bool = False
    ) -> Callable[[F], F]: ...

    def register(
        self, name: str, member: Any = None, *, aliases: Iterable[str] = (), replace: bool = False
    ) -> Any:
        """Add ``member`` under ``name`` (and ``aliases``); without ``member``, a decorator.

        Registering a different member under a taken name is a :class:`ConfigError` unless
        ``replace`` is true (re-registering the same object, as a reloaded module does, is fine).
        """
        key = _key(name)
        if not key:
            raise ConfigError(f"a {self.kind} needs a non-empty name")

        def add(obj: Any) -> Any:
            old = self._members.get(key)
            if old is not None and not replace and not _same(old, obj):
                raise ConfigError(f"a {self.kind} named {key!r} is already registered")
            self._members[key] = obj
            for a in aliases:
                self.alias(a, key)
            return obj

        if member is None:
            return add
        return add(member)

    def declare(self, name: str, target: str, *, aliases: Iterable[str] = ()) -> None:
        """Add a member by module path (``"module"`` or ``"module:attribute"``), imported on first use."""
        if not isinstance(target, str) or not target.strip(".:"):
            raise ConfigError(f"a {self.kind} target is 'module' or 'module:attribute', got {target!r}")
        key = _key(name)
        self._members.pop(key, None)
        self._builtin[key] = target
        for a in aliases:
            self.alias(a, key)

    def target(self, name: str) -> str | None:
        """The module path a built-in is declared under (``None`` for a member registered as an object)."""
        return self._builtin.get(self.canonical(name))

    def unregister(self, name: str) -> None:
        """Remove ``name`` (used by tests that register temporary members)."""
        key = _key(name)
        self._members.pop(key, None)
        self._builtin.pop(key, None)
        for a in [a for a, n in self._aliases.items() if n == key]:
            del self._aliases[a]

    # -- looking up -----------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every name, sorted; imports nothing."""
        return sorted(set(self._builtin) | set(self._members))

    def declared(self) -> dict[str, str]:
        """``{name: "module[:attribute]"}`` of the members declared by module path."""
        return dict(self._builtin)

    def aliases(self) -> dict[str, str]:
        """``{alias: name}``."""
        return dict(self._aliases)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _key(name)
        key = self._aliases.get(key, key)
        return key in self._members or key in self._builtin

    def canonical(self, name: str) -> str:
        """The registered name of ``name`` (case and aliases resolved); imports nothing.

        Raises:
            ConfigError: unknown name, with a "did you mean" suggestion where one is close.
        """
        key = _key(name)
        key = self._aliases.get(key, key)
        if key in self._members or key in self._builtin:
            return key
        raise ConfigError(self._unknown(name))

    def get(self, name: str, default: Any = _MISSING) -> T:
        """The member called ``name``; a built-in's module is imported on first use.

        With ``default``, an unknown name gives ``default`` instead of a :class:`ConfigError`.
        """
        if default is not _MISSING and name not in self:
            return default
        key = self.canonical(name)
        if key not in self._members:
            target = self._builtin[key]
            module, _, attr = target.partition(":")
            mod = importlib.import_module(module)
            if attr:
                self._members[key] = getattr(mod, attr)
            elif key not in self._members:
                raise RuntimeError(
                    f"module {module} was to register the {self.kind} {key!r} but did not"
                )  # a bug in robnas's own table, not bad input
        return self._members[key]

    def load_all(self) -> dict[str, T]:
        """``{name: member}`` of every member (imports every built-in)."""
        return {n: self.get(n) for n in self.names()}

    # -- a read-mostly mapping, so that code written against the old dicts keeps working -------
    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __setitem__(self, name: str, member: T) -> None:
        self.register(name, member, replace=True)

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self.unregister(name)

    def keys(self) -> list[str]:
        return self.names()

    def values(self) -> list[T]:
        return list(self.load_all().values())

    def items(self) -> list[tuple[str, T]]:
        return list(self.load_all().items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def _unknown(self, name: str) -> str:
        names = self.names()
        spellings = names + sorted(self._aliases)
        close = difflib.get_close_matches(_key(name), spellings, n=1, cutoff=0.6)
        guess = f" (did you mean {self._aliases.get(close[0], close[0])}?)" if close else ""
        hint = f"; {self.hint}" if self.hint else ""
        return f"unknown {self.kind} {name!r}{guess}; choose from {', '.join(names)}{hint}"

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def check_options(what: str, fn: Callable[..., Any], options: Mapping[str, Any], skip: int = 0) -> None:
    """Refuse keyword ``options`` that ``fn`` (a function or class) does not take.

    ``skip`` leading parameters are supplied by robnas, not by the user (a measure's context, an
    algorithm's oracle and generator). A function taking ``**kwargs`` accepts anything. Checking
    here, before the call, keeps a ``TypeError`` raised *inside* ``fn`` what it is: a bug.

    Raises:
        ConfigError: ``"<what> has no option x; its options are a, b"``.
    """
    target = fn.__init__ if isinstance(fn, type) else fn  # type: ignore[misc]
    params = list(inspect.signature(target).parameters.values())
    if isinstance(fn, type):
        params = params[1:]  # self
    params = params[skip:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    bad = sorted(set(options) - set(accepted))
    if bad:
        raise ConfigError(
            f"{what} has no option {', '.join(bad)}; its options are {', '.join(accepted) or 'none'}"
        )


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        if a == b:  # equal values (two equal presets)
            return True
    except Exception:  # noqa: BLE001 - a member whose == raises is simply not the same
        pass
    if hasattr(a, "fn") and hasattr(b, "fn"):  # specs wrapping a function
        return _same(a.fn, b.fn)
    # a module imported twice (under runpy, or reloaded) re-creates its classes and functions
    qa = (getattr(a, "__module__", None), getattr(a, "__qualname__", None))
    return qa[1] is not None and qa == (getattr(b, "__module__", None), getattr(b, "__qualname__", None))


__all__ = ["Registry", "check_options"]
