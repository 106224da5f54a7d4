"""The NAS-Bench-201 cell search space (Dong and Yang, ICLR 2020).

A cell is a directed acyclic graph on 4 nodes; node 0 is the cell input, node 3 its output, and
every edge ``i -> j`` (``i < j``) carries one of five operations. There are ``5**6 = 15,625``
cells. This module is pure Python (no torch): architectures are values.

Two spellings name an architecture:

* the NAS-Bench-201 string, ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (node 1, node 2, node 3;
  ``op~i`` is the operation on the edge from node ``i``);
* the NAS-Bench-201 index, ``0..15624``, in the order of the official benchmark files (which is
  not lexicographic: robnas ships that order as a table, generated from the NATS-Bench
  topology list by ``tools/make_nb201_index.py`` and checked against it in the tests).

``uid`` is the smallest index of the architecture's isomorphism class, the convention of the
robustness dataset of Jung, Lukasik and Keuper (ICLR 2023). Two cells are isomorphic when they
compute the same function up to the data-independent identities used by NAS-Bench-201's own
de-duplication: ``none`` edges contribute zero, an operation applied to a node that is
constantly zero contributes zero, ``skip_connect`` is the identity, sums are commutative, and
intermediate nodes can be renamed. The canonical form below implements these rules (see
:func:`_canonical` for the one place where a choice was needed) and yields 6,466 classes, equal
to the classes of the Jung et al. release (tested on all 15,625).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from robnas.errors import ConfigError

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""Operations in NAS-Bench-201 order."""

NUM_NODES = 4
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""Edges ``(from, to)`` in the order they appear in the NAS-Bench-201 string."""

NUM_ARCHS = len(OPS) ** len(EDGES)  # 15,625
NUM_UNIQUE = 6466

NASLIB_OPS: tuple[str, ...] = (
    "skip_connect",
    "none",
    "nor_conv_3x3",
    "nor_conv_1x1",
    "avg_pool_3x3",
)
"""NASLib's operation order (used by the zero-cost proxy files)."""

NASLIB_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
"""NASLib's edge order."""

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
_OP_ID = {name: i for i, name in enumerate(OPS)}
_EDGE_POS = {edge: k for k, edge in enumerate(EDGES)}


_NUM_NEIGHBOURS = len(EDGES) * (len(OPS) - 1)  # 24: one edge changed to another operation


def _bad(what: str) -> ConfigError:
    return ConfigError(f"{what}; a valid architecture string looks like {EXAMPLE}")


@dataclass(frozen=True, slots=True, order=True)
class Arch:
    """One NAS-Bench-201 cell: an immutable, hashable value.

    ``ops[k]`` is the operation id (index into :data:`OPS`) of edge ``EDGES[k]``.
    """

    ops: tuple[int, int, int, int, int, int]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if len(ops) != len(EDGES):
            raise ConfigError(f"an architecture has {len(EDGES)} edges, got {len(ops)} operations")
        for op in ops:
            if not isinstance(op, int) or isinstance(op, bool) or not 0 <= op < len(OPS):
                raise ConfigError(f"operation id {op!r} is out of range; ids are 0..{len(OPS) - 1} for {OPS}")
        object.__setattr__(self, "ops", ops)

    def __repr__(self) -> str:
        """``Arch(6111, '|nor_conv_3x3~0|+|...|')``: index and string (``Arch.parse`` takes either)."""
        return f"Arch({self.index}, {self.string!r})"

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_string(cls, text: str) -> Arch:
        """Parse a NAS-Bench-201 string such as ``|nor_conv_3x3~0|+|...|+|...|``."""
        if not isinstance(text, str):
            raise _bad(f"expected an architecture string, got {type(text).__name__}")
        s = text.strip()
        groups = s.split("+")
        if len(groups) != NUM_NODES - 1:
            raise _bad(
                f"malformed architecture string {text!r}: expected {NUM_NODES - 1} node groups "
                f"separated by '+', found {len(groups)}"
            )
        ops = [0] * len(EDGES)
        for node, group in enumerate(groups, start=1):
            if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
                raise _bad(f"malformed node group {group!r} in {text!r}: it must start and end with '|'")
            items = group[1:-1].split("|")
            if len(items) != node:
                raise _bad(f"node {node} in {text!r} must have {node} inputs, found {len(items)} ({group!r})")
            for src, item in enumerate(items):
                name, sep, frm = item.partition("~")
                if not sep:
                    raise _bad(f"malformed edge {item!r} in {text!r}: expected 'operation~input'")
                if name not in _OP_ID:
                    raise ConfigError(
                        f"unknown operation {name!r} in {text!r}; known operations: "
                        f"{', '.join(OPS)} (e.g. {EXAMPLE})"
                    )
                if frm != str(src):
                    raise _bad(f"edge {item!r} of node {node} in {text!r} must come from node {src}")
                ops[_EDGE_POS[(src, node)]] = _OP_ID[name]
        return cls(tuple(ops))  # type: ignore[arg-type]

    @classmethod
    def from_index(cls, index: int) -> Arch:
        """The architecture with NAS-Bench-201 index ``index`` (0..15624)."""
        idx = _check_index(index)
        return cls.from_code(_index_to_code()[idx])

    @classmethod
    def from_code(cls, code: int) -> Arch:
        """Inverse of :attr:`code` (base-5 digits of the operation ids)."""
        if not isinstance(code, int) or not 0 <= code < NUM_ARCHS:
            raise ConfigError(f"architecture code {code!r} is out of range 0..{NUM_ARCHS - 1}")
        ops = []
        for _ in EDGES:
            ops.append(code % len(OPS))
            code //= len(OPS)
        return cls(tuple(reversed(ops)))  # type: ignore[arg-type]

    @classmethod
    def from_names(cls, names: dict[tuple[int, int], str]) -> Arch:
        """Build from an edge view ``{(i, j): operation name}`` (see :meth:`edges`)."""
        if set(names) != set(EDGES):
            raise ConfigError(f"an edge view needs exactly the edges {list(EDGES)}, got {sorted(names)}")
        ops = []
        for edge in EDGES:
            name = names[edge]
            if name not in _OP_ID:
                raise ConfigError(f"unknown operation {name!r}; known operations: {', '.join(OPS)}")
            ops.append(_OP_ID[name])
        return cls(tuple(ops))  # type: ignore[arg-type]

    @classmethod
    def from_naslib(cls, encoding: str | tuple[int, ...] | list[int]) -> Arch:
        """Parse NASLib's encoding, e.g. ``"(0, 2, 3, 2, 3, 1)"`` (NASLib op and edge order)."""
        if isinstance(encoding, str):
            body = encoding.strip().removeprefix("(").removesuffix(")")
            try:
                values = tuple(int(v) for v in body.split(","))
            except ValueError:
                raise ConfigError(
                    f"malformed NASLib encoding {encoding!r}; expected six integers such as "
                    "'(0, 2, 3, 2, 3, 1)'"
                ) from None
        else:
            values = tuple(encoding)
        if len(values) != len(NASLIB_EDGES) or any(not 0 <= v < len(NASLIB_OPS) for v in values):
            raise ConfigError(
                f"malformed NASLib encoding {encoding!r}; expected six integers in 0..4 such as "
                "'(0, 2, 3, 2, 3, 1)'"
            )
        names = {edge: NASLIB_OPS[v] for edge, v in zip(NASLIB_EDGES, values, strict=True)}
        return cls.from_names(names)

    @classmethod
    def parse(cls, value: Arch | str | int) -> Arch:
        """Accept an :class:`Arch`, an index (int or digit string) or a NAS-Bench-201 string."""
        if isinstance(value, Arch):
            return value
        if isinstance(value, bool):
            raise ConfigError(f"cannot read an architecture from {value!r}")
        if isinstance(value, int):
            return cls.from_index(value)
        if isinstance(value, str):
            v = value.strip()
            if v.lstrip("-").isdigit():
                return cls.from_index(int(v))
            return cls.from_string(v)
        raise ConfigError(
            f"cannot read an architecture from {value!r}: give an index 0..{NUM_ARCHS - 1} or a "
            f"string such as {EXAMPLE}"
        )

    # ------------------------------------------------------------------ spellings
    @property
    def string(self) -> str:
        """The NAS-Bench-201 string."""
        groups = []
        for node in range(1, NUM_NODES):
            items = [f"{OPS[self.ops[_EDGE_POS[(src, node)]]]}~{src}" for src in range(node)]
            groups.append("|" + "|".join(items) + "|")
        return "+".join(groups)

    def __str__(self) -> str:
        return self.string

    @property
    def code(self) -> int:
        """Base-5 number whose digits are the operation ids in edge order."""
        code = 0
        for op in self.ops:
            code = code * len(OPS) + op
        return code

    @property
    def index(self) -> int:
        """The NAS-Bench-201 index."""
        return _code_to_index()[self.code]

    @property
    def uid(self) -> int:
        """Smallest index of this architecture's isomorphism class (Jung et al. convention)."""
        return _uid_table()[self.index]

    @property
    def is_unique(self) -> bool:
        """True when this architecture is the representative (``index == uid``) of its class."""
        return self.index == self.uid

    def to_naslib(self) -> tuple[int, ...]:
        """NASLib's encoding (its op order, its edge order)."""
        names = self.edges()
        return tuple(NASLIB_OPS.index(names[edge]) for edge in NASLIB_EDGES)

    def naslib_key(self) -> str:
        """NASLib's encoding as the string key used in its JSON files."""
        return str(self.to_naslib())

    # ------------------------------------------------------------------ views
    def edges(self) -> dict[tuple[int, int], str]:
        """Edge view: ``{(i, j): operation name}`` in string order."""
        return {edge: OPS[op] for edge, op in zip(EDGES, self.ops, strict=True)}

    def op_counts(self) -> dict[str, int]:
        """How many edges carry each operation (all five names present)."""
        counts = Counter(OPS[op] for op in self.ops)
        return {name: counts.get(name, 0) for name in OPS}

    def canonical(self) -> str:
        """Canonical form of the computed function; equal iff the cells are isomorphic."""
        return _canonical(self.ops)

    def is_isomorphic(self, other: Arch) -> bool:
        return self.canonical() == other.canonical()

    def is_connected(self) -> bool:
        """Whether the output depends on the input at all (some path of non-``none`` edges)."""
        reach = {0}
        for (src, dst), op in zip(EDGES, self.ops, strict=True):
            if op != 0 and src in reach:
                reach.add(dst)
        return NUM_NODES - 1 in reach

    # ------------------------------------------------------------------ moves
    def with_op(self, edge: int | tuple[int, int], op: int | str) -> Arch:
        """A copy with edge ``edge`` (position or ``(i, j)``) set to ``op`` (id or name)."""
        pos = _EDGE_POS.get(edge) if isinstance(edge, tuple) else edge
        if pos is None or not isinstance(pos, int) or not 0 <= pos < len(EDGES):
            raise ConfigError(f"unknown edge {edge!r}; edges are positions 0..5 or pairs {list(EDGES)}")
        op_id = _OP_ID.get(op) if isinstance(op, str) else op
        if op_id is None:
            raise ConfigError(f"unknown operation {op!r}; known operations: {', '.join(OPS)}")
        ops = list(self.ops)
        ops[pos] = op_id
        return Arch(tuple(ops))  # type: ignore[arg-type]

    def neighbours(self) -> list[Arch]:
        """All 24 architectures that differ in exactly one edge's operation.

        Order: edge position, then operation id (the order :meth:`mutate` draws from).
        """
        return [self._neighbour(k) for k in range(_NUM_NEIGHBOURS)]

    def _neighbour(self, k: int) -> Arch:
        """The ``k``-th of :meth:`neighbours` (``0 <= k < 24``), built without validation."""
        pos, j = divmod(k, len(OPS) - 1)
        ops = list(self.ops)
        ops[pos] = j if j < ops[pos] else j + 1  # the j-th operation other than the current one
        new = object.__new__(Arch)
        object.__setattr__(new, "ops", tuple(ops))
        return new

    def mutate(self, rng: random.Random | int | None = None) -> Arch:
        """A uniformly random neighbour.

        Draws one of the 24 neighbours with ``rng.randrange(24)`` and builds only that one, so a
        mutation costs one small tuple, not 24 validated architectures (regularised evolution
        mutates tens of thousands of times at large budgets). ``random.Random.choice`` over
        :meth:`neighbours` draws the same number, so results per seed are unchanged.
        """
        r = _rng(rng)
        return self._neighbour(r.randrange(_NUM_NEIGHBOURS))


# ---------------------------------------------------------------------- index tables
def _check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        raise ConfigError(f"an architecture index must be an integer in 0..{NUM_ARCHS - 1}, got {index!r}")
    if not 0 <= index < NUM_ARCHS:
        raise ConfigError(
            f"architecture index {index} is out of range; NAS-Bench-201 indices are 0..{NUM_ARCHS - 1}"
        )
    return index


@cache
def _index_to_code() -> tuple[int, ...]:
    data = resources.files("robnas.spaces").joinpath("nb201_index.bin").read_bytes()
    if len(data) != 2 * NUM_ARCHS:
        raise RuntimeError("robnas installation is damaged: spaces/nb201_index.bin has the wrong size")
    codes = tuple(int.from_bytes(data[2 * i : 2 * i + 2], "little") for i in range(NUM_ARCHS))
    if sorted(codes) != list(range(NUM_ARCHS)):
        raise RuntimeError("robnas installation is damaged: spaces/nb201_index.bin is not a permutation")
    return codes


@cache
def _code_to_index() -> tuple[int, ...]:
    inv = [0] * NUM_ARCHS
    for idx, code in enumerate(_index_to_code()):
        inv[code] = idx
    return tuple(inv)


_ZERO = "#"


def _canonical(ops: tuple[int, ...]) -> str:
    """Canonical expression of the cell output (NAS-Bench-201's de-duplication rules).

    Each node is written as the sorted ``+``-join of one term per incoming edge: ``#`` (zero) for a
    ``none`` edge or an edge whose source is exactly zero, the source's own expression for
    ``skip_connect``, and ``(source)@op`` for any other operation; the input is ``x``. Sorting makes
    sums commutative and expanding nodes into expressions makes node numbering irrelevant.

    Choice: a zero term stays in its sum (``x+#`` is not simplified to ``x``), as in the
    ``consider_zero`` rule of NAS-Bench-201's ``to_unique_str``; this is the rule that reproduces
    the 6,466 classes that both robustness benchmarks use (checked in the tests on all indices).
    """
    nodes: list[str] = ["x"]
    for node in range(1, NUM_NODES):
        terms: list[str] = []
        for src in range(node):
            op = OPS[ops[_EDGE_POS[(src, node)]]]
            value = nodes[src]
            if op == "none" or value == _ZERO:
                terms.append(_ZERO)
            elif op == "skip_connect":
                terms.append(value)
            else:
                terms.append(f"({value})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[-1]


@cache
def _uid_table() -> tuple[int, ...]:
    codes = _index_to_code()
    first: dict[str, int] = {}
    uids = []
    for idx in range(NUM_ARCHS):  # increasing index: the first seen is the smallest
        key = _canonical(Arch.from_code(codes[idx]).ops)
        uids.append(first.setdefault(key, idx))
    return tuple(uids)


# ---------------------------------------------------------------------- whole space
def _rng(seed: random.Random | int | None) -> random.Random:
    return seed if isinstance(seed, random.Random) else random.Random(seed)


def uid_table() -> tuple[int, ...]:
    """``uid_table()[i]`` is the uid of index ``i``, for all 15,625 indices (computed once)."""
    return _uid_table()


@cache
def code_uid_table() -> tuple[int, ...]:
    """``code_uid_table()[arch.code]`` is ``arch.uid``: a class lookup without an ``Arch``."""
    to_index, uids = _code_to_index(), _uid_table()
    return tuple(uids[to_index[code]] for code in range(NUM_ARCHS))


def uid_of(index: int) -> int:
    """The uid (class representative index) of an index."""
    return _uid_table()[_check_index(index)]


def unique_indices() -> list[int]:
    """The 6,466 class representatives (sorted indices)."""
    table = _uid_table()
    return [i for i in range(NUM_ARCHS) if table[i] == i]


def iter_archs(unique: bool = False) -> Iterator[Arch]:
    """All 15,625 architectures in index order, or only the 6,466 class representatives."""
    indices = unique_indices() if unique else range(NUM_ARCHS)
    for i in indices:
        yield Arch.from_index(i)


def sample_indices(n: int, seed: random.Random | int | None = None, unique: bool = False) -> list[int]:
    """``n`` distinct indices drawn uniformly (from all indices or from class representatives)."""
    pool = unique_indices() if unique else list(range(NUM_ARCHS))
    if not isinstance(n, int) or not 0 <= n <= len(pool):
        raise ConfigError(f"cannot sample {n!r} architectures: choose 0..{len(pool)}")
    return _rng(seed).sample(pool, n)


def sample(n: int, seed: random.Random | int | None = None, unique: bool = False) -> list[Arch]:
    """``n`` distinct architectures drawn uniformly; ``unique`` draws class representatives."""
    return [Arch.from_index(i) for i in sample_indices(n, seed, unique)]


def random_arch(seed: random.Random | int | None = None) -> Arch:
    """One architecture drawn uniformly from all 15,625."""
    return Arch.from_code(_rng(seed).randrange(NUM_ARCHS))


def isomorphism_classes() -> dict[int, list[int]]:
    """``{uid: [indices of the class]}`` for all 6,466 classes."""
    classes: dict[int, list[int]] = {}
    for idx, uid in enumerate(_uid_table()):
        classes.setdefault(uid, []).append(idx)
    return classes
