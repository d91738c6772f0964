"""A local Ray for one search: bound to 127.0.0.1, and gone when the search is gone.

``LocalRay(num_cpus=2)`` starts a single-machine Ray and gives its address
(``.address``, ``"127.0.0.1:PORT"``) for ``ray.init(address=...)``;
``close()`` stops it. ``RayExecutor`` uses it when no ``--ray_address`` is
given; a cluster at an address is joined as it is.

Two things ``ray.init()`` in the search's own process does not give:

* **Nothing outlives the search.** Ray ties its head daemons (GCS, raylet) to
  the process that called ``ray.init`` with the kernel's parent-death signal,
  but the raylet's own children, the dashboard and runtime-env agents, are
  not tied to anything: after a SIGKILL of the search they stay alive,
  re-parented to PID 1. Here the head is started by a small *guard* process
  (this file run as a script) in a new session, so that every Ray process
  descends from the guard and the daemons and agents are in its process
  group, which no other process is. The guard reads its stdin, a pipe from the search; the pipe
  reaches end-of-file when the search closes it or dies by any means
  (SIGKILL included), and the guard then shuts Ray down (at most
  ``SHUTDOWN_SECONDS``) and SIGKILLs what is left: its descendants as they
  were before the shutdown (the raylet puts each worker in a process group
  of its own) and its process group, itself last. The same pattern as Ray's own ``ray_process_reaper.py``, which
  Ray starts only where the kernel's fate sharing is missing (and which needs
  the caller to become a process-group leader, taking the search out of its
  terminal's job control). If the guard itself is SIGKILLed, only Ray's own
  fate sharing is left.
* **Loopback only.** A single-machine Ray has no reason to listen on the
  network. Ray's switch for that is ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
  (what Ray does by default on macOS and Windows): the node's address is then
  127.0.0.1, and Ray's gRPC servers (GCS, raylet, every worker's and the
  driver's) bind 127.0.0.1 instead of all interfaces, the runtime-env agent
  too. The guard sets it for the Ray it starts. A driver joins with
  ``connect(ray, address)``: Ray reads the switch once, when it is imported
  (``ray._private.ray_constants.ENABLE_RAY_CLUSTER``), and with it on, it
  rewrites 127.0.0.1 in an address to the machine's address
  (``services.resolve_ip_for_localhost``), where nothing listens; so the
  switch is off while the driver connects. The driver then takes the
  raylet's address and binds 127.0.0.1 too. Ray always starts its
  dashboard agent (the raylet has no option to leave it out), even with the
  dashboard off; here it binds loopback like the rest.

The guard is plain Python with Ray (no project import), so it runs the same
under ``python``, ``python -m`` and ``bazel run``. Its log (Ray's start-up
messages) goes to a temporary file, read back only when Ray fails to start.

Example:
    >>> local = LocalRay(num_cpus=2)
    >>> connect(ray, local, runtime_env={...})
    >>> ...
    >>> ray.shutdown(); local.close()
"""

from __future__ import annotations

import json
import math
import unittest.mock
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

#: Ray's switch for a single-machine Ray that listens on 127.0.0.1 only
#: (``ray._private.ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR``).
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
#: The guard's answer on its stdout: ``"ready <address>"`` or ``"failed <reason>"``.
READY, FAILED = "ready", "failed"
#: Ray's authentication mode variable ("token" or "disabled"; see Ray's token-auth docs).
AUTH_MODE_ENV = "RAY_AUTH_MODE"
#: Seconds the guard gives ``ray.shutdown()`` before it SIGKILLs its process group.
SHUTDOWN_SECONDS = 10


class LocalRayError(RuntimeError):
    """The local Ray did not start (the reason is Ray's own message)."""


class LocalRay:
    """A single-machine Ray in a guard process (see the module docstring).

    Args:
        num_cpus: CPUs the node advertises (>= 1).
        num_gpus: GPUs it advertises; None lets Ray detect them. Any number
            works without GPUs: Ray's logical GPUs (tests).
        startup_timeout: seconds to wait for the node.
        env: extra environment variables of the Ray processes (e.g. ``RAY_...``
            settings read by the raylet).
    """

    def __init__(self, num_cpus: int, num_gpus: int | None = None,
                 startup_timeout: float = 300.0, env: dict[str, str] | None = None):
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1:
            raise ValueError(f"num_cpus must be an int >= 1, got {num_cpus!r}")
        if num_gpus is not None and (isinstance(num_gpus, bool) or not isinstance(num_gpus, int)
                                     or num_gpus < 0):
            raise ValueError(f"num_gpus must be an int >= 0 or None, got {num_gpus!r}")
        if isinstance(startup_timeout, bool) or not isinstance(startup_timeout, (int, float)) \
                or not math.isfinite(startup_timeout) or startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be a number > 0, got {startup_timeout!r}")
        options: dict[str, Any] = {"num_cpus": num_cpus, "include_dashboard": False,
                                   "log_to_driver": False, "logging_level": "WARNING"}
        if num_gpus is not None:
            options["num_gpus"] = num_gpus
        child_env = dict(os.environ)
        child_env.pop("RAY_ADDRESS", None)  # the guard starts a node; it joins none
        child_env.update(env or {})
        child_env[SINGLE_MACHINE_ENV] = "0"
        self.address: str | None = None
        self.auth_mode: str | None = None  # the node's RAY_AUTH_MODE
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-u", os.path.abspath(__file__), json.dumps(options)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=child_env,
            start_new_session=True)
        try:
            kind, _, rest = self._read_answer(startup_timeout).partition(" ")
            if kind != READY:
                raise LocalRayError(rest or "the guard process gave no reason")
            self.address, _, self.auth_mode = rest.partition(" ")
        except BaseException:  # a failed start, or Ctrl-C while starting: nothing stays
            self.close()
            raise

    @property
    def pid(self) -> int:
        """The guard's process id (also its process group's and session's)."""
        return self.process.pid

    def _read_answer(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LocalRayError(f"Ray did not start within {timeout:g} s"
                                        + self._log_tail())
                if not selector.select(left):
                    continue
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    self.process.wait()
                    raise LocalRayError(f"the guard process exited with status "
                                        f"{self.process.returncode}" + self._log_tail())
                data += chunk
        return data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()

    def _log_tail(self, lines: int = 3) -> str:
        self._log.seek(0)
        tail = [line for line in self._log.read().decode("utf-8", "replace").splitlines()
                if line.strip()][-lines:]
        return (": " + " | ".join(tail)) if tail else ""

    def close(self, timeout: float = 60.0) -> None:
        """Stops Ray: closes the guard's pipe and waits for the guard (then SIGKILLs its group)."""
        process = self.process
        if process.stdin is not None and not process.stdin.closed:
            try:
                process.stdin.close()
            except OSError:
                pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        self._log.close()


def connect(ray: Any, local: LocalRay, **init_options: Any) -> None:
    """Joins ``local`` from this process: ``ray.init(address=local.address, **init_options)``.

    With two adjustments (see the module docstring): 127.0.0.1 stays
    127.0.0.1, and the driver takes the node's authentication mode (Ray turns
    token authentication on for a new node, the token in ``~/.ray/auth_token``,
    but never for a driver joining an explicit address). Ray reads
    ``RAY_AUTH_MODE`` into its configuration once; ``Config.initialize`` re-reads
    it, which is what ``ray.init`` does when it starts a node itself.
    """
    if local.auth_mode and os.environ.get(AUTH_MODE_ENV) != local.auth_mode:
        os.environ[AUTH_MODE_ENV] = local.auth_mode
        ray._raylet.Config.initialize("")  # noqa: SLF001
    constants = ray._private.ray_constants  # noqa: SLF001 -- the switch Ray reads at import
    with unittest.mock.patch.object(constants, "ENABLE_RAY_CLUSTER", False):
        ray.init(address=local.address, **init_options)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- the guard ----------------------------------------------------------------------
def _guard(options: dict[str, Any]) -> None:
    """Starts Ray, answers on stdout, waits for end-of-file on stdin, then reaps its group."""
    answer = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything else printed goes to the log
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the search's to handle
    import ray  # noqa: PLC0415
    try:
        try:
            ray.init(**options)
            # Ray turns token authentication on for a new node unless RAY_AUTH_MODE
            # says otherwise; a driver that joins needs the same mode.
            mode = os.environ.get(AUTH_MODE_ENV) or "disabled"
            message = f"{READY} {ray.get_runtime_context().gcs_address} {mode}"
        except Exception as e:  # noqa: BLE001 -- reported to the search, which raises it
            message = f"{FAILED} {type(e).__name__}: " + " ".join(str(e).split())[:500]
        try:
            answer.write(message + "\n")
            answer.flush()
        except BrokenPipeError:
            return  # the search is gone already
        if message.startswith(READY):
            while sys.stdin.buffer.read(65536):
                pass
    finally:
        # The raylet gives each worker a process group of its own: remember every
        # descendant before Ray goes down, so that none is missed.
        import psutil  # noqa: PLC0415 -- a dependency of Ray (vendored in ray/thirdparty_files)
        try:
            descendants = psutil.Process().children(recursive=True)
        except psutil.Error:
            descendants = []
        signal.signal(signal.SIGALRM, lambda *_: _kill_group(0))
        signal.alarm(SHUTDOWN_SECONDS)
        try:
            ray.shutdown()
        finally:
            for process in descendants:
                try:
                    process.kill()  # psutil checks that the pid is still that process
                except psutil.Error:
                    pass
            _kill_group(0)


if __name__ == "__main__":
    sys.path.pop(0)  # this file's directory: nothing of the project is imported here
    _guard(json.loads(sys.argv[1]))
