"""Architecture spaces (pure Python values, no torch)."""

from robnas.spaces.darts import DARTS_OPS, Genotype
from robnas.spaces.nb201 import (
    EDGES,
    NUM_ARCHS,
    NUM_UNIQUE,
    OPS,
    Arch,
    isomorphism_classes,
    iter_archs,
    random_arch,
    sample,
    sample_indices,
    uid_of,
    uid_table,
    unique_indices,
)

__all__ = [
    "DARTS_OPS",
    "EDGES",
    "NUM_ARCHS",
    "NUM_UNIQUE",
    "OPS",
    "Arch",
    "Genotype",
    "isomorphism_classes",
    "iter_archs",
    "random_arch",
    "sample",
    "sample_indices",
    "uid_of",
    "uid_table",
    "unique_indices",
]
