"""Transfer of search results between benchmarks.

A study none of the seed papers ran: search on one benchmark (e.g. the standard-trained networks
of Jung et al.), then look the architectures it finds up in another (e.g. the adversarially
trained networks of NAS-RobBench-201), and the reverse. For every seed we report where the found
architecture ranks in the target benchmark, as a percentile among the 6,466 unique
architectures, and its regret against the target's optimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robnas.search.driver import run_search
from robnas.spaces.nb201 import unique_indices


@dataclass
class TransferRow:
    seed: int
    found_uid: int
    source_value: float
    source_regret: float
    target_value: float
    target_regret: float
    target_percentile: float  # share of unique architectures with a lower target value, in %


def percentile_in(values: np.ndarray, uid: int) -> float:
    """Percent of unique architectures whose value is strictly below that of ``uid``."""
    uniq = np.asarray(values)[unique_indices()]
    uniq = uniq[~np.isnan(uniq)]
    return float(100.0 * np.mean(uniq < values[uid]))


def _best_uid(values: np.ndarray) -> tuple[int, float]:
    """The uid with the highest value and that value, over the uids only (what a search can be
    shown; per-index sources may peak on an index that is not its class's uid)."""
    uids = np.asarray(unique_indices())
    col = np.asarray(values, dtype=np.float64)[uids]
    best = int(np.nanargmax(col))
    return int(uids[best]), float(col[best])


def transfer_study(
    source_values: np.ndarray,
    target_values: np.ndarray,
    algorithm: str,
    budget: int,
    seeds: Sequence[int],
) -> dict:
    """Search on ``source_values`` and evaluate what was found on ``target_values``."""
    rows = []
    for seed in seeds:
        r = run_search(algorithm, source_values, budget, seed)
        rows.append(
            TransferRow(
                seed=seed,
                found_uid=r.best_uid,
                source_value=r.best_value,
                source_regret=r.regret,
                target_value=float(target_values[r.best_uid]),
                target_regret=float(_best_uid(target_values)[1] - target_values[r.best_uid]),
                target_percentile=percentile_in(target_values, r.best_uid),
            )
        )
    src_opt = _best_uid(source_values)[0]
    tgt_opt = _best_uid(target_values)[0]
    return {
        "rows": rows,
        "source_optimum_uid": src_opt,
        "source_optimum_in_target": float(target_values[src_opt]),
        "source_optimum_target_percentile": percentile_in(target_values, src_opt),
        "target_optimum_uid": tgt_opt,
        "target_optimum": float(target_values[tgt_opt]),
        "median_target_percentile": float(np.median([r.target_percentile for r in rows])),
        "median_target_regret": float(np.median([r.target_regret for r in rows])),
    }
