"""Trials as Ray core tasks: the executor of distributed searches.

``RayExecutor`` runs each trial as a Ray task (``max_retries=0``: a crashed
trial is recorded, not silently re-run) on the embedded local Ray
(``address=None``, ``num_workers`` slots) or on a cluster (``address=...``;
the slots are the cluster's CPUs/GPUs over the per-trial request);
``wait`` returns the first trial to finish (``ray.wait(num_returns=1)``: the
NASNet work queue of Zoph et al. 2018, Sec. 4, in one line). A worker process
that dies (segfault, OOM kill, ``os._exit``) makes a failed Result.

On the worker, ``run_on_worker`` evaluates through
``executors.evaluate_point`` (the failure rules of every executor) and adds
what only distributed trials need to the metrics: where the trial ran
(``node_id``, ``hostname``, ``pid``), its process's ``cpu_seconds``, and the
metrics made JSON values (numpy scalars to numbers, NaN to None), since they
cross processes and machines.

Why Ray core tasks and not Ray Tune: the strategy stays a plain object in the
driver, the one place its state is saved, and resume is the trial store's own
record-and-state protocol (``trial_store.py``) instead of Tune's experiment
checkpoints (which re-create searchers from pickles and keep a second trial
database).

Workers import this module: it imports neither the strategies nor TensorFlow.

Example:
    >>> executor = RayExecutor(num_workers=2)
    >>> result = scheduler.run(strategy, CachedEvaluator(factory, "key"), budget=20,
    ...                        executor=executor, store=TrialStore("/tmp/search"))
    >>> executor.close()
"""

from __future__ import annotations

import math
import os
import socket
import time
from typing import Any

from search_cifar.evaluator import Evaluator, Result
from search_cifar.executors import evaluate_point

#: Metric keys that a trial run on Ray adds: where it ran, and the CPU seconds of
#: its worker process during the trial (all its threads; on a shared machine,
#: what the trial would take alone on as many cores as it has threads).
NODE_ID, HOSTNAME, PID, CPU_SECONDS = "node_id", "hostname", "pid", "cpu_seconds"


# -- what runs on a worker --------------------------------------------------------
def run_on_worker(evaluator: Evaluator, point: Any) -> tuple[Result, float]:
    """One trial on a Ray worker: its Result (with where it ran) and its duration."""
    import ray  # noqa: PLC0415 -- present on every Ray worker

    start, cpu_start = time.monotonic(), time.process_time()
    result = evaluate_point(evaluator, point)
    metrics = dict(result.metrics)
    metrics.update({HOSTNAME: socket.gethostname(), PID: os.getpid(),
                    NODE_ID: ray.get_runtime_context().get_node_id(),
                    CPU_SECONDS: time.process_time() - cpu_start})
    return Result(result.reward, _jsonable(metrics), result.error), time.monotonic() - start


def _jsonable(value: Any) -> Any:
    """Metrics as JSON values: numpy scalars to numbers, NaN kept as None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        return value
    return str(value)


# -- the executor ----------------------------------------------------------------
def _project_root() -> str:
    """The directory that holds the ``nasnet`` and ``search_cifar`` packages."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RayExecutor:
    """Each trial is a Ray task; ``wait`` returns the first one to finish.

    Args:
        address: None starts an embedded local Ray with ``num_workers *
            cpus_per_trial`` CPUs; otherwise ``ray.init(address=...)`` joins a
            running cluster ("auto", "ray://host:10001" or "host:6379").
        num_workers: concurrent trials; None with an address = as many as the
            cluster's resources allow.
        cpus_per_trial, gpus_per_trial: each task's resource request.
        runtime_env: extra Ray runtime_env entries.
        ship_code: send the project's packages to the workers as runtime_env
            ``py_modules`` (default: when joining a cluster, whose nodes may
            not share this file system); otherwise workers get this checkout
            on PYTHONPATH, which works under ``python`` and ``bazel run``.
        log_to_driver: forward workers' stdout/stderr to this terminal.
    """

    def __init__(self, address: str | None = None, num_workers: int | None = 2,
                 cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0,
                 runtime_env: dict[str, Any] | None = None, ship_code: bool | None = None,
                 log_to_driver: bool = True):
        import ray  # Imported here: the in-process paths never need Ray.

        if num_workers is not None and (isinstance(num_workers, bool)
                                        or not isinstance(num_workers, int) or num_workers < 1):
            raise ValueError(f"num_workers must be an int >= 1 (or None), got {num_workers!r}")
        if address is None and num_workers is None:
            raise ValueError("num_workers is needed for a local Ray (no address)")
        for name, value, low in (("cpus_per_trial", cpus_per_trial, 0.0),
                                 ("gpus_per_trial", gpus_per_trial, 0.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < low:
                raise ValueError(f"{name} must be a number >= {low}, got {value!r}")
        if cpus_per_trial == 0 and gpus_per_trial == 0:
            raise ValueError("a trial must request some CPUs or GPUs (cpus_per_trial and "
                             "gpus_per_trial are both 0)")
        self._ray = ray
        self.address = address
        self.cpus_per_trial = float(cpus_per_trial)
        self.gpus_per_trial = float(gpus_per_trial)
        env = dict(runtime_env or {})
        env_vars = dict(env.get("env_vars", {}))
        threads = str(max(1, int(cpus_per_trial)))
        # TensorFlow sizes its thread pools by the machine's cores, not by the
        # task's CPUs; two trials on two cores would fight over four pools.
        env_vars.setdefault("TF_NUM_INTRAOP_THREADS", threads)
        env_vars.setdefault("TF_NUM_INTEROP_THREADS", threads)
        env_vars.setdefault("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
        if ship_code is None:
            ship_code = address is not None
        root = _project_root()
        if ship_code:
            env["py_modules"] = list(env.get("py_modules", [])) + [
                os.path.join(root, "nasnet"), os.path.join(root, "search_cifar")]
        else:
            path = os.environ.get("PYTHONPATH")
            env_vars["PYTHONPATH"] = root + (os.pathsep + path if path else "")
        env["env_vars"] = env_vars
        self._started_ray = False
        if ray.is_initialized():
            raise RuntimeError("Ray is already initialised in this process; RayExecutor "
                               "starts (or joins) it itself")
        common = dict(include_dashboard=False, log_to_driver=log_to_driver,
                      runtime_env=env, logging_level="WARNING", configure_logging=True)
        if address is None:
            # Ray starts workers at niceness 15 below its own daemons; here the
            # workers are the search, so they compete on equal terms (a cluster's
            # raylets keep their own setting).
            os.environ.setdefault("RAY_worker_niceness", "0")
            num_cpus = max(1, math.ceil(num_workers * self.cpus_per_trial))
            try:
                ray.init(num_cpus=num_cpus, **common)
            except Exception:  # noqa: BLE001 -- on a saturated machine a daemon can
                # miss Ray's start-up deadline ("node timed out during startup"): once more.
                ray.shutdown()
                ray.init(num_cpus=num_cpus, **common)
        else:
            ray.init(address=address, **common)
        self._started_ray = True
        self.capacity = self._slots(num_workers)
        self._remote = ray.remote(max_retries=0)(run_on_worker).options(
            num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial)
        # id(evaluator) -> (evaluator, its object ref): each evaluator is put once
        # (and kept alive here, so that its id is not reused).
        self._evaluator_refs: dict[int, tuple[Evaluator, Any]] = {}
        self._running: dict[Any, int] = {}  # object ref -> trial id

    def _slots(self, num_workers: int | None) -> int:
        resources = self._ray.cluster_resources()
        slots = []
        if self.cpus_per_trial > 0:
            slots.append(int(resources.get("CPU", 0) // self.cpus_per_trial))
        if self.gpus_per_trial > 0:
            slots.append(int(resources.get("GPU", 0) // self.gpus_per_trial))
        fit = min(slots)
        if fit < 1:
            self.close()
            raise ValueError(
                f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and "
                f"{resources.get('GPU', 0):g} GPUs; a trial asks for {self.cpus_per_trial:g} "
                f"CPUs and {self.gpus_per_trial:g} GPUs, so no trial can run")
        return fit if num_workers is None else min(fit, num_workers)

    @property
    def num_running(self) -> int:
        return len(self._running)

    def submit(self, trial_id: int, evaluator: Evaluator, point: Any) -> None:
        known = self._evaluator_refs.get(id(evaluator))
        if known is None:
            known = self._evaluator_refs[id(evaluator)] = (evaluator, self._ray.put(evaluator))
        self._running[self._remote.remote(known[1], point)] = trial_id

    def wait(self) -> tuple[int, Result, float | None]:
        ray = self._ray
        (ref,), _ = ray.wait(list(self._running), num_returns=1)
        trial_id = self._running.pop(ref)
        try:
            result, duration = ray.get(ref)
        except ray.exceptions.RayError as e:
            # The worker process died (WorkerCrashedError, OutOfMemoryError,
            # NodeDiedError...) or could not run the task at all.
            message = str(e).strip().splitlines()
            return trial_id, Result.failure(f"{type(e).__name__}: " + " ".join(message[:3])), None
        return trial_id, result, duration

    def describe(self) -> str:
        where = f"Ray cluster at {self.address}" if self.address else "local Ray"
        gpus = f", {self.gpus_per_trial:g} GPU" if self.gpus_per_trial else ""
        return (f"{where}: {self.capacity} concurrent trial(s) of "
                f"{self.cpus_per_trial:g} CPU{gpus} each")

    def close(self) -> None:
        """Cancels running trials (they stay pending in the saved state) and leaves Ray."""
        for ref in list(self._running) if hasattr(self, "_running") else []:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 -- best effort at shutdown
                pass
        if hasattr(self, "_running"):
            self._running.clear()
        if self._started_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._started_ray = False
