"""A small real build: train two architectures on digits, attack, corrupt, store, query as a source."""

from __future__ import annotations

import numpy as np

from robnas.runner import build, load_config
from robnas.store import ResultStore, StoreSource


def test_train_attack_build_on_digits(tmp_path):
    measures = ["jacobian"]
    cfg = load_config(
        {
            "kind": "train-attack",
            "architectures": [0, 11],
            "dataset": "digits",
            "training": {"preset": "cpu-tiny", "epochs": 1},
            "model": {"C": 4, "N": 1},
            "seeds": [0],
            "attacks": {"fgsm": [8], "pgd": [8]},
            "corruptions": {"gaussian_noise": [3]},
            "eval": {"examples": 64, "batch_size": 64, "measure_batch": 16},
            "measures": measures,
            "output": str(tmp_path / "digits.sqlite"),
        }
    )
    report = build(cfg, workers=2, progress=False)
    assert (report.done, report.failed) == (2, 0), report.failures
    store = ResultStore(cfg.output)
    assert store.integrity_check() == []
    expected = {"digits/clean", "digits/fgsm@8", "digits/pgd@8", "digits/gaussian_noise#3", "digits/params",
                "digits/flops", "digits/train-seconds", "digits/train-accuracy", "digits/worst@8"}  # fmt: skip
    masking = {"huge_eps", "zero_gradient", "randomized", "probability_output", "dynamic", "monotone_eps"}
    expected |= {f"digits/masking-{c}" for c in masking}  # the masking checks reach the store
    # measures at initialisation (init.) and of the trained network (BatchNorm as trained)
    assert set(store.metrics()) == expected | {f"digits/{p}{m}" for m in measures for p in ("init.", "")}
    frame = store.query()
    assert set(frame["torch_version"]) != {"none"} and set(frame["device"]) == {"cpu"}
    assert frame["config_hash"].eq(cfg.config_hash).all()
    acc = frame[frame.metric.str.match(r"digits/(clean|pgd|fgsm|gaussian)")]["value"]
    assert acc.between(0, 1).all()
    # robust accuracy never exceeds clean accuracy
    wide = frame.pivot_table(index="uid", columns="metric", values="value")
    assert (wide["digits/pgd@8"] <= wide["digits/clean"] + 1e-9).all()
    # per-image worst case over FGSM and PGD at 8/255
    assert (wide["digits/worst@8"] <= wide[["digits/fgsm@8", "digits/pgd@8"]].min(axis=1) + 1e-9).all()
    assert (wide["digits/params"] > 0).all()
    if measures:  # training changes the network: the two Jacobians differ
        assert (wide["digits/jacobian"] != wide["digits/init.jacobian"]).all()
    # the store is a benchmark source
    src = StoreSource(store)
    vals = src.values("digits/clean")
    assert np.isfinite(vals).sum() >= 2 and vals[0] == wide.loc[0, "digits/clean"]
