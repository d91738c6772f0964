"""runner.run: the work queue, failures, de-duplication, persistence and exact resume."""

from __future__ import annotations

import functools
import math
import sys

import pytest

from search_cifar import runner, strategies
from search_cifar.space import CategoricalSpace, NasnetCellSpace
from search_cifar.trial_store import TrialStore

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import runner_helpers  # noqa: E402

SMALL_OPS = ("sep_conv_3x3", "max_pool_3x3", "identity")


def fake_trial(**kwargs):
    return runner.EvaluatorTrial(functools.partial(runner_helpers.fake_factory, **kwargs),
                                 cache_key=repr(sorted(kwargs.items())))


def essentials(result):
    return [(t.id, t.choices, t.key, t.status, t.reward, t.evaluation, t.duplicate_of)
            for t in result.trials]


def test_local_run_evaluates_the_budget_and_records_every_trial(tmp_path):
    space = NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)
    store = TrialStore(str(tmp_path))
    seen = []
    result = runner.run(strategies.make("random", space, seed=0), fake_trial(), budget=6,
                        executor=runner.LocalExecutor(), store=store,
                        on_trial=lambda t, r: seen.append(t.id))
    assert result.num_evaluated == 6 and result.stopped == "budget"
    assert [t.id for t in result.trials] == list(range(len(result.trials))) == seen
    records = store.load_trials()
    assert sorted(records) == [t.id for t in result.trials]
    ok = [t for t in result.trials if t.status == "ok"]
    assert [t.evaluation for t in result.evaluated] == list(range(6))
    for t in ok:
        assert t.key == space.decode(t.choices).fingerprint() == t.fingerprint
        assert t.metrics["val_accuracy"] == t.reward and t.duration >= 0
        assert t.metrics["pid"] > 0 and t.finished_at > 0
    assert result.best().reward == max(t.reward for t in ok)
    assert store.load_state()["pending"] == []


def test_duplicates_reuse_the_reward_and_are_free():
    space = CategoricalSpace((2, 2, 2))
    result = runner.run(strategies.make("random", space, seed=0), fake_trial(), budget=6,
                        executor=runner.LocalExecutor())
    assert result.num_evaluated == 6
    assert len({t.key for t in result.evaluated}) == 6
    dups = [t for t in result.trials if t.status == "duplicate"]
    assert dups
    for t in dups:
        first = result.trials[t.duplicate_of]
        assert first.key == t.key and first.reward == t.reward and t.evaluation is None


def test_an_exhausted_space_stops_on_repeats():
    result = runner.run(strategies.make("random", CategoricalSpace((2, 2)), seed=0),
                        fake_trial(), budget=10, executor=runner.LocalExecutor(),
                        max_repeats=30)
    assert result.num_evaluated == 4 and result.stopped == "repeats"


def test_a_child_that_raises_or_returns_nan_is_a_failed_trial_and_the_search_finishes(tmp_path):
    space = NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)
    result = runner.run(strategies.make("evolution", space, seed=1, population_size=4,
                                        tournament_size=2),
                        fake_trial(raise_below=0.3, nan_below=0.6), budget=12,
                        executor=runner.LocalExecutor(), store=TrialStore(str(tmp_path)))
    assert result.num_evaluated == 12
    failed = [t for t in result.trials if t.status == "failed"]
    errors = " ".join(t.error for t in failed)
    assert "RuntimeError: fake child failed" in errors
    assert "non-finite reward nan" in errors
    assert all(t.reward is None for t in failed)
    assert any(t.status == "ok" for t in result.trials)
    # The records say the same.
    records = TrialStore(str(tmp_path)).load_trials()
    assert {i for i, t in records.items() if t.status == "failed"} == {t.id for t in failed}


def test_bad_arguments_are_errors():
    space = CategoricalSpace((2, 2))
    s = strategies.make("random", space, seed=0)
    with pytest.raises(ValueError, match="budget must be an int >= 0, got -1"):
        runner.run(s, fake_trial(), budget=-1, executor=runner.LocalExecutor())
    with pytest.raises(ValueError, match="max_repeats must be an int >= 1, got 0"):
        runner.run(s, fake_trial(), budget=1, executor=runner.LocalExecutor(), max_repeats=0)
    with pytest.raises(ValueError, match="is not the strategy's"):
        runner.run(s, fake_trial(), budget=1, executor=runner.LocalExecutor(),
                   space=CategoricalSpace((3,)))


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


@pytest.mark.parametrize("name,space", [
    ("random", CategoricalSpace((2, 2, 3))),  # duplicates
    ("evolution", NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)),
])
def test_a_kill_at_any_write_then_resume_records_what_an_uninterrupted_run_does(
        tmp_path, name, space):
    def make():
        return strategies.make(name, space, seed=3, **(
            {"population_size": 3, "tournament_size": 2} if name == "evolution" else {}))

    trial_fn = fake_trial(raise_below=0.15)
    budget = 7
    counter = _DyingStore(str(tmp_path / "count"), die_at=-1)
    expected = runner.run(make(), trial_fn, budget, runner.LocalExecutor(), store=counter)
    for die_at in range(1, counter.writes + 1):
        workdir = str(tmp_path / f"kill{die_at}")
        with pytest.raises(_Killed):
            runner.run(make(), trial_fn, budget, runner.LocalExecutor(),
                       store=_DyingStore(workdir, die_at))
        resumed = runner.run(make(), trial_fn, budget, runner.LocalExecutor(),
                             store=TrialStore(workdir))
        assert essentials(resumed) == essentials(expected), f"killed at write {die_at}"
        records = TrialStore(workdir).load_trials()
        assert sorted(records) == list(range(len(expected.trials)))
        evaluated_keys = [t.key for t in records.values() if t.status != "duplicate"]
        assert len(evaluated_keys) == len(set(evaluated_keys)) == budget


def test_foreign_records_are_refused(tmp_path):
    space = CategoricalSpace((2, 2))
    store = TrialStore(str(tmp_path))
    runner.run(strategies.make("random", space, seed=0), fake_trial(), budget=2,
               executor=runner.LocalExecutor(), store=store)
    (tmp_path / "state.json").unlink()
    with pytest.raises(ValueError, match="never asked"):
        runner.run(strategies.make("random", space, seed=0), fake_trial(), budget=2,
                   executor=runner.LocalExecutor(), store=store)


def test_execute_turns_every_kind_of_failure_into_an_error():
    def raises(_):
        raise KeyError("boom")

    assert "KeyError: 'boom'" in runner.execute(raises, ())["error"]
    assert runner.execute(lambda _: None, ())["error"] == "the trial returned no reward (None)"
    assert "non-number" in runner.execute(lambda _: "high", ())["error"]
    assert "non-finite reward inf" in runner.execute(lambda _: math.inf, ())["error"]
    out = runner.execute(lambda _: {"reward": 0.5, "metrics": {"x": float("nan")}}, ())
    assert out["reward"] == 0.5 and out["error"] is None and out["metrics"]["x"] is None


# -- on Ray --------------------------------------------------------------------------
@pytest.fixture
def ray_pickles_helpers():
    """Workers cannot import the tests' helper module: ship it by value."""
    from ray import cloudpickle
    cloudpickle.register_pickle_by_value(runner_helpers)
    yield
    cloudpickle.unregister_pickle_by_value(runner_helpers)


def test_on_ray_crashes_exceptions_and_nan_are_failed_records(tmp_path, ray_pickles_helpers):
    space = NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)
    executor = runner.RayExecutor(num_workers=2)
    try:
        assert executor.capacity == 2
        result = runner.run(
            strategies.make("random", space, seed=0),
            fake_trial(crash_below=0.15, raise_below=0.3, nan_below=0.45, sleep=0.2),
            budget=14, executor=executor, store=TrialStore(str(tmp_path)))
    finally:
        executor.close()
    assert result.num_evaluated == 14
    errors = [t.error for t in result.trials if t.status == "failed"]
    assert any("WorkerCrashedError" in e for e in errors), errors
    assert any("RuntimeError: fake child failed" in e for e in errors), errors
    assert any("non-finite reward nan" in e for e in errors), errors
    ok = [t for t in result.trials if t.status == "ok"]
    assert ok and all(t.metrics[runner.NODE_ID] for t in ok)
    assert len({t.metrics[runner.PID] for t in ok}) >= 2  # two workers, asynchronously


def test_ray_executor_argument_errors():
    with pytest.raises(ValueError, match="num_workers must be an int >= 1"):
        runner.RayExecutor(num_workers=0)
    with pytest.raises(ValueError, match="gpus_per_trial must be a number >= 0"):
        runner.RayExecutor(num_workers=1, gpus_per_trial=-1)
    with pytest.raises(ValueError, match="both 0"):
        runner.RayExecutor(num_workers=1, cpus_per_trial=0)
    with pytest.raises(ValueError, match="no trial can run"):
        runner.RayExecutor(num_workers=1, gpus_per_trial=1)  # this machine has no GPU
    import ray
    assert not ray.is_initialized()
