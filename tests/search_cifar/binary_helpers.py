"""Running ``search_cifar/search.py`` as a subprocess, the way a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEARCH = os.path.join(ROOT, "search_cifar", "search.py")


def call(*args) -> int:
    """``search.main`` in this process with ``args`` as its flags, as ``search.run``
    (``nasnet.cli.run``) calls it: the exit code, flags reset afterwards."""
    from absl import flags  # noqa: PLC0415 -- here: only the in-process tests need them

    from nasnet import cli  # noqa: PLC0415
    from search_cifar import search  # noqa: PLC0415

    flags.FLAGS.unparse_flags()
    argv = flags.FLAGS(["search", *args])
    try:
        return cli.call(search.main, argv, "search")
    finally:
        flags.FLAGS.unparse_flags()


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


def records(workdir: str, folder: str = "trials", key: str = "id") -> dict[int, dict]:
    """The JSON records in ``workdir/folder`` (``trials/``, or early stopping's
    ``rungs/`` with ``key="trial"``), by their ``key`` field."""
    out = {}
    directory = os.path.join(workdir, folder)
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as f:
                data = json.load(f)
            out[data[key]] = data
    return out


#: Lines a healthy run must not print: error-level log lines (``E1130 12:00:00...`` from
#: absl/glog, ``2026-11-30 12:00:00.123: E external/...`` from TensorFlow's logger, Ray's
#: ``[2026-11-30 12:00:00,123 E 123 456]``, Python's ``ERROR``), also when a Ray worker's
#: line is forwarded with its ``(task pid=123)`` prefix, and CUDA start-up failures.
ERROR_LINE = re.compile(r"(^|\) )(E\d{4}|\S+ \S+: E )|\[[^]]* E \d+ \d+\]|\bERROR\b|cuInit")


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if ERROR_LINE.search(line)]


def descendants(pid: int) -> list[psutil.Process]:
    """The live descendants of ``pid`` (the search's guard, Ray's daemons and workers)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def alive(processes) -> list[psutil.Process]:
    out = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                out.append(process)
        except psutil.Error:
            pass
    return out


def wait_gone(processes, timeout: float) -> list[psutil.Process]:
    """Waits up to ``timeout`` seconds for ``processes`` to end; returns those still alive."""
    deadline = time.monotonic() + timeout
    left = alive(processes)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = alive(left)
    return left


def kill(processes) -> None:
    """SIGKILLs what a failed test would otherwise leave behind."""
    for process in alive(processes):
        try:
            process.kill()
        except psutil.Error:
            pass


def listening_sockets(processes) -> list[tuple[int, str, int]]:
    """(pid, ip, port) of every listening TCP socket of ``processes``."""
    out = []
    for process in processes:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.Error:
            continue
        out += [(process.pid, c.laddr.ip, c.laddr.port) for c in connections
                if c.status == psutil.CONN_LISTEN]
    return out


LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
