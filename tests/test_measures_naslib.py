"""The classic zero-cost proxies of robnas.measures against NASLib's precomputed scores.

NASLib's ``zc_nasbench201.json`` (``../shared/data/zero-cost``) holds, for 725 NAS-Bench-201
architectures on CIFAR-10, the proxies computed by NASLib (C=16, N=5, 10 classes, its own
initialisation and batch). ``params`` and ``flops`` do not depend on weights or data: they must be
equal to the file's values (six decimals, millions). The other proxies depend on the random
initialisation and on the batch, so only their *ranking* of architectures can be compared: Kendall
tau between our score and NASLib's over the same architectures.

Measured agreement (robnas: C=16, N=5, seed 0, a stratified CIFAR-10 training batch taken with
``take(batch, seed=0)``; architectures drawn uniformly from the file's 725 with a fixed seed):

=========  ==========================  ==========================  =========================
proxy      120 archs, batch 16         120 archs, batch 8          this test: 20 archs, b 16
           tau / rho                   tau / rho                   tau / rho (threshold)
=========  ==========================  ==========================  =========================
synflow    0.985 / 0.999               0.985 / 0.999               0.979 / 0.997  (>= 0.90)
snip       0.905 / 0.985               0.897 / 0.983               0.874 / 0.962  (>= 0.70)
grad_norm  0.900 / 0.984               0.898 / 0.983               0.884 / 0.976  (>= 0.70)
naswot     0.810 / 0.922               0.724 / 0.873               0.832 / 0.941  (>= 0.50)
jacov      0.766 / 0.916               0.741 / 0.906               0.758 / 0.884  (>= 0.50)
=========  ==========================  ==========================  =========================

(NASLib's ``nwot`` is our ``naswot``; the 120-architecture columns were computed once with the
same code as the fixture below.) ``params`` and ``flops`` from the measure registry are equal
to the file's for the test's architectures; ``tests/test_models_nb201.py`` checks the counts
of all 725.

Thresholds: over 2,000 random 20-architecture subsets of the 120 architectures measured at batch
16, the 1st percentile of tau was 0.945 (synflow), 0.789 (snip), 0.779 (grad_norm), 0.600 (naswot)
and 0.537 (jacov); each threshold lies below it, so the test does not depend on a lucky draw, and
far above chance (with no agreement, tau over 20 architectures has a standard deviation of 0.16,
so 0.5 is three standard deviations out). A wrong definition (sign, layer set, BN mode, reduction)
drops tau towards 0. naswot and jacov are the noisiest: they depend on the particular batch, and
NASLib used a larger one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from robnas.data import load_dataset
from robnas.measures import compute_measures
from robnas.models import build_network
from robnas.spaces import Arch

N_ARCHS, BATCH, SEED = 20, 16, 0
RANKED = {"synflow": "synflow", "snip": "snip", "grad_norm": "grad_norm", "naswot": "nwot", "jacov": "jacov"}
THRESHOLD = {"synflow": 0.9, "snip": 0.7, "grad_norm": 0.7, "naswot": 0.5, "jacov": 0.5}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def scores(shared_data) -> dict[str, tuple[list[float], list[float]]]:
    """``{proxy: (ours, naslib)}`` over ``N_ARCHS`` architectures of the file (fixed draw)."""
    with open(shared_data / "zero-cost" / "zc_nasbench201.json") as f:
        zc = json.load(f)["cifar10"]
    keys = sorted(zc, key=lambda k: int(zc[k]["idx"]))
    pick = [keys[i] for i in sorted(np.random.default_rng(SEED).choice(len(keys), N_ARCHS, replace=False))]
    ds = load_dataset("cifar10", "train", root=shared_data).take(BATCH, seed=SEED)
    x, y, info = ds.images.float() / 255, ds.labels, ds.info
    out: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in ["params", "flops", *RANKED]}
    for key in pick:
        arch = Arch.from_naslib(key)
        values = compute_measures(
            list(out),
            lambda arch=arch: build_network(arch, C=16, N=5, num_classes=10, mean=info.mean, std=info.std),
            x,
            y,
            seed=SEED,
        )
        for m, (ours, ref) in out.items():
            ours.append(values[m])
            ref.append(zc[key][RANKED.get(m, m)]["score"])
    return out


@pytest.mark.parametrize("measure", ["params", "flops"])
def test_params_and_flops_equal_naslib(scores, measure: str) -> None:
    ours, ref = scores[measure]
    assert [round(v, 6) for v in ours] == ref


@pytest.mark.parametrize("measure", list(RANKED))
def test_proxy_ranks_agree_with_naslib(scores, measure: str) -> None:
    ours, ref = scores[measure]
    assert all(np.isfinite(ours))
    tau, rho = kendalltau(ours, ref)[0], spearmanr(ours, ref)[0]
    table = {m: round(float(kendalltau(*scores[m])[0]), 3) for m in RANKED}
    assert tau >= THRESHOLD[measure], f"{measure}: tau={tau:.3f} rho={rho:.3f}; all taus {table}"
