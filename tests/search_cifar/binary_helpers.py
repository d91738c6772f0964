"""Running ``search_cifar/search.py`` as a subprocess, the way a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEARCH = os.path.join(ROOT, "search_cifar", "search.py")


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["TF_CPP_MIN_LOG_LEVEL"] = "2"
    e.pop("RAY_ADDRESS", None)
    return e


def start(args, **kwargs) -> subprocess.Popen:
    """``python search_cifar/search.py ARGS`` in its own process group."""
    return subprocess.Popen([sys.executable, SEARCH, *args], cwd=ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kwargs)


def run(args, timeout=300) -> subprocess.CompletedProcess:
    proc = start(args)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, None)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILLs what is left of the process group this test started (Ray's agents)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def records(workdir: str) -> dict[int, dict]:
    out = {}
    trials = os.path.join(workdir, "trials")
    for name in sorted(os.listdir(trials)) if os.path.isdir(trials) else []:
        if name.endswith(".json"):
            with open(os.path.join(trials, name)) as f:
                data = json.load(f)
            out[data["id"]] = data
    return out
