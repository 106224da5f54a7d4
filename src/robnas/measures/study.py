"""Measures over many architectures into a CSV (``robnas measure --out FILE``), and their
correlation with the benchmarks.

Studies belong in the builder: a build with ``kind: measure`` (:mod:`robnas.runner.measure_job`)
has the store's provenance, resumption, retries and Ray, and is what
``results/measures/run_study.py`` uses. This module is the quick path for a CSV: it computes
measures for a list of architectures on :func:`robnas.measures.measure_batch` (the same batch as
the builder's) and appends one row per architecture as soon as it is finished; rerun with the same
output file, it skips the architectures already there. :func:`select_archs` reads the builder's
architecture grammar (``all`` and ``unique`` are the 6,466 isomorphism classes). Architectures run
in local worker processes (one torch thread each). :func:`correlate_measures` joins such a table,
or a builder store of measures, with benchmark metrics (Kendall tau, Spearman rho).
"""

from __future__ import annotations

import csv
import io
import math
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robnas.errors import ConfigError, DataError, MissingFileError

ID_COLUMNS = ("index", "uid", "arch")
PROVENANCE = ("dataset", "batch", "seed", "C", "N", "torch", "robnas", "device", "host", "seconds")

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


def select_archs(spec: str, seed: int = 0) -> list[int]:
    """The builder's architecture grammar: ``all`` or ``unique`` (the 6,466 isomorphism-class
    representatives, as in a build), ``sample:N`` (``N`` unique architectures drawn uniformly with
    ``seed``) or a comma-separated list of indices (kept as given)."""
    from robnas.spaces.nb201 import sample_indices, unique_indices

    text = spec.strip().lower()
    if text in ("all", "unique"):
        return list(unique_indices())
    if text.startswith("sample:"):
        try:
            n = int(text.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"--archs sample:N needs an integer N, got {spec!r}") from None
        if not 1 <= n <= 6466:
            raise ConfigError(f"--archs sample:N needs 1 <= N <= 6466 unique architectures, got {n}")
        return list(sample_indices(n, seed, unique=True))
    try:
        idx = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(
            f"--archs must be all, unique, sample:N or a list of indices, got {spec!r}"
        ) from None
    for i in idx:
        if not 0 <= i < 15625:
            raise ConfigError(f"architecture index {i} is outside 0..15624")
    if not idx:
        raise ConfigError("--archs selected no architecture")
    return idx


@dataclass
class MeasureJob:
    """Everything a worker needs to measure one architecture."""

    measures: list[str]
    dataset: str = "cifar10"
    batch: int = 64
    seed: int = 0
    C: int = 16
    N: int = 5
    root: str | None = None
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str = "auto"


def _batch(job: MeasureJob) -> tuple[Any, Any, Any]:
    from robnas.measures.trained import measure_batch

    return measure_batch(job.dataset, job.batch, job.seed, job.root)


def resolve_device(device: str) -> str:
    """The torch device for ``--device`` (:func:`robnas.checks.check_device`: ``auto`` -> ``cuda``
    when torch sees a GPU, else ``cpu``; a device that is not there is a ConfigError)."""
    from robnas.checks import check_device

    return check_device(device)


def measure_arch(index: int, job: MeasureJob) -> dict[str, Any]:
    """One CSV row: ids, measure values, ``t:measure`` seconds and provenance."""
    import torch

    import robnas
    from robnas.measures.registry import compute_measures
    from robnas.models import build_network
    from robnas.spaces.nb201 import Arch

    x, y, info = _batch(job)
    device = resolve_device(job.device)
    arch = Arch.parse(index)

    def factory() -> torch.nn.Module:
        net = build_network(
            arch,
            C=job.C,
            N=job.N,
            **info.model_kwargs(),
        )
        return net.to(device)

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    values = compute_measures(
        job.measures, factory, x, y, seed=job.seed, options=job.options, timings=timings
    )
    row: dict[str, Any] = {"index": arch.index, "uid": arch.uid, "arch": arch.string}
    row.update(values)
    row.update({f"t:{k}": round(v, 4) for k, v in timings.items()})
    row.update(
        {
            "dataset": job.dataset,
            "batch": job.batch,
            "seed": job.seed,
            "C": job.C,
            "N": job.N,
            "torch": torch.__version__,
            "robnas": robnas.__version__,
            "device": device,
            "host": platform.node(),
            "seconds": round(time.perf_counter() - t0, 3),
        }
    )
    return row


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _work(args: tuple[int, MeasureJob]) -> dict[str, Any]:
    return measure_arch(*args)


SETTINGS = ("dataset", "batch", "seed", "C", "N")
"""The columns that define a row's configuration; a table holds rows of one configuration only."""


def done_indices(out: Path, job: MeasureJob | None = None) -> set[int]:
    """Indices already in the CSV ``out`` (empty if it does not exist).

    A last row cut by a kill or a full disk (no line end) is dropped from the file first. With
    ``job``, a table whose rows were computed with other settings (dataset, batch, seed, C, N) is
    refused: resuming it would mix rows of different configurations.
    """
    if not out.exists():
        return set()
    if not out.is_file():
        raise ConfigError(f"{out} is not a regular file; give a CSV file path with --out")
    _drop_cut_row(out)
    try:
        with out.open(newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None:
                return set()
            if "index" not in reader.fieldnames:
                raise ConfigError(f"{out} is not a measure table (no 'index' column); choose another --out")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read the measure table {out}: {exc}") from None
    if job is not None:
        want = {k: str(getattr(job, k)) for k in SETTINGS}
        for r in rows:
            have = {k: r.get(k, "") for k in SETTINGS}
            if have != want:
                diff = ", ".join(f"{k} {have[k]} (now {want[k]})" for k in SETTINGS if have[k] != want[k])
                raise ConfigError(
                    f"{out} holds rows computed with other settings ({diff}); "
                    "use another --out, or the same settings to resume"
                )
    return {int(r["index"]) for r in rows if r.get("index")}


def prepare_output(out: str | os.PathLike[str]) -> Path:
    """Check, before any work, that rows can be appended to ``out`` (a regular file, created empty
    if missing, in a folder created if missing); :class:`DataError` / :class:`ConfigError` if not
    (a folder, a device such as ``/dev/full``, a read-only place)."""
    path = Path(out)
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path} is not a regular file; give a CSV file path with --out")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as exc:
        raise DataError(f"cannot write the measure table {path}: {exc.strerror or exc}") from None
    return path


def _drop_cut_row(out: Path) -> None:
    """Truncate ``out`` after its last complete line (a row without its line end was cut)."""
    size = out.stat().st_size
    if size == 0:
        return
    with out.open("rb+") as f:
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        f.truncate(data.rfind(b"\n") + 1)


def _append(out: Path, row: dict[str, Any]) -> None:
    """Append one row with a single write of the whole line (then fsync); a row cut by a full disk
    or a kill has no line end and is dropped by the next :func:`done_indices`."""
    try:
        exists = out.exists() and out.stat().st_size > 0
        if exists:
            with out.open(newline="") as f:
                header = next(csv.reader(f))
            extra = [k for k in row if k not in header]
            if extra:
                raise ConfigError(
                    f"{out} was written with other measures (new columns {', '.join(extra[:3])}); "
                    "use another --out or the same --measures"
                )
        else:
            header = list(row)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header, restval="")
        if not exists:
            writer.writeheader()
        writer.writerow({k: _fmt(v) for k, v in row.items()})
        with out.open("a", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise DataError(f"cannot write the measure table {out}: {exc.strerror or exc}") from None


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return v


def check_job(job: MeasureJob, workers: int = 1) -> None:
    """Check a job before any work, so that bad input fails with one clear message: the measure
    names (normalised in place), the batch size, the number of workers, and the batch itself
    (loaded and cached here, so a missing dataset is reported before anything runs)."""
    from robnas.measures.registry import parse_measures

    job.measures = parse_measures(job.measures)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if job.batch < 2:
        raise ConfigError(
            f"--batch must be at least 2 (kernels and correlations need pairs), got {job.batch}"
        )
    _batch(job)


def run_measures(
    indices: Sequence[int],
    job: MeasureJob,
    out: str | os.PathLike[str],
    workers: int = 1,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Measure every index not yet in ``out``, appending a row as each finishes; returns how many
    were computed now. ``workers > 1`` uses that many local processes (one torch thread each)."""
    check_job(job, workers)
    path = prepare_output(out)
    done = done_indices(path, job)
    todo = [i for i in indices if i not in done]
    rows: Iterator[dict[str, Any]]
    if workers == 1 or len(todo) <= 1:
        _worker_init()
        rows = (measure_arch(i, job) for i in todo)
        pool = None
    else:
        import multiprocessing as mp

        pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init)
        rows = pool.imap_unordered(_work, [(i, job) for i in todo])
    n = 0
    try:
        for row in rows:
            _append(path, row)
            n += 1
            if on_row is not None:
                on_row(row)
    finally:
        if pool is not None:
            pool.terminate()
    return n


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
    """A measure CSV (or a builder store, ``.sqlite``) as a DataFrame indexed by architecture."""
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"measure table {p} not found; compute it with robnas measure --out {p}")
    if p.suffix in (".sqlite", ".db"):
        return read_store(p)
    df = pd.read_csv(p)
    if "index" not in df.columns:
        raise ConfigError(f"{p} is not a measure table (no 'index' column)")
    return df.drop_duplicates("index", keep="last").set_index("index")


def measure_columns(df: Any) -> list[str]:
    """The value columns of a measure table (not ids, timings or provenance)."""
    skip = set(ID_COLUMNS) | set(PROVENANCE)
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
