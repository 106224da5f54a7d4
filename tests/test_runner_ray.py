"""The Ray executor on a local Ray instance (2 CPUs): one task per job, crashes recorded, resumable."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

from robnas.runner import build, load_config  # noqa: E402
from robnas.runner.ray_executor import RayExecutor  # noqa: E402
from robnas.store import ResultStore  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_executor_builds_records_crashes_and_resumes(tmp_path, local_ray):
    uids = load_config({"kind": "synthetic", "architectures": "sample:6"}).arch_uids()
    cfg = load_config(
        {
            "kind": "synthetic",
            "architectures": "sample:6",
            "dataset": "digits",
            "seeds": [0],
            "attacks": {"pgd": [8]},
            "retries": 0,
            "output": str(tmp_path / "ray.sqlite"),
            "synthetic": {
                "sleep": 0.05,
                "log": str(tmp_path / "log.txt"),
                "crash": [uids[2]],
                "fail": [uids[4]],
            },
        }
    )
    executor = RayExecutor(workers=2)
    report = build(cfg, executor=executor, progress=False)
    assert report.executor == "ray"
    assert (report.done, report.failed) == (4, 2)
    store = ResultStore(cfg.output)
    failed = {j.uid: j for j in store.jobs(state="failed")}
    assert set(failed) == {uids[2], uids[4]}
    assert "Ray task failed" in failed[uids[2]].message  # the worker died
    assert "synthetic failure" in failed[uids[4]].message
    assert store.integrity_check() == []
    assert len(store.query()) == 4 * 4
    # the same build again does nothing; the Ray instance we did not start stays up
    again = build(cfg, executor="ray", workers=2, progress=False)
    assert (again.executions, again.done) == (0, 0)
    assert ray.is_initialized()


def test_ray_requests_gpus_when_available_or_asked():
    from robnas.runner.jobs import Job

    def job(device):
        return Job("k", 0, "a", 0, "digits", "p", "c", "synthetic", spec={"device": device})

    ex = RayExecutor(workers=1)
    ex._gpus, ex._has_gpus = None, False
    assert ex._options(job("auto")) == {} and ex._options(job("cuda")) == {"num_gpus": 1}
    ex._has_gpus = True
    assert ex._options(job("auto")) == {"num_gpus": 1} and ex._options(job("cpu")) == {}
    ex._gpus = 0.5
    assert ex._options(job("cpu")) == {"num_gpus": 0.5}
