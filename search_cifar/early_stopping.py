"""Early stopping of children: asynchronous successive halving (ASHA), decided by the search driver.

Most child epochs go to cells that are clearly bad after one epoch. With
early stopping a child trains rung by rung: the *rungs* are epoch counts
below the child's full ``max_epochs`` (the default ladder is ``min_epochs x
reduction_factor^k``: 1 and 3 for 9-epoch children with reduction factor 3,
9 being the top). When a child completes a rung, the driver compares its
value there with every value recorded at that rung so far and lets it
continue only if it is in the top ``1 / reduction_factor`` of them;
otherwise the child stops there. The value is the reward the child would
get if it stopped now (``RungBook.rung_value``): its validation accuracy by
default, times the cost factor of a cost-aware reward (``reward.py``), so
that a search rewarding cheap cells does not stop a cheap child for an
accuracy its reward forgives. Decisions are taken as the values arrive,
never waiting for a rung to fill (Li et al. 2020, *A System for Massively
Parallel Hyperparameter Tuning*, ASHA). The strategy is told a child's reward
once the child stops, at whatever rung; the trial record says at which
fidelity (``trial_store.Fidelity``: epochs trained, rung reached, stopped
early or not, and every rung decision).

**The rule** (``PromotionRule``) is the one of Optuna's
``SuccessiveHalvingPruner`` (optuna/pruners/_successive_halving.py, the
stop-or-continue form of ASHA that Ray Tune's ``ASHAScheduler`` also uses): a
value v reaching rung k joins the values recorded at rung k; with n values
there (v included), v continues when it is at least the ``max(n // eta, 1)``-th
best of them. So the first child at a rung always continues, and until eta
values have arrived a child continues only when it is the best so far (Optuna's
choice where a trial cannot be paused for later promotion, as here). A value
that is not a finite number stops the child and is not recorded.
Written here rather than calling the pruner because the pruner needs an
Optuna ``Study``: its rung values live in per-trial system attributes
(``completed_rung_<k>``) of Optuna's storage, which a resumed search would
have to rebuild through that storage's private calls, beside the trial
records that are this search's only database; and it allows only the
geometric ladder, where the search also takes any increasing list of epochs.
The rule itself is a few lines; ``tests/search_cifar/test_early_stopping.py``
checks that it takes Optuna's decisions, report for report, on random
interleaved learning curves.

**Where it runs.** The driver owns the decisions (``scheduler.run(...,
early_stopping=EarlyStopping(...))``); a child learns them through its
evaluator's ``report(epoch, metrics)`` hook (``evaluator.py``), which the
executor wires to the driver (``executors.RungReporter``): the child asks
only at rung epochs and blocks until the driver answers; in this process
the answer is a function call, on Ray a round trip through a small actor
(``ray_executor``). One rule object, ``RungBook``, for both. Alternatives
weighed: a separate Ray task per rung, continuing from a checkpoint, would
free the worker between rungs (true ASHA promotion) but pays the network's
construction and TensorFlow tracing again at every rung, which on a CPU is
most of a small child's cost, and needs checkpoints that every node can
read; the rule in an actor of its own would take the decisions, and their
persistence, away from the driver.

**Learning-rate schedule.** A child trains with its full schedule (the
cosine decay spans ``max_epochs``) whether or not it will be stopped: the
scheduler cannot know in advance, and a promoted child continues the same
run. So a child stopped at rung 1 reports its accuracy one epoch into a
9-epoch schedule (learning rate still high), not that of a network trained
for 1 epoch with its own schedule: values within a rung are comparable, and
rewards of stopped children are lower than those of finished ones.

**Persistence and resume** (``trial_store.RungRecord``): every decision is
written to ``rungs/<id>.json`` before the child hears it. After a kill, every
recorded decision is restored into the rule; a pending child whose last
decision was a stop is recorded from its rung record (its reward from the
history of epochs it reported, ``reward_from_history``) and never trained
again; any other pending child restarts **from scratch** (there are no
child checkpoints), its recorded decisions replayed rather than judged
again, so the values of its rungs count once.

Duplicates: a later proposal of an architecture that was stopped early
reuses that reward, as for any duplicate.

Example:
    >>> rule = EarlyStopping(rungs=geometric_rungs(1, 3, 9), max_epochs=9)
    >>> rule.rungs, rule.ladder
    ((1, 3), (1, 3, 9))
    >>> book = RungBook(rule)
    >>> book.start(0, "a"); book.decide(0, 1, [{"val_accuracy": 0.5}])
    True
    >>> book.start(1, "b"); book.decide(1, 1, [{"val_accuracy": 0.4}])
    False
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence

from search_cifar.evaluator import REWARD_FACTOR, FunctionEvaluator, Result
from search_cifar.trial_store import Fidelity, RungDecision, RungRecord, TrialStore

#: The metric a rung's value comes from (every evaluator with epochs reports it).
METRIC = "val_accuracy"


def _check_int(what: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")


def geometric_rungs(min_epochs: int, reduction_factor: int, max_epochs: int) -> tuple[int, ...]:
    """ASHA's ladder below ``max_epochs``: ``min_epochs * reduction_factor^k < max_epochs``."""
    _check_int("min_epochs", min_epochs, 1)
    _check_int("reduction_factor", reduction_factor, 2)
    _check_int("max_epochs", max_epochs, 1)
    rungs, epoch = [], min_epochs
    while epoch < max_epochs:
        rungs.append(epoch)
        epoch *= reduction_factor
    return tuple(rungs)


def check_rungs(rungs: Any, max_epochs: int | None, what: str = "rungs",
                epochs_name: str = "max_epochs") -> tuple[int, ...]:
    """``rungs`` as a tuple of increasing epochs below ``max_epochs`` (None: any);
    ValueError otherwise."""
    if isinstance(rungs, (str, bytes)) or not isinstance(rungs, (list, tuple)) or not rungs:
        raise ValueError(f"{what} must be a non-empty list of epochs, got {rungs!r}")
    for epoch in rungs:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 1:
            raise ValueError(f"{what} must be epochs (ints >= 1), got {list(rungs)!r}")
    if any(b <= a for a, b in zip(rungs, rungs[1:])):
        raise ValueError(f"{what} must be increasing, got {list(rungs)!r}")
    beyond = [epoch for epoch in rungs if max_epochs is not None and epoch >= max_epochs]
    if beyond:
        raise ValueError(f"{what} {list(rungs)!r}: rung(s) {beyond} are not below "
                         f"{epochs_name}={max_epochs}, where every child stops anyway")
    return tuple(rungs)


def final_metric(history: Sequence[Mapping[str, Any]]) -> float:
    """The default ``reward_from_history``: the last epoch's ``val_accuracy``."""
    if not history:
        raise ValueError("no epoch to take a reward from")
    return float(history[-1][METRIC])


class PromotionRule:
    """Optuna's successive-halving rule over the values recorded at each rung (see the
    module docstring). ``decide(rung, value)`` records the value and says whether the
    child continues; ``record(rung, value)`` only records (a resumed search)."""

    def __init__(self, num_rungs: int, reduction_factor: int):
        _check_int("num_rungs", num_rungs, 1)
        _check_int("reduction_factor", reduction_factor, 2)
        self.reduction_factor = reduction_factor
        self.values: list[list[float]] = [[] for _ in range(num_rungs)]

    def record(self, rung: int, value: float | None) -> None:
        if value is not None and math.isfinite(value):
            self.values[rung].append(float(value))

    def decide(self, rung: int, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        self.record(rung, value)
        competing = sorted(self.values[rung])
        promotable = max(len(competing) // self.reduction_factor, 1)
        return value >= competing[-promotable]


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """What the driver needs to stop children early.

    Attributes:
        rungs: epochs at which a child's continuation is decided, increasing and
            below ``max_epochs`` (``geometric_rungs`` gives ASHA's ladder).
        max_epochs: the epochs of a child that is never stopped.
        reduction_factor: eta; about 1 / eta of the children at a rung continue.
        reward_from_history: a child's reward from its per-epoch metrics up to
            a rung, as its evaluator would compute it; used only for a child
            stopped at a rung whose result the search did not receive before a
            kill (default: the last epoch's ``val_accuracy``).
    """

    rungs: tuple[int, ...]
    max_epochs: int
    reduction_factor: int = 3
    reward_from_history: Callable[[Sequence[Mapping[str, Any]]], float] | None = \
        dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        _check_int("max_epochs", self.max_epochs, 1)
        _check_int("reduction_factor", self.reduction_factor, 2)
        object.__setattr__(self, "rungs", check_rungs(self.rungs, self.max_epochs))
        if self.reward_from_history is not None and not callable(self.reward_from_history):
            raise ValueError(f"reward_from_history must be callable, "
                             f"got {self.reward_from_history!r}")

    @property
    def ladder(self) -> tuple[int, ...]:
        """The rungs, then ``max_epochs`` (the top rung, where nothing is decided)."""
        return self.rungs + (self.max_epochs,)

    def rung_of(self, epochs: int) -> int | None:
        """The highest rung of the ladder that ``epochs`` completes (None: none)."""
        done = [i for i, epoch in enumerate(self.ladder) if epochs >= epoch]
        return done[-1] if done else None

    def reward(self, history: Sequence[Mapping[str, Any]]) -> float:
        return (self.reward_from_history or final_metric)(history)


def check_evaluator(evaluator: Any, early_stopping: EarlyStopping) -> None:
    """ValueError when ``evaluator`` cannot be stopped early: a plain function, or an
    evaluator whose ``max_epochs`` is None (one-shot) or another number."""
    if isinstance(evaluator, FunctionEvaluator):
        raise ValueError("early stopping needs an evaluator that reports epochs; a plain "
                         f"function ({evaluator.fn!r}) has none")
    epochs = getattr(evaluator, "max_epochs", early_stopping.max_epochs)
    if epochs is None:
        raise ValueError(f"early stopping needs an evaluator that reports epochs; "
                         f"{type(evaluator).__name__} has none (max_epochs is None)")
    if epochs != early_stopping.max_epochs:
        raise ValueError(f"early stopping is set for {early_stopping.max_epochs} epochs, but "
                         f"{type(evaluator).__name__} trains {epochs!r}")


class RungBook:
    """The driver's early-stopping state: the rule, each running child's rung record,
    and their persistence (``store``: a ``TrialStore``, or None to keep nothing)."""

    def __init__(self, early_stopping: EarlyStopping, store: TrialStore | None = None):
        self.config = early_stopping
        self.store = store
        self.rule = PromotionRule(len(early_stopping.rungs), early_stopping.reduction_factor)
        self._rung_index = {epoch: i for i, epoch in enumerate(early_stopping.rungs)}
        self.running: dict[int, RungRecord] = {}

    @property
    def rungs(self) -> tuple[int, ...]:
        return self.config.rungs

    # -- a resumed search ----------------------------------------------------------------
    def restore_decisions(self, decisions: Sequence[RungDecision]) -> None:
        """Adds recorded decisions' values to the rule (a finished or a resumed child)."""
        for d in decisions:
            if d.epoch in self._rung_index:
                self.rule.record(self._rung_index[d.epoch], d.value)

    def resume(self, record: RungRecord) -> None:
        """A child that was running at the kill: its values count, its decisions replay."""
        unknown = [d.epoch for d in record.decisions if d.epoch not in self._rung_index]
        if unknown:
            raise ValueError(f"the rung record of trial {record.trial} has decisions at "
                             f"epochs {unknown}, which are not rungs {list(self.rungs)}")
        self.restore_decisions(record.decisions)
        self.running[record.trial] = record

    def recovered_result(self, trial_id: int) -> Result:
        """The Result of a child stopped at a rung, from its rung record alone."""
        record = self.running[trial_id]
        history = [dict(m) for m in record.history]
        epoch = record.decisions[-1].epoch
        metrics = {"history": history, "epochs_completed": epoch, "stopped_early": True,
                   "recovered_from_rung_record": True}
        try:
            return Result(reward=self.config.reward(history), metrics=metrics)
        except (ValueError, TypeError, KeyError, IndexError) as e:
            return Result.failure(f"cannot take the reward of a child stopped at epoch {epoch} "
                                  f"from its rung record: {type(e).__name__}: {e}", metrics)

    # -- a running search --------------------------------------------------------------
    def start(self, trial_id: int, key: str) -> None:
        """A child is submitted (a resumed child keeps its restored record)."""
        if trial_id not in self.running:
            self.running[trial_id] = RungRecord(trial=trial_id, key=key, decisions=())

    def decide(self, trial_id: int, epoch: int, history: Sequence[Mapping[str, Any]]) -> bool:
        """Whether the child continues after ``epoch`` (its metrics so far in ``history``).

        The decision is persisted before it is returned; a decision recorded
        before a kill is replayed. Epochs that are not rungs continue.
        """
        record = self.running.get(trial_id)
        if record is None:
            return False  # not (or no longer) a child of this search
        rung = self._rung_index.get(epoch)
        if rung is None:
            return True
        replayed = record.decision_at(epoch)
        if replayed is not None:
            return replayed == "continue"
        if record.stopped:
            return False
        value = self.rung_value(history)
        go_on = self.rule.decide(rung, value)
        decision = RungDecision(epoch=epoch, value=None if value is None else float(value),
                                decision="continue" if go_on else "stop")
        record = dataclasses.replace(record, decisions=record.decisions + (decision,),
                                     history=tuple(dict(m) for m in history))
        if self.store is not None:
            self.store.save_rungs(record)
        self.running[trial_id] = record
        return go_on

    def rung_value(self, history: Sequence[Mapping[str, Any]]) -> float | None:
        """What a rung compares: the reward the child would get if it stopped now (its
        ``reward_from_history``, the last ``val_accuracy`` by default) times the
        reward's cost factor when the epoch carries one (``evaluator.REWARD_FACTOR``);
        None when that is not a finite number."""
        if not history or isinstance(history[-1].get(METRIC), bool):
            return None
        try:
            value = float(self.config.reward(history)) * float(
                history[-1].get(REWARD_FACTOR, 1.0))
        except (ValueError, TypeError, KeyError, IndexError):
            return None
        return value if math.isfinite(value) else None

    def finish(self, trial_id: int, result: Result) -> Fidelity:
        """The fidelity of a child whose result arrived (its record leaves the book)."""
        record = self.running.pop(trial_id)
        epochs = result.metrics.get("epochs_completed")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            if record.stopped:
                epochs = record.decisions[-1].epoch
            elif result.ok:
                epochs = self.config.max_epochs
            else:
                epochs = record.decisions[-1].epoch if record.decisions else 0
        return Fidelity(epochs=epochs, max_epochs=self.config.max_epochs,
                        rung=self.config.rung_of(epochs),
                        stopped_early=record.stopped and epochs < self.config.max_epochs,
                        decisions=record.decisions)

    def forget(self, trial_id: int) -> None:
        """Drops a finished child's rung record file (its Trial holds the decisions)."""
        if self.store is not None:
            self.store.remove_rungs(trial_id)
