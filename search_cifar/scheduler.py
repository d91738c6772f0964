"""The search driver: ask, submit to an executor, record, tell; persisted and resumable.

``run(strategy, evaluator, budget, executor, store)`` keeps the executor full:
as soon as a trial finishes, its reward is told to the strategy and a new
proposal is asked and submitted (Zoph et al. 2018, Sec. 4: a controller
feeding a queue of child trainings, rewards told as they arrive). Strategies
see only proposals and rewards; evaluators see only points; executors decide
where a trial runs (``executors.InProcessExecutor``,
``ray_executor.RayExecutor``). This is the only search loop of the project.

* ``point`` is the decoded ``Genotype`` where the space decodes
  (``NasnetCellSpace``; progressive proposals decode to smaller cells), else
  the tuple of choices (``CategoricalSpace``). The evaluator returns a
  ``Result`` (``evaluator.py``); a failed Result, an exception or a dead
  worker makes a ``failed`` record, the strategy is told None and the search
  goes on.
* De-duplication: a proposal whose identity (the fingerprint of its genotype
  where the space decodes, else ``space.key``, else the choices) was already
  evaluated is recorded as a
  ``duplicate`` with the cached reward (None for a cached failure), without
  running; one whose twin is still running waits for it. Duplicates do not
  count against ``budget``; ``max_repeats`` consecutive duplicates stop the
  asking (the strategy has nothing new to propose, e.g. an exhausted space).
* Persistence and resume (with a ``trial_store.TrialStore``): the strategy
  state is saved after every ask (so ``strategy.pending`` is exactly the set
  of running proposals) and after every tell; a trial's record is written
  before its tell. A restarted run restores the state, tells the pending
  proposals that already have a record (killed between the record and the
  tell), and submits the others again (they were running when the search
  died). Nothing is asked twice, nothing finished is re-run, the trial ids
  are contiguous, and a resumed run records exactly the trials of an
  uninterrupted one. ``load_saved(strategy, store)`` is that reading and
  checking alone, without writing: what a resumed search checks before it
  writes anything.

* Early stopping (``early_stopping=EarlyStopping(...)``, see
  ``early_stopping.py``): children are submitted with the rung epochs and the
  driver's ``RungBook.decide``; each decision is persisted
  (``rungs/<id>.json``) before the child hears it; the record of a finished
  child carries its ``fidelity``, the strategy is told its reward at whatever
  rung it stopped. On resume, every recorded decision is restored; a pending
  child stopped at a rung is recorded from its rung record without running
  again; the other pending children restart from scratch with their
  decisions replayed.

``run_in_process(strategy, objective, budget, workdir=None)`` is the
convenience form for tests, benchmarks and notebooks: the in-process executor,
the objective wrapped by ``evaluator.from_function`` (a plain ``fn(point) ->
float`` or any evaluator), a ``TrialStore`` when a workdir is given; then
``run``.

Example:
    >>> from search_cifar import objectives, strategies
    >>> obj = objectives.InteractionObjective(seed=0)
    >>> result = run_in_process(strategies.make("random", obj.space, seed=0), obj, budget=20)
    >>> result.num_evaluated, result.stopped
    (20, 'budget')
"""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Any, Callable

from search_cifar import early_stopping as early_stopping_lib
from search_cifar import evaluator as evaluator_lib
from search_cifar.early_stopping import EarlyStopping, RungBook
from search_cifar.evaluator import Evaluator, Result
from search_cifar.executors import Executor, InProcessExecutor
from search_cifar.trial_store import RungRecord, SearchResult, Trial, TrialStore

if TYPE_CHECKING:
    from search_cifar.strategies.base import Proposal, Strategy

OnTrial = Callable[[Trial, SearchResult], None]


def run(strategy: Strategy, evaluator: Evaluator, budget: int, executor: Executor,
        store: TrialStore | None = None, space: Any = None, max_repeats: int = 1000,
        on_trial: OnTrial | None = None,
        early_stopping: EarlyStopping | None = None) -> SearchResult:
    """Runs (or resumes) a search until ``budget`` evaluations.

    Args:
        strategy: a fresh strategy; with a store that holds a saved state, its
            state is replaced by the saved one.
        evaluator: ``evaluate(point) -> Result`` (see ``evaluator.py``); for
            Ray, picklable (``evaluator.CachedEvaluator``).
        budget: evaluations in total over all resumptions (duplicates are free).
        executor: ``InProcessExecutor``, ``RayExecutor`` or anything with
            ``capacity``, ``num_running``, ``submit`` and ``wait``; not closed here.
        store: where records and state persist; None keeps nothing.
        space: the space to decode with (default: the strategy's; it must have
            the same signature).
        max_repeats: consecutive duplicates after which no new proposal is asked.
        on_trial: called after each trial is recorded and told, with the trial
            and the result so far (progress lines, summaries, best genotypes).
        early_stopping: stop children at rungs (``early_stopping.EarlyStopping``;
            the evaluator must report epochs, the executor's ``submit`` take
            ``rungs`` and ``decide``); None trains every child fully.

    Returns:
        A SearchResult with every trial, resumed ones included, in id order.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ValueError(f"budget must be an int >= 0, got {budget!r}")
    if isinstance(max_repeats, bool) or not isinstance(max_repeats, int) or max_repeats < 1:
        raise ValueError(f"max_repeats must be an int >= 1, got {max_repeats!r}")
    if not callable(getattr(evaluator, "evaluate", None)):
        raise ValueError(f"evaluator must have evaluate(point, report=None) -> Result, got "
                         f"{evaluator!r}; wrap a plain function with "
                         f"evaluator.from_function (run_in_process does)")
    space = strategy.space if space is None else space
    if space.signature() != strategy.space.signature():
        raise ValueError(
            f"space {space.signature()!r} is not the strategy's {strategy.space.signature()!r}")
    if early_stopping is not None:
        check_early_stopping(early_stopping, evaluator, executor)
    return _Scheduler(strategy, evaluator, budget, executor, store, space, max_repeats,
                      on_trial, early_stopping).run()


def check_early_stopping(early_stopping: Any, evaluator: Evaluator, executor: Any) -> None:
    """ValueError unless ``early_stopping`` can stop ``evaluator``'s children on ``executor``."""
    if not isinstance(early_stopping, EarlyStopping):
        raise ValueError(f"early_stopping must be an early_stopping.EarlyStopping or None, "
                         f"got {early_stopping!r}")
    early_stopping_lib.check_evaluator(evaluator, early_stopping)
    try:
        parameters = inspect.signature(executor.submit).parameters
    except (TypeError, ValueError, AttributeError):
        parameters = {}
    if not {"rungs", "decide"} <= set(parameters):
        raise ValueError(f"executor {type(executor).__name__} cannot stop children early: its "
                         f"submit() takes no rungs and decide (see executors.Executor)")


def run_in_process(strategy: Strategy, objective: Any, budget: int, workdir: str | None = None,
                   space: Any = None, max_repeats: int = 1000,
                   on_trial: OnTrial | None = None,
                   early_stopping: EarlyStopping | None = None) -> SearchResult:
    """``run`` in this process: ``objective`` is an evaluator or ``fn(point) -> float | None``
    (None, NaN or an exception: a failed trial); ``workdir`` persists and resumes."""
    store = TrialStore(workdir) if workdir is not None else None
    return run(strategy, evaluator_lib.from_function(objective), budget, InProcessExecutor(),
               store=store, space=space, max_repeats=max_repeats, on_trial=on_trial,
               early_stopping=early_stopping)


def load_saved(strategy: Strategy, store: TrialStore) -> tuple[dict[int, Trial], list[Proposal]]:
    """A work directory's records and saved state, checked against each other.

    Restores the saved state (if any) into ``strategy`` and returns the trial
    records by id and the proposals that were pending when the search
    stopped, in id order. Reads only: the check a resumed search makes before
    it writes anything (``experiments.validate``), and the first step of
    ``run``'s resume. ValueError naming the bad file, or the records that do
    not fit the state; early stopping's rung records (``rungs/``) are checked
    too: readable, of a pending or recorded trial, with that trial's identity.
    """
    records = store.load_trials()
    saved = store.load_state()
    if saved is not None:
        try:
            strategy.set_state(saved)
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise ValueError(f"{store.state_path}: cannot resume the {strategy.name!r} "
                             f"strategy from it: {e}") from None
    pending = sorted(strategy.pending, key=lambda p: p.id)
    pending_ids = {p.id for p in pending}
    orphans = sorted(i for i in records if i >= strategy.num_asked)
    if orphans:
        raise ValueError(
            f"workdir {store.workdir!r} has trial records {orphans} that its saved "
            f"state never asked (num_asked={strategy.num_asked}); it was not written "
            f"by this driver, or its state.json is older than its trials")
    missing = sorted(set(range(strategy.num_asked)) - set(records) - pending_ids)
    if missing:
        raise ValueError(
            f"workdir {store.workdir!r}: trials {missing[:10]} were told to the "
            f"strategy but have no record (trials/ was edited?)")
    for p in pending:
        recorded = records.get(p.id)
        if recorded is not None and recorded.choices != tuple(p.choices):
            raise ValueError(
                f"workdir {store.workdir!r}: trial {p.id} was recorded with choices "
                f"{list(recorded.choices)}, but the saved state has {list(p.choices)}")
    _check_rung_records(store.load_rungs(), records, pending, strategy.space, store.workdir)
    return records, pending


def _check_rung_records(rungs: dict[int, RungRecord], records: dict[int, Trial],
                        pending: list[Proposal], space: Any, workdir: str) -> None:
    by_id = {p.id: p for p in pending}
    strays = sorted(i for i in rungs if i not in by_id and i not in records)
    if strays:
        raise ValueError(f"workdir {workdir!r} has rung records of trials {strays[:10]} that "
                         f"are neither running nor recorded (rungs/ was edited?)")
    for i, record in rungs.items():
        if i in by_id and i not in records:
            key = _identity(space, tuple(by_id[i].choices))[0]
            if record.key != key:
                raise ValueError(f"workdir {workdir!r}: the rung record of trial {i} is of "
                                 f"architecture {record.key!r}, but the saved state's trial "
                                 f"{i} is {key!r}")


def _identity(space: Any, choices: tuple[int, ...]) -> tuple[str, Any]:
    """The identity of a point and its genotype (None where the space does not decode)."""
    decode = getattr(space, "decode", None)
    if decode is None:
        return (getattr(space, "key", None) or _choices_key)(choices), None
    genotype = decode(choices)
    return genotype.fingerprint(), genotype


def _genotype_dict(genotype: Any, fingerprint: str) -> dict[str, Any] | None:
    """``Genotype.to_dict()`` with its fingerprint (``Genotype.from_dict`` checks it)."""
    if genotype is None:
        return None
    data = genotype.to_dict()
    data["fingerprint"] = fingerprint
    return data


def _choices_key(choices: tuple[int, ...]) -> str:
    return "c:" + ",".join(map(str, choices))


class _Scheduler:
    """The bookkeeping of one ``run`` call."""

    def __init__(self, strategy, evaluator, budget, executor, store, space, max_repeats,
                 on_trial, early_stopping=None):
        self.strategy, self.evaluator, self.budget = strategy, evaluator, budget
        self.executor, self.store, self.space = executor, store, space
        self.max_repeats, self.on_trial = max_repeats, on_trial
        self.book = RungBook(early_stopping, store) if early_stopping is not None else None
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
        return SearchResult(trials=[self.trials[i] for i in sorted(self.trials)],
                            num_evaluated=self.num_evaluated, stopped=self.stopped,
                            strategy=self.strategy)

    def restore(self) -> list[Proposal]:
        """Loads records and state; returns the pending proposals to run again."""
        if self.store is None:
            return []
        self.store.create()
        records, pending = load_saved(self.strategy, self.store)
        rungs = self.store.load_rungs() if self.book is not None else {}
        for i in [i for i in rungs if i in records]:  # recorded, then killed before removal
            self.store.remove_rungs(i)
            del rungs[i]
        pending_ids = {p.id for p in pending}
        for t in sorted(records.values(), key=lambda t: t.id):
            if self.book is not None and t.fidelity is not None:
                self.book.restore_decisions(t.fidelity.decisions)
            if t.id not in pending_ids:
                self.trials[t.id] = t
                if t.status != "duplicate":
                    self.cache.setdefault(t.key, (t.reward, t.id))
        self.num_evaluated = sum(t.status != "duplicate" for t in self.trials.values())
        rerun = []
        for p in pending:
            recorded = records.get(p.id)
            if recorded is None:
                if p.id in rungs:
                    self.book.resume(rungs[p.id])
                    if rungs[p.id].stopped:
                        # Stopped at a rung before the kill: recorded, never trained again.
                        key, genotype = self.identify(tuple(p.choices))
                        self.running_start(p, key, genotype)
                        point = genotype if genotype is not None else tuple(p.choices)
                        self.finish(p.id, self.recovered_result(p.id, point), None)
                        continue
                rerun.append(p)
                continue
            # Recorded, killed before its tell: tell it now, do not run it again.
            if recorded.status != "duplicate":
                self.num_evaluated += 1
            self.record(p, recorded, persist=False)
        return rerun

    def recovered_result(self, trial_id: int, point: Any) -> Result:
        """The Result of a child stopped at a rung before a kill, from its rung record,
        finished by the evaluator's ``recover`` when it has one (a cost-aware reward
        attaches the cost and combines the reward, as its ``evaluate`` would have)."""
        result = self.book.recovered_result(trial_id)
        recover = getattr(self.evaluator, "recover", None)
        if not callable(recover):
            return result
        try:
            return recover(point, result)
        except Exception as e:  # noqa: BLE001 -- as a child's failure: a record, not a crash
            return Result.failure(f"cannot finish the result of trial {trial_id} recovered "
                                  f"from its rung record: {type(e).__name__}: {e}",
                                  result.metrics)

    # -- scheduling -----------------------------------------------------------
    def identify(self, choices: tuple[int, ...]) -> tuple[str, Any]:
        """The identity of a point and its genotype (None where the space does not decode)."""
        return _identity(self.space, choices)

    def running_start(self, proposal: Proposal, key: str, genotype: Any) -> None:
        """Marks ``proposal`` running (``dispatch`` then submits it)."""
        self.running[proposal.id] = (proposal, key, genotype)
        self.running_keys[key] = proposal.id

    def dispatch(self, proposal: Proposal) -> None:
        """Submits ``proposal``, or records / parks it as a duplicate."""
        choices = tuple(proposal.choices)
        key, genotype = self.identify(choices)
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
        self.running_start(proposal, key, genotype)
        point = genotype if genotype is not None else choices
        if self.book is None:
            self.executor.submit(proposal.id, self.evaluator, point)
        else:
            self.book.start(proposal.id, key)
            self.executor.submit(proposal.id, self.evaluator, point, rungs=self.book.rungs,
                                 decide=self.book.decide)

    def finish(self, trial_id: int, result: Result, duration: float | None) -> None:
        proposal, key, genotype = self.running.pop(trial_id)
        del self.running_keys[key]
        fidelity = self.book.finish(trial_id, result) if self.book is not None else None
        trial = Trial(id=proposal.id, choices=tuple(proposal.choices), key=key,
                      status="ok" if result.ok else "failed", reward=result.reward,
                      error=result.error, evaluation=self.num_evaluated,
                      genotype=_genotype_dict(genotype, key), metrics=result.metrics,
                      duration=duration, finished_at=time.time(), fidelity=fidelity)
        self.num_evaluated += 1
        self.record(proposal, trial)
        if self.book is not None:
            self.book.forget(trial_id)  # after the record: a kill in between costs nothing
        for twin in self.waiting.pop(key, None) or ():
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
