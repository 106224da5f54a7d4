"""The environment that produced a number: library versions, CPU, threads.

Stored with every result row (``environment`` column of the results store), stated in the HTML
report and printed by ``tools/readme_outputs.py``. It never imports torch: the torch version
and thread count are read from the loaded module when there is one, else from the installed
package's metadata (threads then unknown).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

__all__ = ["cpu_model", "environment", "format_environment"]


def _version(name: str) -> str | None:
    mod = sys.modules.get(name)
    if mod is not None and hasattr(mod, "__version__"):
        return str(mod.__version__)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else the platform's processor)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment() -> dict[str, Any]:
    """``{robnas, python, torch, numpy, platform, cpu, cpus, torch_threads, omp_num_threads}``.

    ``torch_threads`` is None when the process has not loaded torch (its threads then do not
    matter to its results).
    """
    import robnas

    torch = sys.modules.get("torch")
    return {
        "robnas": robnas.__version__,
        "python": platform.python_version(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "torch_threads": int(torch.get_num_threads()) if torch is not None else None,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def format_environment(env: dict[str, Any]) -> str:
    """One line: ``robnas 0.1.0, torch 2.13.0, numpy 2.4.6, Python 3.11.7; CPU (2 cores), 1 torch thread``."""
    libs = ", ".join(f"{k} {env[k]}" for k in ("robnas", "torch", "numpy") if env.get(k))
    line = f"{libs}, Python {env.get('python')}; {env.get('cpu')} ({env.get('cpus')} cores)"
    if env.get("torch_threads"):
        line += f", {env['torch_threads']} torch thread(s)"
    if env.get("omp_num_threads"):
        line += f", OMP_NUM_THREADS={env['omp_num_threads']}"
    if env.get("platform"):
        line += f"; {env['platform']}"
    return line
