"""The results store: an SQLite database of every measured number with its provenance.

Torch-free by design: versions and devices arrive as strings. Only the build driver writes.
"""

from robnas.store.db import (
    FAILURE_REASONS,
    JOB_STATES,
    SCHEMA_VERSION,
    JobRecord,
    ResultRow,
    ResultStore,
    StoreError,
)
from robnas.store.export import EXPORTERS, ExportReport, export, export_jung2023
from robnas.store.source import StoreSource, UnknownStoreMetricError

__all__ = [
    "EXPORTERS",
    "FAILURE_REASONS",
    "JOB_STATES",
    "SCHEMA_VERSION",
    "ExportReport",
    "JobRecord",
    "ResultRow",
    "ResultStore",
    "StoreError",
    "StoreSource",
    "UnknownStoreMetricError",
    "export",
    "export_jung2023",
]
