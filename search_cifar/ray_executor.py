"""Trials as Ray core tasks: the executor of distributed searches.

``RayExecutor`` runs each trial as a Ray task (``max_retries=0``: a crashed
trial is recorded, not silently re-run) on a local Ray of this machine
(``address=None``, ``num_workers`` slots; ``local_ray.LocalRay``: bound to
127.0.0.1 and stopped with the search, however the search ends) or on a
cluster (``address=...``; the slots are the cluster's CPUs/GPUs over the
per-trial request); ``wait`` returns the first trial to finish
(``ray.wait(num_returns=1)``: the NASNet work queue of Zoph et al. 2018,
Sec. 4, in one line). A worker process that dies (segfault, OOM kill,
``os._exit``) makes a failed Result.

Devices (``devices.py``): a trial that requests no GPU runs with TensorFlow
limited to the CPU; a GPU trial gets its own GPUs (Ray's
``CUDA_VISIBLE_DEVICES``), GPU memory on demand, and a worker process of its
own (``max_calls=1``: Ray's default for ``@ray.remote(num_gpus=...)``, which
a request made with ``.options(num_gpus=...)`` does not get; a reused worker
would keep the GPU its TensorFlow started with).

On the worker, ``run_on_worker`` evaluates through
``executors.evaluate_point`` (the failure rules of every executor) and adds
what only distributed trials need to the metrics: where the trial ran
(``node_id``, ``hostname``, ``pid``), its GPUs (``gpu_ids``,
``cuda_visible_devices``), its process's ``cpu_seconds``, and the metrics
made JSON values (numpy scalars to numbers, NaN to None), since they cross
processes and machines.

Early stopping (``early_stopping.py``; ``submit(..., rungs, decide)``): the
child on the worker asks the driver at each rung epoch whether it continues,
through a small asyncio actor, ``RungMailbox`` (no CPU of its own, created on
the first such submit): the worker's ``report`` hook
(``executors.RungReporter``) calls ``mailbox.ask(trial_id, epoch, history)``
and blocks on it; the actor parks the question, and ``wait`` here, which waits
with ``ray.wait`` on the running trials and on one outstanding
``mailbox.requests()`` call at once, takes the questions as they arrive, asks
the driver's ``decide`` (in the driver's process: the decisions and their
persistence stay the driver's) and sends the answers back with
``mailbox.answer``. No polling: a question wakes the driver like a finished
trial does. A child waits for its answer only at rung epochs, and for as
long as the driver takes to write the decision.

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

import asyncio
import math
import os
import socket
import time
from typing import Any, Sequence

from search_cifar import devices
from search_cifar.evaluator import Evaluator, Result
from search_cifar.executors import Decide, RungReporter, evaluate_point, jsonable
from search_cifar.local_ray import LocalRay, LocalRayError, connect

#: Metric keys that a trial run on Ray adds: where it ran, and the CPU seconds of
#: its worker process during the trial (all its threads; on a shared machine,
#: what the trial would take alone on as many cores as it has threads).
NODE_ID, HOSTNAME, PID, CPU_SECONDS = "node_id", "hostname", "pid", "cpu_seconds"


#: Metrics as JSON values (numpy scalars to numbers, NaN to None).
_jsonable = jsonable


# -- what runs on a worker --------------------------------------------------------
def run_on_worker(evaluator: Evaluator, point: Any, rungs: Sequence[int] = (),
                  mailbox: Any = None, trial_id: int | None = None) -> tuple[Result, float]:
    """One trial on a Ray worker: its Result (with where it ran) and its duration.

    With ``rungs`` and a ``mailbox`` (a ``RungMailbox`` actor), the evaluator's
    ``report`` asks the driver through it at those epochs whether to continue.
    """
    import ray  # noqa: PLC0415 -- present on every Ray worker

    report = None
    if rungs and mailbox is not None:
        report = RungReporter(rungs, lambda epoch, history: ray.get(
            mailbox.ask.remote(trial_id, epoch, history)))
    start, cpu_start = time.monotonic(), time.process_time()
    result = evaluate_point(evaluator, point, report)
    metrics = dict(result.metrics)
    metrics.update({HOSTNAME: socket.gethostname(), PID: os.getpid(),
                    NODE_ID: ray.get_runtime_context().get_node_id(),
                    CPU_SECONDS: time.process_time() - cpu_start, **devices.trial_devices(ray)})
    return Result(result.reward, jsonable(metrics), result.error), time.monotonic() - start


class RungMailbox:
    """A Ray asyncio actor between children at a rung and the driver (module docstring).

    ``ask`` (a worker) parks a question until ``answer`` (the driver) resolves it;
    ``requests`` (the driver) returns the questions parked since its last call,
    waiting until there is at least one.
    """

    def __init__(self):
        self._questions: list[tuple[int, int, list]] = []
        self._arrived = asyncio.Event()
        self._answers: dict[tuple[int, int], asyncio.Future] = {}

    async def ask(self, trial_id: int, epoch: int, history: list) -> bool:
        future = asyncio.get_running_loop().create_future()
        self._answers[(trial_id, epoch)] = future
        self._questions.append((trial_id, epoch, history))
        self._arrived.set()
        return await future

    async def requests(self) -> list[tuple[int, int, list]]:
        await self._arrived.wait()
        self._arrived.clear()
        questions, self._questions = self._questions, []
        return questions

    async def answer(self, answers: list[tuple[int, int, bool]]) -> None:
        for trial_id, epoch, go_on in answers:
            future = self._answers.pop((trial_id, epoch), None)
            if future is not None and not future.done():
                future.set_result(bool(go_on))


# -- the executor ----------------------------------------------------------------
def _project_root() -> str:
    """The directory that holds the ``nasnet`` and ``search_cifar`` packages."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RayExecutor:
    """Each trial is a Ray task; ``wait`` returns the first one to finish.

    Args:
        address: None starts a local Ray (``local_ray.LocalRay``: 127.0.0.1
            only, gone with this process) with ``num_workers *
            cpus_per_trial`` CPUs; otherwise ``ray.init(address=...)`` joins a
            running cluster ("auto", "ray://host:10001" or "host:6379").
        num_workers: concurrent trials; None with an address = as many as the
            cluster's resources allow.
        cpus_per_trial, gpus_per_trial: each task's resource request.
        num_gpus: GPUs of the local Ray (None: Ray detects them). Ray's GPUs
            are logical, so any number works on a machine without GPUs
            (tests); not with an address.
        runtime_env: extra Ray runtime_env entries.
        ship_code: send the project's packages to the workers as runtime_env
            ``py_modules`` (default: when joining a cluster, whose nodes may
            not share this file system); otherwise workers get this checkout
            on PYTHONPATH, which works under ``python`` and ``bazel run``.
        log_to_driver: forward workers' stdout/stderr to this terminal.
    """

    def __init__(self, address: str | None = None, num_workers: int | None = 2,
                 cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0,
                 num_gpus: int | None = None, runtime_env: dict[str, Any] | None = None,
                 ship_code: bool | None = None, log_to_driver: bool = True):
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
        if num_gpus is not None and address is not None:
            raise ValueError(f"num_gpus={num_gpus!r} sets a local Ray's GPUs; a cluster at "
                             f"{address!r} has its own")
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
        for key, value in devices.trial_env(self.gpus_per_trial).items():
            env_vars.setdefault(key, value)
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
        self._local: LocalRay | None = None
        self._started_ray = False
        if ray.is_initialized():
            raise RuntimeError("Ray is already initialised in this process; RayExecutor "
                               "starts (or joins) it itself")
        common = dict(log_to_driver=log_to_driver, runtime_env=env, logging_level="WARNING",
                      configure_logging=True)
        if address is None:
            num_cpus = max(1, math.ceil(num_workers * self.cpus_per_trial))
            # Ray starts workers at niceness 15 below its own daemons; here the
            # workers are the search, so they compete on equal terms (a cluster's
            # raylets keep their own setting).
            ray_env = {"RAY_worker_niceness": os.environ.get("RAY_worker_niceness", "0")}
            try:
                self._local = LocalRay(num_cpus=num_cpus, num_gpus=num_gpus, env=ray_env)
            except LocalRayError:  # on a saturated machine a daemon can miss Ray's
                # start-up deadline ("node timed out during startup"): once more.
                self._local = LocalRay(num_cpus=num_cpus, num_gpus=num_gpus, env=ray_env)
            try:
                connect(ray, self._local, **common)
            except BaseException:
                self.close()
                raise
        else:
            ray.init(address=address, include_dashboard=False, **common)
        self._started_ray = True
        self.capacity = self._slots(num_workers)
        # A GPU trial gets a worker process of its own (see the module docstring).
        self._remote = ray.remote(max_retries=0, max_calls=1 if self.gpus_per_trial else 0)(
            run_on_worker).options(num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial)
        # id(evaluator) -> (evaluator, its object ref): each evaluator is put once
        # (and kept alive here, so that its id is not reused).
        self._evaluator_refs: dict[int, tuple[Evaluator, Any]] = {}
        self._running: dict[Any, int] = {}  # object ref -> trial id
        # Early stopping: the mailbox actor, its outstanding requests() call, and each
        # running trial's decide.
        self._mailbox: Any = None
        self._questions: Any = None
        self._decide: dict[int, Decide] = {}

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

    def submit(self, trial_id: int, evaluator: Evaluator, point: Any,
               rungs: Sequence[int] = (), decide: Decide | None = None) -> None:
        known = self._evaluator_refs.get(id(evaluator))
        if known is None:
            known = self._evaluator_refs[id(evaluator)] = (evaluator, self._ray.put(evaluator))
        if rungs and decide is not None:
            if self._mailbox is None:
                self._mailbox = self._ray.remote(num_cpus=0, max_restarts=0)(
                    RungMailbox).remote()
            self._decide[trial_id] = decide
            ref = self._remote.remote(known[1], point, tuple(rungs), self._mailbox, trial_id)
        else:
            ref = self._remote.remote(known[1], point)
        self._running[ref] = trial_id

    def _answer(self, questions: list[tuple[int, int, list]]) -> None:
        """The driver's decisions for the children waiting at a rung."""
        answers = []
        for trial_id, epoch, history in questions:
            decide = self._decide.get(trial_id)
            answers.append((trial_id, epoch, bool(decide(trial_id, epoch, history))
                            if decide is not None else False))
        self._mailbox.answer.remote(answers)

    def wait(self) -> tuple[int, Result, float | None]:
        ray = self._ray
        while True:
            refs = list(self._running)
            if self._mailbox is not None:
                if self._questions is None:
                    self._questions = self._mailbox.requests.remote()
                refs.insert(0, self._questions)
            (ref,), _ = ray.wait(refs, num_returns=1)
            if self._questions is not None and ref == self._questions:
                self._questions = None
                self._answer(ray.get(ref))
                continue
            break
        trial_id = self._running.pop(ref)
        self._decide.pop(trial_id, None)
        try:
            result, duration = ray.get(ref)
        except ray.exceptions.RayError as e:
            # The worker process died (WorkerCrashedError, OutOfMemoryError,
            # NodeDiedError...) or could not run the task at all.
            message = str(e).strip().splitlines()
            return trial_id, Result.failure(f"{type(e).__name__}: " + " ".join(message[:3])), None
        return trial_id, result, duration

    def describe(self) -> str:
        where = f"Ray cluster at {self.address}" if self.address else "local Ray on 127.0.0.1"
        gpus = f" and {self.gpus_per_trial:g} GPU" if self.gpus_per_trial else ""
        return (f"{where}: {self.capacity} concurrent trial(s) of "
                f"{self.cpus_per_trial:g} CPU{gpus} each")

    def close(self) -> None:
        """Leaves Ray; running trials stay pending in the saved state. On a cluster they
        are cancelled; a local Ray is stopped, which stops them with it.

        A local Ray's trials are not cancelled first: a forced ``ray.cancel`` that
        races with the task's completion can abort the driver (Ray's ``RAY_CHECK``
        "it != submissible_tasks_.end()", ray-project/ray PR 54798; seen here with
        Ray 2.60 on Ctrl-C in ``tests/search_cifar/test_resume_kill.py``), and
        stopping the local Ray kills its workers anyway."""
        on_cluster = getattr(self, "_local", None) is None
        for ref in list(getattr(self, "_running", {})) if on_cluster else []:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 -- best effort at shutdown
                pass
        if hasattr(self, "_running"):
            self._running.clear()
            self._decide.clear()
            if self._mailbox is not None:
                try:
                    self._ray.kill(self._mailbox)
                except Exception:  # noqa: BLE001 -- best effort at shutdown
                    pass
                self._mailbox = self._questions = None
        if self._started_ray and self._ray.is_initialized():
            self._ray.shutdown()
        self._started_ray = False
        if self._local is not None:
            self._local.close()
            self._local = None
