"""run_search: budget, de-duplication, failures, persistence and exact resume."""

from __future__ import annotations

import json
import os

import pytest

from nasnet.genotype import Genotype
from search_cifar import objectives, strategies
from search_cifar.loop import Trial, load_trials, run_search
from search_cifar.space import CategoricalSpace, NasnetCellSpace

SMALL_OPS = ("sep_conv_3x3", "max_pool_3x3", "identity")


def table_objective(choices):
    return float(sum(choices))


def history(result):
    return [t.to_dict() for t in result.trials]


def test_budget_counts_evaluations_and_duplicates_are_free():
    space = CategoricalSpace((2, 2, 2))  # 8 points
    calls = []

    def objective(choices):
        calls.append(choices)
        return float(sum(choices))

    result = run_search(strategies.make("random", space, seed=0), objective, budget=6)
    assert result.num_evaluated == 6 == len(calls) == len(set(calls))
    dups = [t for t in result.trials if t.status == "duplicate"]
    assert dups, "8 points, 6 evaluations: random search repeats itself"
    for t in dups:
        first = next(u for u in result.trials if u.id == t.duplicate_of)
        assert first.choices == t.choices and first.reward == t.reward
        assert t.evaluation is None
    assert [t.evaluation for t in result.evaluated] == list(range(6))
    assert result.best().reward == max(sum(c) for c in calls)


def test_an_exhausted_space_stops_instead_of_looping():
    space = CategoricalSpace((2, 2))
    result = run_search(strategies.make("random", space, seed=0), table_objective,
                        budget=10, max_repeats=50)
    assert result.num_evaluated == 4
    assert result.stopped == "repeats"


def test_dedupe_uses_the_genotype_fingerprint():
    space = NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)
    seen = []

    def objective(genotype):
        assert isinstance(genotype, Genotype)
        seen.append(genotype.fingerprint())
        return 1.0

    result = run_search(strategies.make("random", space, seed=0), objective, budget=30)
    assert len(seen) == len(set(seen)) == 30
    # Swapping the two branches of an add block is the same architecture.
    swapped = [t for t in result.trials if t.status == "duplicate"
               and result.trials[t.duplicate_of].choices != t.choices]
    assert all(t.key == result.trials[t.duplicate_of].key for t in swapped)
    assert result.trials[0].genotype == space.decode(result.trials[0].choices).to_dict()


def test_failures_are_recorded_and_the_search_goes_on():
    space = CategoricalSpace((4, 4, 4))

    def objective(choices):
        if choices[0] == 0:
            raise RuntimeError("out of memory")
        if choices[0] == 1:
            return None
        if choices[0] == 2:
            return float("nan")
        return 1.0

    result = run_search(strategies.make("evolution", space, seed=0, population_size=5,
                                        tournament_size=2), objective, budget=40)
    assert result.num_evaluated == 40
    failed = [t for t in result.trials if t.status == "failed"]
    assert {t.error for t in failed} >= {"RuntimeError: out of memory", "objective returned None",
                                         "objective returned nan"}
    assert all(t.reward is None for t in failed)
    assert result.best().reward == 1.0


def test_bad_arguments():
    space = CategoricalSpace((3, 3))
    s = strategies.make("random", space)
    with pytest.raises(ValueError, match="budget"):
        run_search(s, table_objective, budget=-1)
    with pytest.raises(ValueError, match="max_repeats"):
        run_search(s, table_objective, budget=1, max_repeats=0)
    with pytest.raises(ValueError, match="not the strategy's"):
        run_search(s, table_objective, budget=1, space=CategoricalSpace((3, 4)))


@pytest.mark.parametrize("name", ["random", "evolution", "bayesian", "progressive"])
def test_persisted_run_resumes_exactly(tmp_path, name):
    obj = objectives.NasnetCellObjective(num_blocks=2, ops=SMALL_OPS, seed=3,
                                         threshold_samples=1000)
    options = {"evolution": {"population_size": 6, "tournament_size": 2},
               "progressive": {"beam_size": 3}}.get(name, {})

    def make():
        return strategies.make(name, obj.space, seed=11, **options)

    full = run_search(make(), obj, budget=24)

    workdir = str(tmp_path / "run")
    part = run_search(make(), obj, budget=10, workdir=workdir)
    assert part.num_evaluated == 10
    assert len(load_trials(workdir)) == len(part.trials)
    with open(os.path.join(workdir, "state.json")) as f:
        assert json.load(f)["strategy"]["strategy"] == name
    # A new process: a fresh strategy object, the same workdir, a larger budget.
    resumed = run_search(make(), obj, budget=24, workdir=workdir)
    assert history(resumed) == history(full)
    assert [t.to_dict() for t in load_trials(workdir).values()] == history(full)


def test_a_kill_between_record_and_state_costs_nothing(tmp_path):
    space = CategoricalSpace((5, 5, 5))
    calls = []

    def objective(choices):
        calls.append(choices)
        return float(sum(choices))

    def make():
        return strategies.make("evolution", space, seed=1, population_size=4, tournament_size=2)

    workdir = str(tmp_path / "run")
    run_search(make(), objective, budget=8, workdir=workdir)
    state_after_8 = open(os.path.join(workdir, "state.json")).read()
    run_search(make(), objective, budget=10, workdir=workdir)
    # Simulate a kill after trials 9 and 10 were recorded but before the state was saved.
    with open(os.path.join(workdir, "state.json"), "w") as f:
        f.write(state_after_8)
    calls.clear()
    resumed = run_search(make(), objective, budget=12, workdir=workdir)
    assert len(calls) == 2  # only the two new evaluations
    full = run_search(make(), objective, budget=12)
    assert history(resumed) == history(full)


def test_resume_refuses_another_strategy(tmp_path):
    space = CategoricalSpace((3, 3, 3))
    workdir = str(tmp_path / "run")
    run_search(strategies.make("random", space, seed=0), table_objective, budget=3,
               workdir=workdir)
    with pytest.raises(ValueError, match="belongs to strategy 'random'"):
        run_search(strategies.make("evolution", space, seed=0), table_objective, budget=5,
                   workdir=workdir)


def test_resume_detects_records_that_disagree(tmp_path):
    space = CategoricalSpace((4, 4, 4))
    workdir = str(tmp_path / "run")
    run_search(strategies.make("random", space, seed=0), table_objective, budget=3,
               workdir=workdir)
    os.remove(os.path.join(workdir, "state.json"))
    with pytest.raises(ValueError, match="recorded with choices"):
        run_search(strategies.make("random", space, seed=1), table_objective, budget=5,
                   workdir=workdir)


def test_trial_record_round_trip_and_errors():
    t = Trial(id=3, choices=(1, 2), key="c:1,2", status="ok", reward=0.5, evaluation=2)
    assert Trial.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    with pytest.raises(ValueError, match="status"):
        Trial(id=0, choices=(), key="", status="weird", reward=None)
    with pytest.raises(ValueError, match="unknown key"):
        Trial.from_dict({**t.to_dict(), "colour": "red"})
    with pytest.raises(ValueError, match="not a trial record"):
        Trial.from_dict({"id": 1})
