"""The benchmark builder: jobs, executors (local processes, Ray), resumption and retries.

Quick use::

    from robnas.runner import build
    report = build("examples/build-digits.yaml", executor="local", workers=2)
    print(report.summary())

Results go to the configuration's ``output`` database (:mod:`robnas.store`), written by this
process only, one transaction per finished job; running the same configuration again resumes.
"""

from robnas.runner.build import BuildReport, all_jobs, build, plan, rows_of
from robnas.runner.config import BuildConfig, load_config
from robnas.runner.executors import EXECUTORS, Executor, LocalExecutor, get_executor
from robnas.runner.jobs import (
    JOB_KINDS,
    Job,
    JobFailure,
    JobOutcome,
    classify,
    execute,
    job_key,
    job_kinds,
    register_job_kind,
)

__all__ = [
    "EXECUTORS",
    "JOB_KINDS",
    "BuildConfig",
    "BuildReport",
    "Executor",
    "Job",
    "JobFailure",
    "JobOutcome",
    "LocalExecutor",
    "all_jobs",
    "build",
    "classify",
    "execute",
    "get_executor",
    "job_key",
    "job_kinds",
    "load_config",
    "plan",
    "register_job_kind",
    "rows_of",
]
