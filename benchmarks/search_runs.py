"""Runs of the search binary for the benchmarks that compare whole searches.

``benchmarks/cost_aware_search.py`` and ``benchmarks/enas_vs_evolution.py``
run ``search_cifar/search.py`` as a user would (a subprocess, its own flags)
and report each run's wall and CPU seconds beside its results; this is the
one place that does it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from typing import Any, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEARCH = os.path.join(ROOT, "search_cifar", "search.py")


def run_search(args: Sequence[str], log_path: str) -> dict[str, Any]:
    """``python search_cifar/search.py ARGS`` from the repository root, its output to
    ``log_path``; ``{"wall_seconds", "cpu_seconds", "log"}`` (CPU: user + system of the
    child processes, Ray's included when they are waited for).

    Raises:
        RuntimeError: the search exited non-zero; the message holds its last 3,000
            characters of output.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        code = subprocess.run([sys.executable, SEARCH, *args], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, check=False).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        with open(log_path, encoding="utf-8") as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f"search.py {' '.join(args)} exited {code}:\n{tail}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_seconds": wall, "cpu_seconds": cpu, "log": log_path}
