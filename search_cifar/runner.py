"""Asynchronous trial execution: the NASNet work queue on Ray core tasks.

``run(strategy, trial_fn, budget, executor, store)`` keeps every worker busy:
as soon as one trial finishes, its reward is told to the strategy and a new
proposal is asked and submitted (Zoph et al. 2018, Sec. 4: a controller feeding
a queue of child trainings, rewards told as they arrive). Strategies see only
proposals and rewards; this module knows nothing about TensorFlow, datasets or
presets: it schedules ``trial_fn(point)`` calls and records what comes back.

* ``point`` is the decoded ``Genotype`` where the space decodes (else the
  choice tuple). ``trial_fn`` returns an object with ``reward``, ``metrics``
  and ``error`` (the evaluator ``Result``), a dict with those keys, or a plain
  number. An exception, a None / NaN / infinite reward, or a dead worker
  process (segfault, OOM kill, ``os._exit``) makes a ``failed`` record; the
  strategy is told None and the search goes on.
* Executors: ``RayExecutor`` runs each trial as a Ray task (``max_retries=0``:
  a crashed trial is recorded, not silently re-run) on the embedded local Ray
  (``address=None``, ``num_workers`` slots) or on a cluster (``address=...``;
  the slots are the cluster's CPUs/GPUs over the per-trial request);
  ``LocalExecutor`` runs trials one at a time in this process (the foreground
  mode, for debugging and for progress bars; a crash there ends the search).
* De-duplication as in ``loop.run_search``: a proposal whose ``space.key``
  (the genotype fingerprint) was already evaluated is recorded as a
  ``duplicate`` with the cached reward, without running; one whose twin is
  still running waits for it. Duplicates do not count against ``budget``.
* Persistence and resume (with a ``TrialStore``; see ``trial_store.py``): the
  state is saved after every ask (so ``strategy.pending`` is exactly the set of
  running proposals) and after every tell; a trial's record is written before
  its tell. A restarted run restores the state, tells the pending proposals
  that already have a record, and re-submits the others (they were running
  when the search died). Nothing is asked twice, nothing finished is re-run,
  and the trial ids are contiguous.

Why Ray core tasks and not Ray Tune: the strategy stays a plain object in the
driver, the one place its state is saved; ``ray.wait(num_returns=1)`` is the
NASNet work queue in one line; resume is our own record-and-state protocol,
which ``loop.py`` already uses, instead of Tune's experiment checkpoints
(which re-create searchers from pickles and keep a second trial database).

Example:
    >>> executor = RayExecutor(num_workers=2)
    >>> result = run(strategy, EvaluatorTrial(factory), budget=20, executor=executor,
    ...              store=TrialStore("/tmp/search"))
    >>> executor.close()
"""

from __future__ import annotations

import math
import os
import socket
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable

from search_cifar.trial_store import Trial, TrialStore

if TYPE_CHECKING:  # Workers import this module: keep it free of strategies (and TensorFlow).
    from search_cifar.loop import SearchResult
    from search_cifar.strategies.base import Proposal, Strategy

#: Metric keys the runner adds to every evaluated trial's metrics.
NODE_ID, HOSTNAME, PID, CPU_SECONDS = "node_id", "hostname", "pid", "cpu_seconds"


# -- what runs on a worker --------------------------------------------------------
def execute(trial_fn: Callable[[Any], Any], point: Any) -> dict[str, Any]:
    """Runs one trial and returns a plain dict: reward, metrics, error, duration.

    Never raises for a failure of ``trial_fn``: exceptions and bad rewards
    become ``error``. Adds where it ran (node id under Ray, hostname, pid) and
    the process's CPU seconds to the metrics.
    """
    start, cpu_start = time.monotonic(), time.process_time()
    reward, metrics, error = None, {}, None
    try:
        out = trial_fn(point)
    except Exception as e:  # noqa: BLE001 -- a failed trial is a record, not a crash
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        error = f"{type(e).__name__}: {e}\n" + "".join(tb[-3:]).rstrip()
    else:
        reward, metrics, error = _unpack(out)
    if error is None:
        reward, error = _check_reward(reward)
    if error is not None:
        reward = None
    metrics = dict(metrics or {})
    metrics.update(_where())
    # CPU seconds of this process (all its threads): on a shared machine, what
    # the trial would take alone on as many cores as it has threads.
    metrics[CPU_SECONDS] = time.process_time() - cpu_start
    return {"reward": reward, "metrics": _jsonable(metrics), "error": error,
            "duration": time.monotonic() - start}


def _unpack(out: Any) -> tuple[Any, dict[str, Any], str | None]:
    if isinstance(out, dict):
        return out.get("reward"), out.get("metrics") or {}, out.get("error")
    if hasattr(out, "reward"):
        return out.reward, getattr(out, "metrics", None) or {}, getattr(out, "error", None)
    return out, {}, None


def _check_reward(reward: Any) -> tuple[float | None, str | None]:
    if reward is None:
        return None, "the trial returned no reward (None)"
    try:
        value = float(reward)
    except (TypeError, ValueError):
        return None, f"the trial returned a non-number reward {reward!r}"
    if not math.isfinite(value):
        return None, f"the trial returned a non-finite reward {value}"
    return value, None


def _where() -> dict[str, Any]:
    where: dict[str, Any] = {HOSTNAME: socket.gethostname(), PID: os.getpid()}
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        where[NODE_ID] = ray.get_runtime_context().get_node_id()
    return where


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


class EvaluatorTrial:
    """A picklable trial function around an evaluator built once per worker process.

    ``factory()`` builds the evaluator (it loads the dataset: seconds); Ray
    reuses worker processes, so each builds it once and keeps it under
    ``cache_key``. ``evaluator.evaluate(genotype, report=None)`` returns a
    ``Result(reward, metrics, error)``.
    """

    _cache: dict[str, Any] = {}

    def __init__(self, factory: Callable[[], Any], cache_key: str):
        self.factory = factory
        self.cache_key = cache_key

    def evaluator(self) -> Any:
        if self.cache_key not in EvaluatorTrial._cache:
            EvaluatorTrial._cache[self.cache_key] = self.factory()
        return EvaluatorTrial._cache[self.cache_key]

    def __call__(self, point: Any) -> Any:
        return self.evaluator().evaluate(point)


# -- executors -------------------------------------------------------------------
class LocalExecutor:
    """Runs trials in this process, one at a time (``--workers=0``).

    Used for the foreground mode (the evaluator's progress bar is the
    terminal's) and in tests. A trial that kills the process ends the search;
    resume re-runs it.
    """

    capacity = 1

    def __init__(self):
        self._queue: list[tuple[int, Callable[[Any], Any], Any]] = []

    def submit(self, trial_id: int, trial_fn: Callable[[Any], Any], point: Any) -> None:
        self._queue.append((trial_id, trial_fn, point))

    @property
    def num_running(self) -> int:
        return len(self._queue)

    def wait(self) -> tuple[int, dict[str, Any]]:
        trial_id, trial_fn, point = self._queue.pop(0)
        return trial_id, execute(trial_fn, point)

    def describe(self) -> str:
        return "in-process (1 trial at a time)"

    def close(self) -> None:
        self._queue.clear()


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
        self._remote = ray.remote(max_retries=0)(execute).options(
            num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial)
        self._fn_refs: dict[int, Any] = {}  # id(trial_fn) -> object ref (put once)
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

    def submit(self, trial_id: int, trial_fn: Callable[[Any], Any], point: Any) -> None:
        fn_ref = self._fn_refs.get(id(trial_fn))
        if fn_ref is None:
            fn_ref = self._fn_refs[id(trial_fn)] = self._ray.put(trial_fn)
        self._running[self._remote.remote(fn_ref, point)] = trial_id

    def wait(self) -> tuple[int, dict[str, Any]]:
        ray = self._ray
        (ref,), _ = ray.wait(list(self._running), num_returns=1)
        trial_id = self._running.pop(ref)
        try:
            return trial_id, ray.get(ref)
        except ray.exceptions.RayError as e:
            # The worker process died (WorkerCrashedError, OutOfMemoryError,
            # NodeDiedError...) or could not run the task at all.
            message = str(e).strip().splitlines()
            return trial_id, {"reward": None, "metrics": {}, "duration": None,
                              "error": f"{type(e).__name__}: " + " ".join(message[:3])}

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


def _genotype_dict(genotype: Any) -> dict[str, Any] | None:
    """``Genotype.to_dict()`` with its fingerprint (``Genotype.from_dict`` checks it)."""
    if genotype is None:
        return None
    data = genotype.to_dict()
    data["fingerprint"] = genotype.fingerprint()
    return data


# -- the scheduler ---------------------------------------------------------------
def run(strategy: Strategy, trial_fn: Callable[[Any], Any], budget: int, executor: Any,
        store: TrialStore | None = None, space: Any = None, max_repeats: int = 1000,
        on_trial: Callable[[Trial, SearchResult], None] | None = None) -> SearchResult:
    """Runs ``strategy`` until ``budget`` evaluations have finished (see the module docstring).

    Args:
        strategy: a fresh strategy; with a store that holds a saved state, the
            saved state replaces its own.
        trial_fn: picklable ``trial_fn(genotype or choices)`` (run on workers).
        budget: evaluations in total over all resumptions (duplicates are free).
        executor: ``RayExecutor`` or ``LocalExecutor`` (or anything with
            ``capacity``, ``num_running``, ``submit`` and ``wait``); not closed here.
        store: where records and state persist; None keeps nothing.
        space: the space to decode with (default: the strategy's).
        max_repeats: consecutive duplicates after which no new proposal is asked.
        on_trial: called after each trial is recorded and told, with the trial
            and the result so far (progress lines, summaries, best genotypes).

    Returns:
        A SearchResult with every trial, resumed ones included, in id order.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ValueError(f"budget must be an int >= 0, got {budget!r}")
    if isinstance(max_repeats, bool) or not isinstance(max_repeats, int) or max_repeats < 1:
        raise ValueError(f"max_repeats must be an int >= 1, got {max_repeats!r}")
    space = strategy.space if space is None else space
    if space.signature() != strategy.space.signature():
        raise ValueError(
            f"space {space.signature()!r} is not the strategy's {strategy.space.signature()!r}")
    return _Scheduler(strategy, trial_fn, budget, executor, store, space, max_repeats,
                      on_trial).run()


class _Scheduler:
    """The bookkeeping of one ``run`` call."""

    def __init__(self, strategy, trial_fn, budget, executor, store, space, max_repeats, on_trial):
        self.strategy, self.trial_fn, self.budget = strategy, trial_fn, budget
        self.executor, self.store, self.space = executor, store, space
        self.max_repeats, self.on_trial = max_repeats, on_trial
        self.decode = getattr(space, "decode", None)
        self.key_of = getattr(space, "key", None) or (lambda c: "c:" + ",".join(map(str, c)))
        self.trials: dict[int, Trial] = {}
        self.cache: dict[str, tuple[float | None, int]] = {}  # key -> (reward, first id)
        self.running: dict[int, tuple[Proposal, str, Any]] = {}  # id -> (proposal, key, genotype)
        self.running_keys: dict[str, int] = {}
        self.waiting: dict[str, list[Proposal]] = {}  # key -> duplicates of a running trial
        self.num_evaluated = 0
        self.repeats = 0
        self.stopped = "budget"

    # -- persistence ----------------------------------------------------------
    def save_state(self) -> None:
        if self.store is not None:
            self.store.save_state(self.strategy.get_state())

    def record(self, proposal: Proposal, trial: Trial, persist: bool = True) -> None:
        """Persists ``trial``, tells its reward, saves the state, reports it."""
        if persist and self.store is not None:
            self.store.save_trial(trial)
        self.trials[trial.id] = trial
        if trial.status != "duplicate":
            self.cache.setdefault(trial.key, (trial.reward, trial.id))
        self.strategy.tell(proposal, trial.reward)
        self.save_state()
        if self.on_trial is not None:
            self.on_trial(trial, self.result())

    def result(self) -> SearchResult:
        from search_cifar.loop import SearchResult
        return SearchResult(trials=[self.trials[i] for i in sorted(self.trials)],
                            num_evaluated=self.num_evaluated, stopped=self.stopped,
                            strategy=self.strategy)

    def restore(self) -> list[Proposal]:
        """Loads records and state; returns the pending proposals to run again."""
        if self.store is None:
            return []
        self.store.create()
        records = self.store.load_trials()
        saved = self.store.load_state()
        if saved is not None:
            self.strategy.set_state(saved)
        pending = sorted(self.strategy.pending, key=lambda p: p.id)
        pending_ids = {p.id for p in pending}
        orphans = sorted(i for i in records if i >= self.strategy.num_asked)
        if orphans:
            raise ValueError(
                f"workdir {self.store.workdir!r} has trial records {orphans} that its saved "
                f"state never asked (num_asked={self.strategy.num_asked}); it was not written "
                f"by this runner, or its state.json is older than its trials")
        missing = sorted(set(range(self.strategy.num_asked)) - set(records) - pending_ids)
        if missing:
            raise ValueError(
                f"workdir {self.store.workdir!r}: trials {missing[:10]} were told to the "
                f"strategy but have no record (trials/ was edited?)")
        for t in sorted(records.values(), key=lambda t: t.id):
            if t.id not in pending_ids:
                self.trials[t.id] = t
                if t.status != "duplicate":
                    self.cache.setdefault(t.key, (t.reward, t.id))
        self.num_evaluated = sum(t.status != "duplicate" for t in self.trials.values())
        rerun = []
        for p in pending:
            recorded = records.get(p.id)
            if recorded is None:
                rerun.append(p)
                continue
            # Recorded, killed before its tell: tell it now, do not run it again.
            if recorded.choices != tuple(p.choices):
                raise ValueError(
                    f"workdir {self.store.workdir!r}: trial {p.id} was recorded with choices "
                    f"{list(recorded.choices)}, but the saved state has {list(p.choices)}")
            if recorded.status != "duplicate":
                self.num_evaluated += 1
            self.record(p, recorded, persist=False)
        return rerun

    # -- scheduling -----------------------------------------------------------
    def dispatch(self, proposal: Proposal) -> None:
        """Submits ``proposal``, or records / parks it as a duplicate."""
        choices = tuple(proposal.choices)
        key = self.key_of(choices)
        if key in self.cache:
            self.repeats += 1
            reward, first = self.cache[key]
            self.record(proposal, Trial(id=proposal.id, choices=choices, key=key,
                                        status="duplicate", reward=reward, duplicate_of=first,
                                        finished_at=time.time()))
            return
        if key in self.running_keys:
            self.repeats += 1
            self.waiting.setdefault(key, []).append(proposal)
            return
        self.repeats = 0
        genotype = self.decode(choices) if self.decode is not None else None
        self.running[proposal.id] = (proposal, key, genotype)
        self.running_keys[key] = proposal.id
        self.executor.submit(proposal.id, self.trial_fn,
                             genotype if genotype is not None else choices)

    def finish(self, trial_id: int, outcome: dict[str, Any]) -> None:
        proposal, key, genotype = self.running.pop(trial_id)
        del self.running_keys[key]
        reward, error = outcome.get("reward"), outcome.get("error")
        if error is None:
            reward, error = _check_reward(reward)  # a custom executor may skip execute()
        trial = Trial(id=proposal.id, choices=tuple(proposal.choices), key=key,
                      status="ok" if error is None else "failed",
                      reward=reward if error is None else None, error=error,
                      evaluation=self.num_evaluated,
                      genotype=_genotype_dict(genotype),
                      metrics=outcome.get("metrics") or {}, duration=outcome.get("duration"),
                      finished_at=time.time())
        self.num_evaluated += 1
        self.record(proposal, trial)
        for twin in self.waiting.pop(key, []):
            self.record(twin, Trial(id=twin.id, choices=tuple(twin.choices), key=key,
                                    status="duplicate", reward=trial.reward,
                                    duplicate_of=trial.id, finished_at=time.time()))

    def run(self) -> SearchResult:
        for proposal in self.restore():
            self.dispatch(proposal)
        while True:
            while (self.repeats < self.max_repeats
                   and self.num_evaluated + len(self.running) < self.budget
                   and self.executor.num_running < self.executor.capacity):
                proposal = self.strategy.ask()
                self.save_state()  # before it runs: a kill leaves it pending
                self.dispatch(proposal)
            if self.repeats >= self.max_repeats:
                self.stopped = "repeats"
            if not self.running:
                break
            self.finish(*self.executor.wait())
        return self.result()
