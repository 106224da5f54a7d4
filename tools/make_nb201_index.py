"""Regenerate ``src/robnas/spaces/nb201_index.bin`` from the NATS-Bench topology table.

The NAS-Bench-201 index order is the order of the official benchmark files; it is not
lexicographic. This script reads the architecture strings of ``nats_bench.csv`` (row i is index
i) and writes, for each index, the base-5 code of its operations as a little-endian uint16.

Usage: python tools/make_nb201_index.py ../shared/data/nats-bench/nats_bench.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


def code_of(text: str) -> int:
    ops = {}
    for node, group in enumerate(text.split("+"), start=1):
        for item in group.strip("|").split("|"):
            name, src = item.split("~")
            ops[(int(src), node)] = OPS.index(name)
    code = 0
    for edge in EDGES:
        code = code * 5 + ops[edge]
    return code


def main(path: str) -> None:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    codes = [code_of(r["ArchitectureString"]) for r in rows]
    assert sorted(codes) == list(range(15625)), "not a permutation of the 15,625 cells"
    out = Path(__file__).resolve().parents[1] / "src/robnas/spaces/nb201_index.bin"
    out.write_bytes(b"".join(c.to_bytes(2, "little") for c in codes))
    print(f"wrote {out} ({len(codes)} architectures)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/nats-bench/nats_bench.csv")
