"""Measure studies as tables, and their correlation with the benchmarks.

A measure study is a build of kind ``measure`` (:mod:`robnas.runner.measure_job`): ``robnas measure
--archs SPEC`` and ``results/measures/run_study.py`` both run one through
:func:`robnas.runner.build`, so a study has the store's provenance, resumption, retries and Ray,
and selects architectures with the builder's grammar (:mod:`robnas.runner.config`: ``all`` and
``unique`` are the 6,466 isomorphism classes, ``sample:N``, ``5,17,123``). This module reads such
a store; it runs nothing:

* :func:`study_rows` and :func:`export_csv`: the results of one build configuration (its protocol,
  dataset and seeds) as rows ``index, uid, arch``, the measure columns and provenance, one per
  architecture and seed (``robnas measure --out FILE.csv``; :func:`check_export` checks the file
  can be written before the build starts);
* :func:`read_table`: such a CSV, or a store, as a DataFrame indexed by architecture (mean over
  seeds);
* :func:`correlate_measures`, :func:`correlation_table`, :func:`correlation_heatmap`: Kendall tau
  and Spearman rho of the measures against benchmark metrics.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from robnas.errors import ConfigError, DataError, MissingFileError

ID_COLUMNS = ("index", "uid", "arch")
PROVENANCE = (
    "dataset",
    "batch",
    "seed",
    "C",
    "N",
    "torch",
    "robnas",
    "device",
    "host",
    "seconds",
    "protocol",
)
"""The provenance columns of a measure table (``seconds``: the job's time for all its measures;
``protocol``: the build's protocol hash)."""
FLAGGED = "flagged"
"""The column listing, per row, the measure columns whose values were flagged as numerically
meaningless (space-separated; empty when none): see :class:`robnas.measures.MeasureWarning`."""
STORE_SUFFIXES = (".sqlite", ".db")
"""File suffixes read as builder stores rather than CSV tables."""

DEFAULT_TARGETS: dict[str, list[str]] = {
    "jung2023": [
        "cifar10/clean",
        "cifar10/fgsm@1",
        "cifar10/fgsm@8",
        "cifar10/pgd@1",
        "cifar10/pgd@8",
        "cifar10/apgd-ce@1",
        "cifar10/square@1",
        "cifar10/corruption-mean",
    ],
    "nasrobbench201": ["cifar10/clean", "cifar10/pgd@3", "cifar10/pgd@8", "cifar10/autoattack@8"],
}


def study_rows(store: Any, config: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """``(columns, rows)`` of the build ``config`` (kind ``measure``; a :class:`BuildConfig`, a
    mapping or a YAML path) in ``store`` (a path or an open :class:`~robnas.store.ResultStore`).

    One row per architecture (uid) and seed with results under the configuration's protocol,
    dataset and seeds: the configuration's architectures first, in its order, then any other
    architecture the store holds under the same protocol (an earlier selection), by uid. Jobs not
    done (failed, or not run yet) have no row. Columns: :data:`ID_COLUMNS` (``index`` is the
    uid: builds run each isomorphism class once, on its representative), the measure columns
    (``MEASURE`` or ``MEASURE.KEY``, in the order of the configuration's measures), :data:`FLAGGED`
    (the columns of this row flagged as numerically meaningless), then :data:`PROVENANCE`.
    """
    from robnas.measures.registry import DEFAULT_MEASURES
    from robnas.runner.config import load_config
    from robnas.runner.measure_job import DEFAULT_SIZE, FLAG_PREFIX, INIT_PREFIX
    from robnas.spaces.nb201 import Arch
    from robnas.store import ResultStore

    cfg = load_config(config)
    db = store if isinstance(store, ResultStore) else ResultStore(store, readonly=True)
    try:
        q = db.query(dataset=cfg.dataset, protocol=cfg.protocol_hash)
    finally:
        if db is not store:
            db.close()
    size = {**DEFAULT_SIZE, **cfg.model}
    batch = int(cfg.eval.get("measure_batch", 64))
    prefix = f"{cfg.dataset}/{INIT_PREFIX}"
    flag_prefix = f"{cfg.dataset}/{FLAG_PREFIX}{INIT_PREFIX}"
    seconds = f"{cfg.dataset}/measure-seconds"
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    present: set[str] = set()
    for r in q[q["seed"].isin(cfg.seeds)].itertuples(index=False):
        key = (int(r.uid), int(r.seed))
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "index": key[0],
                "uid": key[0],
                "arch": r.arch or Arch.from_index(key[0]).string,
                "dataset": cfg.dataset,
                "batch": batch,
                "seed": key[1],
                "C": size["C"],
                "N": size["N"],
                "torch": r.torch_version,
                "robnas": r.robnas_version,
                "device": r.device,
                "host": r.host,
                "seconds": math.nan,
                "protocol": cfg.protocol_hash,
                FLAGGED: "",
            }
        if r.metric.startswith(flag_prefix) and float(r.value):
            row[FLAGGED] = " ".join(sorted({*row[FLAGGED].split(), r.metric[len(flag_prefix) :]}))
        elif r.metric.startswith(prefix):
            column = r.metric[len(prefix) :]
            row[column] = float(r.value)
            present.add(column)
        elif r.metric == seconds:
            row["seconds"] = round(float(r.value), 3)
    order = {uid: i for i, uid in enumerate(cfg.arch_uids())}
    keys = sorted(rows, key=lambda k: (order.get(k[0], len(order)), k[0], cfg.seeds.index(k[1])))
    columns = [
        *ID_COLUMNS,
        *_in_measure_order(present, cfg.measures or DEFAULT_MEASURES),
        FLAGGED,
        *PROVENANCE,
    ]
    return columns, [rows[k] for k in keys]


def flagged_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """``{column: rows}``: how many of the rows of :func:`study_rows` have each column flagged."""
    from collections import Counter

    counts = Counter(c for row in rows for c in row[FLAGGED].split())
    return dict(sorted(counts.items()))


def _in_measure_order(columns: set[str], names: Sequence[str]) -> list[str]:
    """``columns`` (``MEASURE`` or ``MEASURE.KEY``) in the order of the measures ``names``."""
    rank = {n: i for i, n in enumerate(names)}
    return sorted(columns, key=lambda c: (rank.get(c.split(".", 1)[0], len(rank)), c))


def check_export(out: str | os.PathLike[str], store: str | os.PathLike[str]) -> Path:
    """Check, before a build, that its table can be written to ``out`` (the CSV export of the
    store ``store``): a regular file or a new one, in a folder that can be written (created if
    missing); an existing file must be a measure table, and one with rows needs its store (a table
    written by an older robnas, whose rows are in no store, is not replaced). :class:`ConfigError`
    or :class:`DataError` otherwise."""
    path = Path(out)
    if path.suffix.lower() in STORE_SUFFIXES:
        raise ConfigError(f"--out {path} is the CSV export; give the results database with --store")
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path} is not a regular file; give a CSV file path with --out")
    if path.is_file() and path.stat().st_size:
        try:
            with path.open(newline="", encoding="utf-8") as f:
                lines = [f.readline(), f.readline()]
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {path}: {exc}") from None
        if next(csv.reader([lines[0]]), [""])[0] != "index":
            raise ConfigError(f"{path} is not a measure table (no 'index' column); choose another --out")
        if lines[1].strip() and not Path(store).exists():
            raise ConfigError(
                f"{path} holds rows that are in no store ({store} does not exist; a table of an "
                "older robnas?); move it away, or give its results database with --store"
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise DataError(f"cannot write the measure table {path}: {exc.strerror or exc}") from None
    return path


def export_csv(store: Any, config: Any, out: str | os.PathLike[str]) -> int:
    """Write :func:`study_rows` of ``config`` in ``store`` to the CSV ``out`` (:func:`write_table`);
    returns the number of rows."""
    return write_table(*study_rows(store, config), out)


def write_table(columns: Sequence[str], rows: Sequence[dict[str, Any]], out: str | os.PathLike[str]) -> int:
    """Write the table ``(columns, rows)`` of :func:`study_rows` to the CSV ``out``, all at once (a
    reader sees the old table or the new one); returns the number of rows. Values are written as
    Python reads them back (``repr``), a missing value as ``nan``."""
    from robnas.checks import writing
    from robnas.utils import atomic_write

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="nan")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(v) for k, v in row.items()})
    with writing(out, "the measure table"):
        atomic_write(out, buf.getvalue())
    return len(rows)


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return v


def read_store(path: str | os.PathLike[str]) -> Any:
    """The measures at initialisation of a builder store (``DATASET/init.COLUMN`` metrics), mean
    over seeds, as a DataFrame indexed by architecture (uid) with one column per measure column."""
    from robnas.runner.measure_job import INIT_PREFIX
    from robnas.store import ResultStore

    store = ResultStore(Path(path), readonly=True)
    try:
        q = store.query()
    finally:
        store.close()
    q = q[q["metric"].str.contains("/" + INIT_PREFIX, regex=False)]
    if q.empty:
        raise ConfigError(f"{path} holds no measures at initialisation (build one with kind: measure)")
    q = q.assign(column=q["metric"].str.split("/" + INIT_PREFIX, n=1, regex=False).str[1])
    df = q.pivot_table(index="uid", columns="column", values="value", aggfunc="mean")
    df.index.name = "index"
    return df


def read_table(path: str | os.PathLike[str]) -> Any:
    """A measure CSV (:func:`export_csv`, or a table of an older robnas) or a builder store
    (``.sqlite``, ``.db``) as a DataFrame indexed by architecture; the numeric columns of rows of
    the same architecture (several seeds) are averaged, as :func:`read_store` does."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"measure table {p} not found; compute it with robnas measure --out {p}")
    if p.suffix.lower() in STORE_SUFFIXES:
        return read_store(p)
    try:
        df = pd.read_csv(p)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read the measure table {p}: {exc}") from None
    if "index" not in df.columns:
        raise ConfigError(f"{p} is not a measure table (no 'index' column)")
    return df.groupby("index", sort=False).mean(numeric_only=True)


def measure_columns(df: Any) -> list[str]:
    """The value columns of a measure table (not ids, timings or provenance)."""
    skip = {*ID_COLUMNS, *PROVENANCE, FLAGGED}
    return [c for c in df.columns if c not in skip and not c.startswith("t:")]


def correlate_measures(
    table: str | os.PathLike[str] | Any,
    targets: dict[str, list[str]] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> tuple[Any, Any, Any]:
    """Kendall tau and Spearman rho of every measure against benchmark metrics.

    Returns ``(tau, rho, n)`` DataFrames, measures as rows and ``SOURCE:METRIC`` as columns. Rows
    are joined on the architecture index; sources that share values between isomorphic
    architectures are read at the index itself, so any index works.
    """
    import numpy as np
    import pandas as pd

    from robnas.analysis.correlation import rank_correlations
    from robnas.benchmarks import get_source

    df = table if isinstance(table, pd.DataFrame) else read_table(table)
    targets = targets or DEFAULT_TARGETS
    cols = measure_columns(df)
    idx = df.index.to_numpy(dtype=np.int64)
    bench: dict[str, np.ndarray] = {}
    for source, metrics in targets.items():
        src = get_source(source, root)
        for metric in metrics:
            bench[f"{source}:{metric}"] = np.asarray(src.values(metric), dtype=np.float64)[idx]
    joined = pd.concat(
        [df[cols].apply(pd.to_numeric, errors="coerce").reset_index(drop=True), pd.DataFrame(bench)], axis=1
    )
    corr = rank_correlations(joined)
    names = list(bench)
    return corr.tau.loc[cols, names], corr.rho.loc[cols, names], corr.n.loc[cols, names]


def correlation_heatmap(tau: Any, out: str | os.PathLike[str], title: str = "") -> Path:
    """A heat-map of a (measures x targets) Kendall-tau table, values written in the cells."""
    from robnas.analysis.plots import heatmap

    columns = [str(c).replace(":cifar10/", "\n") for c in tau.columns]
    return heatmap(tau, out, title, label="Kendall tau", columns=columns)


def correlation_table(
    table: str | os.PathLike[str] | Any,
    targets: dict[str, list[str]] | None = None,
    root: str | os.PathLike[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> Any:
    """One row per (measure, target): ``measure, target, n, kendall_tau, tau_lo, tau_hi,
    spearman_rho``; ``tau_lo``/``tau_hi`` are a 95% percentile bootstrap interval over
    architectures (:func:`robnas.measures.stats.bootstrap_ci`, ``n_boot`` resamples)."""
    import numpy as np
    import pandas as pd

    from robnas.measures.stats import bootstrap_ci, tau

    tau_df, rho_df, n_df = correlate_measures(table, targets, root)
    df = table if isinstance(table, pd.DataFrame) else read_table(table)
    values = df[measure_columns(df)].apply(pd.to_numeric, errors="coerce")
    idx = df.index.to_numpy(dtype=np.int64)
    from robnas.benchmarks import get_source

    rows = []
    for target in tau_df.columns:
        source, metric = target.split(":", 1)
        y = np.asarray(get_source(source, root).values(metric), dtype=np.float64)[idx]
        for m in tau_df.index:
            x = values[m].to_numpy(dtype=np.float64)
            lo, hi = bootstrap_ci(tau, [x, y], n_boot, seed) if n_boot > 0 else (math.nan, math.nan)
            rows.append(
                {
                    "measure": m,
                    "target": target,
                    "n": int(n_df.loc[m, target]),
                    "kendall_tau": float(tau_df.loc[m, target]),
                    "tau_lo": lo,
                    "tau_hi": hi,
                    "spearman_rho": float(rho_df.loc[m, target]),
                }
            )
    return pd.DataFrame(rows)
