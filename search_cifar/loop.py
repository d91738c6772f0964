"""The in-process search loop for cheap objectives, with persistence and resume.

``run_search`` asks the strategy for a proposal, evaluates it, tells the
reward, and records the trial, until ``budget`` architectures have been
evaluated. For training-based trials (minutes to hours each) use the Ray
runner instead; this loop is for table lookups and synthetic objectives.

* The objective receives the decoded ``Genotype`` where the space has
  ``decode`` (``NasnetCellSpace``; progressive proposals decode to smaller
  cells), else the tuple of choices (``CategoricalSpace``). It returns a
  reward, or None / NaN / raises for a failed trial: the failure is recorded
  with its error and told to the strategy as None, and the search goes on.
* De-duplication: a proposal whose identity (``space.key``: the genotype
  fingerprint, or the choices) was already evaluated is not evaluated again.
  The strategy is told the cached reward (None for a cached failure), the
  trial is recorded as a ``duplicate`` and does not count against the budget.
  ``max_repeats`` consecutive duplicates end the search (the strategy has
  nothing new to propose, e.g. in an exhausted space).
* Persistence (with ``workdir``): ``trials/<id>.json`` per finished trial,
  then ``state.json`` (the strategy state) after every tell, both written
  atomically. A later ``run_search`` with the same workdir and a strategy of
  the same name, space and options resumes: the strategy state is restored and
  a proposal that was recorded but not yet in the saved state (a kill between
  the two writes) is matched to its record instead of being evaluated again.
  A resumed run records exactly the trials an uninterrupted run would.

Example:
    >>> from search_cifar import strategies, objectives
    >>> obj = objectives.InteractionObjective(seed=0)
    >>> s = strategies.make("random", obj.space, seed=0)
    >>> result = run_search(s, obj, budget=20)
    >>> result.num_evaluated
    20
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Callable, Sequence

from nasnet import io_utils
from search_cifar import trial_store
from search_cifar.strategies.base import Strategy

# The record format and its files live in trial_store (shared with the Ray runner).
FORMAT_VERSION = trial_store.FORMAT_VERSION
STATUSES = trial_store.STATUSES
Trial = trial_store.Trial
load_trials = trial_store.load_trials
_trial_path = trial_store.trial_path


@dataclasses.dataclass
class SearchResult:
    """What ``run_search`` returns: every trial in proposal order."""

    trials: list[Trial]
    num_evaluated: int
    stopped: str  # "budget" or "repeats"
    strategy: Strategy

    @property
    def evaluated(self) -> list[Trial]:
        return [t for t in self.trials if t.status != "duplicate"]

    def best(self, where: Callable[[Trial], bool] | None = None) -> Trial | None:
        """The evaluated trial with the highest reward (the first on ties)."""
        ok = [t for t in self.evaluated if t.status == "ok" and (where is None or where(t))]
        return max(ok, key=lambda t: t.reward) if ok else None


def _evaluate(objective: Callable[[Any], Any], point: Any) -> tuple[float | None, str | None]:
    try:
        reward = objective(point)
    except Exception as e:  # noqa: BLE001 -- any failure of a trial is recorded, not raised
        return None, f"{type(e).__name__}: {e}"
    if reward is None:
        return None, "objective returned None"
    try:
        reward = float(reward)
    except (TypeError, ValueError):
        return None, f"objective returned a non-number {reward!r}"
    if not math.isfinite(reward):
        return None, f"objective returned {reward}"
    return reward, None


def run_search(strategy: Strategy, objective: Callable[[Any], Any], budget: int,
               workdir: str | None = None, space: Any = None,
               max_repeats: int = 1000) -> SearchResult:
    """Runs ``strategy`` on ``objective`` until ``budget`` evaluations.

    Args:
        strategy: a fresh strategy, or one to continue; with a workdir that holds
            a saved state, its state is replaced by the saved one.
        objective: ``objective(genotype or choices) -> reward | None``.
        budget: the number of evaluations (duplicates are free), in total over
            all resumptions.
        workdir: where trial records and the strategy state are persisted.
        space: the space to decode with; by default the strategy's (it must
            have the same signature).
        max_repeats: consecutive duplicates after which the search stops.

    Returns:
        A SearchResult with every trial (resumed ones included) in id order.
    """
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ValueError(f"budget must be an int >= 0, got {budget!r}")
    if isinstance(max_repeats, bool) or not isinstance(max_repeats, int) or max_repeats < 1:
        raise ValueError(f"max_repeats must be an int >= 1, got {max_repeats!r}")
    space = strategy.space if space is None else space
    if space.signature() != strategy.space.signature():
        raise ValueError(
            f"space {space.signature()!r} is not the strategy's {strategy.space.signature()!r}")
    decode = getattr(space, "decode", None)
    key_of = getattr(space, "key", None) or (lambda c: "c:" + ",".join(map(str, c)))

    records: dict[int, Trial] = {}
    state_path = None
    if workdir is not None:
        os.makedirs(os.path.join(workdir, "trials"), exist_ok=True)
        state_path = os.path.join(workdir, "state.json")
        records = load_trials(workdir)
        if os.path.exists(state_path):
            with open(state_path, encoding="utf-8") as f:
                saved = json.load(f)
            if saved.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"{state_path}: not a search state of format {FORMAT_VERSION}")
            strategy.set_state(saved["strategy"])

    # Identity -> (reward, trial id) of evaluated trials; replayed from records.
    cache: dict[str, tuple[float | None, int]] = {}
    trials: dict[int, Trial] = {}
    for t in sorted(records.values(), key=lambda t: t.id):
        if t.id < strategy.num_asked:  # already told to the restored strategy
            trials[t.id] = t
            if t.status != "duplicate":
                cache.setdefault(t.key, (t.reward, t.id))
    num_evaluated = sum(t.status != "duplicate" for t in trials.values())
    repeats = 0
    stopped = "budget"

    def save_state():
        if state_path is not None:
            io_utils.atomic_write_json(
                state_path, {"format_version": FORMAT_VERSION, "strategy": strategy.get_state()})

    while num_evaluated < budget:
        proposal = strategy.ask()
        choices = tuple(proposal.choices)
        recorded = records.get(proposal.id)
        if recorded is not None:
            # Recorded before a kill, but the state was saved before its tell.
            if recorded.choices != choices:
                raise ValueError(
                    f"workdir {workdir!r}: trial {proposal.id} was recorded with choices "
                    f"{list(recorded.choices)}, but the restored strategy proposes {list(choices)}")
            trial = recorded
        else:
            key = key_of(choices)
            if key in cache:
                reward, first = cache[key]
                trial = Trial(id=proposal.id, choices=choices, key=key, status="duplicate",
                              reward=reward, duplicate_of=first)
            else:
                genotype = decode(choices) if decode is not None else None
                reward, error = _evaluate(objective, genotype if decode is not None else choices)
                trial = Trial(id=proposal.id, choices=choices, key=key,
                              status="ok" if error is None else "failed", reward=reward,
                              error=error, evaluation=num_evaluated,
                              genotype=genotype.to_dict() if genotype is not None else None)
            if workdir is not None:
                io_utils.atomic_write_json(_trial_path(workdir, trial.id), trial.to_dict())
        if trial.status == "duplicate":
            repeats += 1
        else:
            repeats = 0
            num_evaluated += 1
            cache.setdefault(trial.key, (trial.reward, trial.id))
        trials[trial.id] = trial
        strategy.tell(proposal, trial.reward)
        save_state()
        if repeats >= max_repeats:
            stopped = "repeats"
            break
    return SearchResult(trials=[trials[i] for i in sorted(trials)],
                        num_evaluated=num_evaluated, stopped=stopped, strategy=strategy)
