"""scheduler: the one search driver: budget, de-duplication, failures, persistence, exact resume.

In this process (``run_in_process`` and ``run`` with the in-process executor,
or a test executor that runs several trials at once and returns them newest
first); the Ray executor's own tests are in test_ray_executor.py.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import sys

import pytest

from nasnet import cost
from nasnet.genotype import Genotype
from search_cifar import evaluator, objectives, reward, scheduler, strategies
from search_cifar.early_stopping import EarlyStopping
from search_cifar.executors import InProcessExecutor, evaluate_point
from search_cifar.space import CategoricalSpace, NasnetCellSpace
from search_cifar.trial_store import TrialStore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluator_helpers  # noqa: E402

SMALL_OPS = ("sep_conv_3x3", "max_pool_3x3", "identity")
#: Fields that differ between two runs of the same search: when and how long.
TIMING = ("duration", "finished_at")


def fake(**kwargs):
    return evaluator.CachedEvaluator(functools.partial(evaluator_helpers.fake_factory, **kwargs),
                                     cache_key=repr(sorted(kwargs.items())))


def table_objective(choices):
    return float(sum(choices))


def history(result_or_trials):
    trials = getattr(result_or_trials, "trials", result_or_trials)
    return [{k: v for k, v in t.to_dict().items() if k not in TIMING} for t in trials]


def essentials(result):
    return [(t.id, t.choices, t.key, t.status, t.reward, t.evaluation, t.duplicate_of)
            for t in result.trials]


class NewestFirstExecutor:
    """Runs up to ``capacity`` trials 'at once' and finishes the newest first, so that
    rewards are told out of order and twins of a running trial have to wait."""

    def __init__(self, capacity: int = 3):
        self.capacity = capacity
        self.queue = []

    @property
    def num_running(self):
        return len(self.queue)

    def submit(self, trial_id, evaluator_, point):
        self.queue.append((trial_id, evaluator_, point))

    def wait(self):
        trial_id, evaluator_, point = self.queue.pop()
        return trial_id, evaluate_point(evaluator_, point), 0.0


# -- budget, duplicates, failures ------------------------------------------------------
def test_budget_counts_evaluations_and_duplicates_are_free():
    space = CategoricalSpace((2, 2, 2))  # 8 points
    calls = []

    def objective(choices):
        calls.append(choices)
        return float(sum(choices))

    result = scheduler.run_in_process(strategies.make("random", space, seed=0), objective,
                                      budget=6)
    assert result.num_evaluated == 6 == len(calls) == len(set(calls))
    dups = [t for t in result.trials if t.status == "duplicate"]
    assert dups, "8 points, 6 evaluations: random search repeats itself"
    for t in dups:
        first = next(u for u in result.trials if u.id == t.duplicate_of)
        assert first.choices == t.choices and first.reward == t.reward and first.key == t.key
        assert t.evaluation is None and t.duration is None and t.metrics is None
    assert [t.evaluation for t in result.evaluated] == list(range(6))
    assert result.best().reward == max(sum(c) for c in calls)
    assert len({t.key for t in result.evaluated}) == 6


def test_an_evaluator_runs_with_its_metrics_and_every_trial_is_recorded(tmp_path):
    space = NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)
    store = TrialStore(str(tmp_path))
    seen = []
    result = scheduler.run(strategies.make("random", space, seed=0), fake(), budget=6,
                           executor=InProcessExecutor(), store=store,
                           on_trial=lambda t, r: seen.append((t.id, len(r.trials))))
    assert result.num_evaluated == 6 and result.stopped == "budget"
    assert [t.id for t in result.trials] == list(range(len(result.trials)))
    assert seen == [(t.id, t.id + 1) for t in result.trials]
    assert sorted(store.load_trials()) == [t.id for t in result.trials]
    assert [t.evaluation for t in result.evaluated] == list(range(6))
    for t in result.evaluated:
        assert t.key == space.decode(t.choices).fingerprint() == t.fingerprint
        # In process, the metrics are the evaluator's own: nothing only Ray needs.
        assert t.metrics == {"val_accuracy": t.reward, "epochs": 1}
        assert t.duration >= 0 and t.finished_at > 0
    assert result.best().reward == max(t.reward for t in result.evaluated)
    assert store.load_state()["pending"] == []


@pytest.mark.parametrize("objective", [table_objective, fake()], ids=["function", "evaluator"])
def test_an_exhausted_space_stops_on_repeats_instead_of_looping(objective):
    space = CategoricalSpace((2, 2))
    result = scheduler.run_in_process(strategies.make("random", space, seed=0), objective,
                                      budget=10, max_repeats=30)
    assert result.num_evaluated == 4
    assert result.stopped == "repeats"


def test_dedupe_uses_the_genotype_fingerprint():
    space = NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)
    seen = []

    def objective(genotype):
        assert isinstance(genotype, Genotype)
        seen.append(genotype.fingerprint())
        return 1.0

    result = scheduler.run_in_process(strategies.make("random", space, seed=0), objective,
                                      budget=30)
    assert len(seen) == len(set(seen)) == 30
    # Swapping the two branches of an add block is the same architecture.
    swapped = [t for t in result.trials if t.status == "duplicate"
               and result.trials[t.duplicate_of].choices != t.choices]
    assert all(t.key == result.trials[t.duplicate_of].key for t in swapped)
    first = space.decode(result.trials[0].choices)
    assert result.trials[0].genotype == {**first.to_dict(), "fingerprint": first.fingerprint()}
    assert Genotype.from_dict(result.trials[0].genotype) == first


def test_failures_of_a_plain_function_are_recorded_and_the_search_goes_on():
    space = CategoricalSpace((4, 4, 4))

    def objective(choices):
        if choices[0] == 0:
            raise RuntimeError("out of memory")
        if choices[0] == 1:
            return None
        if choices[0] == 2:
            return float("nan")
        return 1.0

    result = scheduler.run_in_process(
        strategies.make("evolution", space, seed=0, population_size=5, tournament_size=2),
        objective, budget=40)
    assert result.num_evaluated == 40
    failed = [t for t in result.trials if t.status == "failed"]
    assert {t.error for t in failed} == {"RuntimeError: out of memory",
                                         "objective returned None, not a finite number",
                                         "objective returned nan, not a finite number"}
    assert all(t.reward is None for t in failed)
    raised = next(t for t in failed if t.error.startswith("RuntimeError"))
    assert "Traceback" in raised.metrics["traceback"]
    assert result.best().reward == 1.0


def test_an_evaluator_that_raises_returns_no_result_or_fails_is_a_failed_trial(tmp_path):
    space = NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)
    result = scheduler.run(
        strategies.make("evolution", space, seed=1, population_size=4, tournament_size=2),
        fake(raise_below=0.2, bad_below=0.4, fail_below=0.6), budget=16,
        executor=InProcessExecutor(), store=TrialStore(str(tmp_path)))
    assert result.num_evaluated == 16
    failed = [t for t in result.trials if t.status == "failed"]
    errors = " ".join(t.error for t in failed)
    assert "RuntimeError: fake child failed" in errors
    assert "the evaluator returned a float, not a Result" in errors
    assert "NaN loss (" in errors
    assert all(t.reward is None for t in failed)
    assert any(t.status == "ok" for t in result.trials)
    records = TrialStore(str(tmp_path)).load_trials()
    assert {i for i, t in records.items() if t.status == "failed"} == {t.id for t in failed}


def test_several_running_trials_told_out_of_order_and_twins_wait_for_the_running_one():
    space = CategoricalSpace((2, 2, 3))  # 12 points: random search repeats itself
    result = scheduler.run(strategies.make("random", space, seed=3), fake(), budget=9,
                           executor=NewestFirstExecutor(capacity=3))
    assert result.num_evaluated == 9
    keys = [t.key for t in result.evaluated]
    assert len(keys) == len(set(keys))
    assert [t.id for t in result.trials] == list(range(len(result.trials)))
    order = [t.id for t in sorted(result.evaluated, key=lambda t: t.evaluation)]
    assert order != sorted(order), "newest first: rewards arrive out of proposal order"
    for t in result.trials:
        if t.status == "duplicate":
            first = result.trials[t.duplicate_of]
            assert first.key == t.key and first.reward == t.reward
            assert first.status != "duplicate"
    assert result.strategy.pending == []


def test_bad_arguments_are_errors():
    space = CategoricalSpace((3, 3))
    s = strategies.make("random", space)
    with pytest.raises(ValueError, match="budget must be an int >= 0, got -1"):
        scheduler.run_in_process(s, table_objective, budget=-1)
    with pytest.raises(ValueError, match="max_repeats must be an int >= 1, got 0"):
        scheduler.run_in_process(s, table_objective, budget=1, max_repeats=0)
    with pytest.raises(ValueError, match="is not the strategy's"):
        scheduler.run_in_process(s, table_objective, budget=1, space=CategoricalSpace((3, 4)))
    with pytest.raises(ValueError, match=r"evaluator must have evaluate\(point"):
        scheduler.run(s, table_objective, budget=1, executor=InProcessExecutor())
    with pytest.raises(ValueError, match="an objective must be callable, got 0.5"):
        scheduler.run_in_process(s, 0.5, budget=1)


# -- persistence and resume --------------------------------------------------------
@pytest.mark.parametrize("name", ["random", "evolution", "bayesian", "progressive"])
def test_persisted_run_resumes_exactly(tmp_path, name):
    obj = objectives.NasnetCellObjective(num_blocks=2, ops=SMALL_OPS, seed=3,
                                         threshold_samples=1000)
    options = {"evolution": {"population_size": 6, "tournament_size": 2},
               "progressive": {"beam_size": 3}}.get(name, {})

    def make():
        return strategies.make(name, obj.space, seed=11, **options)

    full = scheduler.run_in_process(make(), obj, budget=24)

    workdir = str(tmp_path / "run")
    part = scheduler.run_in_process(make(), obj, budget=10, workdir=workdir)
    assert part.num_evaluated == 10
    assert len(TrialStore(workdir).load_trials()) == len(part.trials)
    with open(os.path.join(workdir, "state.json")) as f:
        assert json.load(f)["strategy"]["strategy"] == name
    # A new process: a fresh strategy object, the same workdir, a larger budget.
    resumed = scheduler.run_in_process(make(), obj, budget=24, workdir=workdir)
    assert history(resumed) == history(full)
    assert history(TrialStore(workdir).load_trials().values()) == history(full)


class _Killed(BaseException):
    """The process 'dies' (BaseException: nothing catches it on the way out)."""


class _DyingStore(TrialStore):
    """A store whose process dies at its ``die_at``-th write (trial or state)."""

    def __init__(self, workdir, die_at):
        super().__init__(workdir)
        self.writes, self.die_at = 0, die_at

    def _tick(self):
        self.writes += 1
        if self.writes == self.die_at:
            raise _Killed()

    def save_trial(self, trial):
        self._tick()
        super().save_trial(trial)

    def save_state(self, state):
        self._tick()
        super().save_state(state)

    def save_rungs(self, record):
        self._tick()
        super().save_rungs(record)

    def remove_rungs(self, trial_id):
        self._tick()
        super().remove_rungs(trial_id)


@pytest.mark.parametrize("name,space", [
    ("random", CategoricalSpace((2, 2, 3))),  # duplicates
    ("evolution", NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)),
])
def test_a_kill_at_any_write_then_resume_records_what_an_uninterrupted_run_does(
        tmp_path, name, space):
    def make():
        return strategies.make(name, space, seed=3, **(
            {"population_size": 3, "tournament_size": 2} if name == "evolution" else {}))

    calls = []

    def objective(point):
        calls.append(point)
        return evaluator_helpers.FakeEvaluator(raise_below=0.15).evaluate(point)

    budget = 7
    counter = _DyingStore(str(tmp_path / "count"), die_at=-1)
    expected = scheduler.run(make(), evaluator.from_function(objective), budget,
                             InProcessExecutor(), store=counter)
    for die_at in range(1, counter.writes + 1):
        workdir = str(tmp_path / f"kill{die_at}")
        with pytest.raises(_Killed):
            scheduler.run(make(), evaluator.from_function(objective), budget,
                          InProcessExecutor(), store=_DyingStore(workdir, die_at))
        recorded = [t for t in TrialStore(workdir).load_trials().values()
                    if t.status != "duplicate"]
        calls.clear()
        resumed = scheduler.run_in_process(make(), objective, budget, workdir=workdir)
        assert essentials(resumed) == essentials(expected), f"killed at write {die_at}"
        # A kill costs nothing: what was recorded is not evaluated again.
        assert len(calls) == budget - len(recorded), f"killed at write {die_at}"
        records = TrialStore(workdir).load_trials()
        assert sorted(records) == list(range(len(expected.trials)))
        evaluated_keys = [t.key for t in records.values() if t.status != "duplicate"]
        assert len(evaluated_keys) == len(set(evaluated_keys)) == budget


class _EpochCounter:
    """A learning-curve objective that records every epoch it trains: (key, epoch)."""

    def __init__(self, objective):
        self.objective, self.max_epochs, self.epochs = objective, objective.max_epochs, []

    def evaluate(self, point, report=None):
        def counted(epoch, metrics):
            self.epochs.append((point.fingerprint(), epoch))
            return report(epoch, metrics)

        return self.objective.evaluate(point, counted)


def _cost_aware(evaluator, space):
    """``evaluator`` under a hard MnasNet reward whose target is the median mult-adds of
    ``space``'s cells (at the mobile size), so that the cost decides some rungs."""
    target = cost.TargetNetwork()
    madds = sorted(cost.cached_mult_adds(space.decode(c), target)
                   for c in itertools.product(*map(range, space.num_choices)))
    config = reward.RewardConfig(kind="hard", target_mult_adds=float(madds[len(madds) // 2]))
    return reward.CostAwareEvaluator(evaluator, config, target)


@pytest.mark.parametrize("cost_aware", [False, True], ids=["accuracy", "cost_aware"])
def test_early_stopping_a_kill_at_any_write_then_resume_records_what_an_uninterrupted_run_does(
        tmp_path, cost_aware):
    """Every write (state, record, rung record, rung record removal) is a kill point. After
    each, the resumed search records exactly the trials, rewards and fidelities of an
    uninterrupted one; a child stopped at a rung before the kill is never trained again; a
    child that was running restarts from scratch (epoch 1) with its rung decisions replayed.
    Under a cost-aware reward, the rungs compare rewards and a child recovered from its rung
    record gets its cost and its combined reward, as the uninterrupted run's did."""
    base = objectives.NasnetCellObjective(num_blocks=1, ops=SMALL_OPS, seed=2,
                                          threshold_samples=1000)
    plain = objectives.LearningCurveObjective(base, epochs=9, seed=2)
    wrap = functools.partial(_cost_aware, space=plain.space) if cost_aware else (lambda e: e)
    obj = wrap(plain)
    es = EarlyStopping(rungs=(1, 3), max_epochs=9)

    def make():
        return strategies.make("evolution", plain.space, seed=3, population_size=3,
                               tournament_size=2)

    def outcome(trials):
        return [(*essentials_of(t), t.fidelity) for t in trials]

    budget = 8
    counter = _DyingStore(str(tmp_path / "count"), die_at=-1)
    expected = scheduler.run(make(), obj, budget, InProcessExecutor(), store=counter,
                             early_stopping=es)
    assert any(t.fidelity.stopped_early for t in expected.evaluated)
    assert any(not t.fidelity.stopped_early for t in expected.evaluated)
    stops_recovered = restarts = 0
    for die_at in range(1, counter.writes + 1):
        workdir = str(tmp_path / f"kill{die_at}")
        with pytest.raises(_Killed):
            scheduler.run(make(), obj, budget, InProcessExecutor(),
                          store=_DyingStore(workdir, die_at), early_stopping=es)
        store = TrialStore(workdir)
        recorded = {t.key for t in store.load_trials().values() if t.status != "duplicate"}
        rungs = {r.key: r for i, r in store.load_rungs().items()
                 if i not in store.load_trials()}
        counted = _EpochCounter(plain)
        resumed = scheduler.run(make(), wrap(counted), budget, InProcessExecutor(), store=store,
                                early_stopping=es)
        assert outcome(resumed.trials) == outcome(expected.trials), f"killed at write {die_at}"
        trained = [key for key, _ in counted.epochs]
        assert not recorded & set(trained), f"killed at write {die_at}: a record re-trained"
        for key, record in rungs.items():
            if record.stopped:  # recorded from its rung record, never trained again
                stops_recovered += 1
                assert key not in trained, f"killed at write {die_at}"
                (t,) = [t for t in resumed.trials if t.key == key]
                assert t.metrics["recovered_from_rung_record"] and t.duration is None
                assert ("cost" in t.metrics) == cost_aware
            else:  # from scratch, its decisions replayed
                restarts += 1
                assert [e for k, e in counted.epochs if k == key][0] == 1
        assert store.load_rungs() == {}, f"killed at write {die_at}"
    assert stops_recovered and restarts  # both kinds of kill happened
    if cost_aware:  # the cost moved some rung values away from the accuracies
        values = [(d.value, t.metrics["history"][d.epoch - 1]["val_accuracy"])
                  for t in expected.evaluated for d in t.fidelity.decisions]
        assert any(v != acc for v, acc in values)


def essentials_of(t):
    return (t.id, t.choices, t.key, t.status, t.reward, t.evaluation, t.duplicate_of)


def test_a_kill_with_several_trials_running_resumes_without_loss_or_repeat(tmp_path):
    space = CategoricalSpace((3, 3, 3))
    counter = _DyingStore(str(tmp_path / "count"), die_at=-1)
    scheduler.run(strategies.make("random", space, seed=0), fake(), 10, NewestFirstExecutor(),
                  store=counter)
    workdir = str(tmp_path / "w")
    with pytest.raises(_Killed):
        scheduler.run(strategies.make("random", space, seed=0), fake(), 10,
                      NewestFirstExecutor(), store=_DyingStore(workdir, counter.writes // 2))
    before = TrialStore(workdir).load_trials()
    pending = TrialStore(workdir).load_state()["pending"]
    assert len(pending) > 1, "killed with several trials running"
    result = scheduler.run(strategies.make("random", space, seed=0), fake(), 10,
                           NewestFirstExecutor(), store=TrialStore(workdir))
    after = TrialStore(workdir).load_trials()
    assert all(after[i] == t for i, t in before.items())
    assert sorted(after) == list(range(len(after)))
    keys = [t.key for t in after.values() if t.status != "duplicate"]
    assert len(keys) == len(set(keys)) == 10 == result.num_evaluated
    assert TrialStore(workdir).load_state()["pending"] == []


def test_resume_refuses_another_strategy(tmp_path):
    space = CategoricalSpace((3, 3, 3))
    workdir = str(tmp_path / "run")
    scheduler.run_in_process(strategies.make("random", space, seed=0), table_objective,
                             budget=3, workdir=workdir)
    with pytest.raises(ValueError, match="belongs to strategy 'random'"):
        scheduler.run_in_process(strategies.make("evolution", space, seed=0), table_objective,
                                 budget=5, workdir=workdir)


def test_resume_refuses_records_that_disagree_with_the_state(tmp_path):
    space = CategoricalSpace((4, 4, 4))

    def make():
        return strategies.make("random", space, seed=0)

    # Records that the saved state never asked (state.json removed).
    workdir = str(tmp_path / "orphans")
    scheduler.run_in_process(make(), table_objective, budget=3, workdir=workdir)
    os.remove(os.path.join(workdir, "state.json"))
    with pytest.raises(ValueError, match="that its saved state never asked"):
        scheduler.run_in_process(make(), table_objective, budget=5, workdir=workdir)

    # A record missing for a trial the state says was told.
    workdir = str(tmp_path / "missing")
    scheduler.run_in_process(make(), table_objective, budget=3, workdir=workdir)
    os.remove(os.path.join(workdir, "trials", "000001.json"))
    with pytest.raises(ValueError, match=r"trials \[1\] were told to the strategy but have no"):
        scheduler.run_in_process(make(), table_objective, budget=5, workdir=workdir)

    # A pending proposal whose record has other choices (killed after the record).
    workdir = str(tmp_path / "choices")
    with pytest.raises(_Killed):  # writes: state after ask 0, record 0 -> dies at the 3rd
        scheduler.run(make(), evaluator.from_function(table_objective), 3, InProcessExecutor(),
                      store=_DyingStore(workdir, 3))
    store = TrialStore(workdir)
    state = store.load_state()
    (pending,) = state["pending"]
    assert store.load_trials()[pending["id"]].choices == tuple(pending["choices"])
    pending["choices"] = [(c + 1) % 4 for c in pending["choices"]]
    store.save_state(state)
    with pytest.raises(ValueError, match="was recorded with choices"):
        scheduler.run_in_process(make(), table_objective, budget=5, workdir=workdir)


def test_resume_refuses_rung_records_that_disagree_with_the_state(tmp_path):
    base = objectives.NasnetCellObjective(num_blocks=1, ops=SMALL_OPS, seed=2,
                                          threshold_samples=1000)
    obj = objectives.LearningCurveObjective(base, epochs=9, seed=2)
    es = EarlyStopping(rungs=(1, 3), max_epochs=9)

    def make():
        return strategies.make("random", obj.space, seed=0)

    # Killed while trial 0 ran past its first rung: state, then its rung record.
    workdir = str(tmp_path / "w")
    with pytest.raises(_Killed):
        scheduler.run(make(), obj, 3, InProcessExecutor(), store=_DyingStore(workdir, 3),
                      early_stopping=es)
    store = TrialStore(workdir)
    (record,) = store.load_rungs().values()
    assert record.trial == 0 and store.load_trials() == {}
    # A rung record of another architecture than the pending trial's.
    store.save_rungs(dataclasses.replace(record, key="0123456789abcdef"))
    with pytest.raises(ValueError, match="the rung record of trial 0 is of architecture "
                                         "'0123456789abcdef'"):
        scheduler.load_saved(make(), store)
    # A rung record of a trial that is neither running nor recorded.
    store.save_rungs(record)
    store.save_rungs(dataclasses.replace(record, trial=5))
    with pytest.raises(ValueError, match=r"rung records of trials \[5\] that are neither"):
        scheduler.run(make(), obj, 3, InProcessExecutor(), store=store, early_stopping=es)
    # A damaged one names its file.
    store.remove_rungs(5)
    with open(os.path.join(workdir, "rungs", "000000.json"), "w") as f:
        f.write("{")
    with pytest.raises(ValueError, match=r"bad rung record .*rungs/000000.json"):
        scheduler.load_saved(make(), store)
