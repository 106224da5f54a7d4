"""The build runner: configuration, planning, failures and retries, resumption (local executor)."""

from __future__ import annotations

import pytest

from robnas.errors import ConfigError
from robnas.runner import BuildConfig, all_jobs, build, classify, load_config, plan
from robnas.runner.jobs import JobFailure
from robnas.store import ResultStore


def _cfg(tmp_path, **over):
    d = dict(kind="synthetic", architectures="sample:6", dataset="digits", seeds=[0],
             attacks={"pgd": [8]}, output=str(tmp_path / "b.sqlite"),
             synthetic={"sleep": 0.0, "log": str(tmp_path / "log.txt")}, retries=1)  # fmt: skip
    d.update(over)
    return load_config(d)


# ---------------------------------------------------------------------- configuration
def test_config_yaml_and_hashes(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "kind: synthetic\narchitectures: [0, 1, '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|']\n"
        "dataset: digits\nseeds: 2\nattacks: {pgd: [8, 2], fgsm: 8}\ncorruptions: [fog]\noutput: out/b.sqlite\n"
    )
    cfg = BuildConfig.from_yaml(path)
    assert cfg.seeds == (0, 1)
    assert cfg.attacks == {"pgd": (2.0, 8.0), "fgsm": (8.0,)}
    assert cfg.corruptions == {"fog": (1, 2, 3, 4, 5)}
    assert cfg.output == str(tmp_path / "out" / "b.sqlite")  # relative to the config file
    assert len(all_jobs(cfg)) == 2 * len(cfg.arch_uids())
    # the protocol ignores architectures, seeds and output; the config hash does not
    other = cfg.with_overrides(architectures="sample:3", seeds=[5], output="x.sqlite")
    assert other.protocol_hash == cfg.protocol_hash and other.config_hash != cfg.config_hash
    assert cfg.with_overrides(attacks={"pgd": [4]}).protocol_hash != cfg.protocol_hash


def test_architectures_resolve_to_unique_uids():
    cfg = load_config({"kind": "synthetic", "architectures": [0, 0, 1]})
    assert cfg.arch_uids() == [0, 1]
    assert len(load_config({"kind": "synthetic", "architectures": "unique"}).arch_uids()) == 6466
    assert len(load_config({"kind": "synthetic", "architectures": "all"}).arch_uids()) == 6466
    s = load_config({"kind": "synthetic", "architectures": "sample:5", "sample_seed": 3}).arch_uids()
    assert (
        len(s) == 5
        and s == load_config({"kind": "synthetic", "architectures": "sample:5", "sample_seed": 3}).arch_uids()
    )


def test_architecture_grammar_reads_comma_lists():
    cfg = load_config({"kind": "synthetic", "architectures": "5, 17,123,5"})
    assert cfg.architectures == [5, 17, 123, 5] and cfg.arch_uids() == [5, 17, 123]
    assert load_config({"kind": "synthetic", "architectures": "17"}).architectures == [17]


def test_measure_options_are_protocol_and_absent_when_empty():
    plain = load_config({})
    # pinned: configurations written before measure_options existed keep their hashes (and
    # resume into their stores); an empty measure_options is left out of both hashes
    assert (plain.protocol_hash, plain.config_hash) == ("20e626e1b9cf", "bd0b142bf41a")
    assert load_config({"measure_options": {}}).protocol_hash == plain.protocol_hash
    assert "measure_options" not in plain.to_dict()
    opts = load_config({"measure_options": {"Hessian": {"max_iter": 3}}})
    assert opts.measure_options == {"hessian": {"max_iter": 3}}
    assert opts.protocol_dict()["measure_options"] == {"hessian": {"max_iter": 3}}
    assert opts.protocol_hash != plain.protocol_hash
    assert opts.with_overrides(seeds=[1]).measure_options == opts.measure_options


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"architectures": "sample:0"}, "out of range"),
        ({"architectures": "sample:x"}, "needs a whole number N"),
        ({"architectures": "5,seven"}, "item 'seven'"),
        ({"architectures": " "}, "no architecture given"),
        ({"measure_options": {"hessian": 3}}, "measure_options.hessian: expected a mapping"),
        ({"measure_options": {"hessian": {"max_iter": [1]}}}, "measure_options.hessian.max_iter"),
        ({"architectures": "some"}, "architectures"),
        ({"architectures": [99999]}, "out of range"),
        ({"attacks": {"pgd": [0.03]}}, "looks like a fraction"),
        ({"attacks": {"pgd": ["x"]}}, "not a number"),
        ({"corruptions": {"fog": [6]}}, "severity 6"),
        ({"seeds": 0}, "at least 1"),
        ({"seeds": [1, 1]}, "repeated seed"),
        ({"retries": -1}, "at least 0"),
        ({"kind": "nope"}, "unknown job kind"),
        ({"atacks": {}}, "did you mean 'attacks'"),
        ({"model": {"C": 0}}, "model.C"),
        ({"device": "tpu"}, "unknown device"),
    ],
)
def test_config_errors_are_for_people(data, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"kind": "synthetic", **data})


def test_config_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        BuildConfig.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        BuildConfig.from_yaml(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        BuildConfig.from_yaml(empty)


def test_classify_failures():
    assert classify(JobFailure("divergence", "loss is nan"))[0] == "divergence"
    assert classify(MemoryError())[0] == "out-of-memory"
    assert classify(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))[0] == "out-of-memory"
    assert classify(FloatingPointError("training diverged at epoch 3"))[0] == "divergence"
    assert classify(FileNotFoundError("cifar10/data_batch_1 missing"))[0] == "bad-data"
    reason, message = classify(ZeroDivisionError("division by zero"))
    assert reason == "other" and "ZeroDivisionError" in message


# ---------------------------------------------------------------------- building
def test_build_resume_and_idempotence(tmp_path):
    cfg = _cfg(tmp_path, architectures="sample:6", seeds=[0, 1])
    store = ResultStore(cfg.output)
    # pretend a first run finished 4 jobs
    first = all_jobs(cfg)[:4]
    report = build(cfg.with_overrides(architectures=[j.uid for j in first if j.seed == 0], seeds=[0]),
                   workers=1, progress=False)  # fmt: skip
    assert report.done == 4 and report.failed == 0
    assert len(plan(cfg, store)) == 12 - 4
    report = build(cfg, workers=2, progress=False)
    assert (report.done, report.skipped, report.failed) == (8, 4, 0)
    assert store.counts()["done"] == 12
    assert len(store.query()) == 12 * 4  # digits/clean, digits/pgd@8, params, flops
    again = build(cfg, workers=2, progress=False)
    assert (again.done, again.executions, again.skipped) == (0, 0, 12)
    lines = (tmp_path / "log.txt").read_text().split()
    assert len(lines) == len(set(lines)) == 12  # every job ran exactly once
    assert store.integrity_check() == []


def test_failures_crashes_and_retries(tmp_path):
    uids = load_config({"kind": "synthetic", "architectures": "sample:8"}).arch_uids()
    fail, crash, diverge, flaky = uids[1], uids[3], uids[5], uids[6]
    cfg = _cfg(tmp_path, architectures="sample:8", retries=1,
               synthetic={"sleep": 0.05, "log": str(tmp_path / "log.txt"), "fail": [fail],
                          "crash": [crash], "diverge": [diverge], "flaky": [flaky]})  # fmt: skip
    report = build(cfg, workers=2, progress=False)
    assert (report.done, report.failed) == (5, 3)
    store = ResultStore(cfg.output)
    failed = {j.uid: j for j in store.jobs(state="failed")}
    assert set(failed) == {fail, crash, diverge}
    assert all(j.attempts == 2 for j in failed.values())
    assert failed[fail].reason == "other" and "synthetic failure" in failed[fail].message
    assert failed[crash].reason == "other" and "worker process died (exit code 3)" in failed[crash].message
    assert failed[diverge].reason == "divergence" and "nan" in failed[diverge].message
    done = {j.uid: j for j in store.jobs(state="done")}
    assert done[flaky].attempts == 2  # failed once, then succeeded
    # innocent jobs that shared the pool with the crashing one were re-run, never blamed
    assert all(j.attempts == 1 for u, j in done.items() if u != flaky)
    assert {f.uid for f in report.failures} == {fail, crash, diverge}
    # a second run does nothing: the failures are exhausted
    again = build(cfg, workers=2, progress=False)
    assert (again.executions, again.done, again.failed) == (0, 0, 0)
    # unless asked to retry them
    retry = build(cfg, workers=1, progress=False, retry_failed=True)
    assert retry.executions == 6 and retry.failed == 3
    assert store.integrity_check() == []


def test_unknown_measure_is_refused_before_any_job(tmp_path):
    from robnas.runner import jobs

    cfg = _cfg(tmp_path, kind="train-attack", measures=["jacobain"])
    with pytest.raises(ConfigError, match="unknown measure 'jacobain' \\(did you mean jacobian\\?\\)"):
        jobs.check_kind("train-attack", cfg)
    with pytest.raises(ConfigError, match="unknown measure 'jacobain'"):
        build(cfg, progress=False)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"dataset": "nodata"}, "unknown dataset"),
        ({"training": {"preset": "cpu-tiny", "epoch": 1}}, "unknown setting"),
        ({"training": "no-such-preset"}, "unknown training preset"),
        ({"attacks": {"pgdd": [8]}}, "pgdd"),
        ({"corruptions": {"fogg": [1]}}, "unknown corruption"),
        ({"eval": {"n": 5}}, "eval"),
    ],
)
def test_train_attack_checks_config_before_running(tmp_path, over, message):
    from robnas.runner import jobs

    cfg = _cfg(tmp_path, kind="train-attack", **over)
    with pytest.raises(ValueError, match=message):
        jobs.check_kind("train-attack", cfg)


def test_example_configs_are_valid():
    from pathlib import Path

    from robnas.runner.jobs import check_kind

    examples = sorted((Path(__file__).resolve().parents[1] / "examples").glob("build-*.yaml"))
    assert examples
    for path in examples:
        cfg = load_config(path)
        check_kind(cfg.kind, cfg)
        assert Path(cfg.output).is_absolute()
