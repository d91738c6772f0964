"""evaluator and executors: the Result shape, the adapters at the edges, failures as Results."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from search_cifar import objectives
from search_cifar.evaluator import CachedEvaluator, Result, from_function, result_of
from search_cifar.executors import InProcessExecutor, evaluate_point
from search_cifar.synthetic import SyntheticEvaluator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_driver_side_of_the_search_imports_no_tensorflow():
    # A fresh interpreter: this test process may have imported TensorFlow already.
    modules = ["search_cifar.evaluator", "search_cifar.executors", "search_cifar.ray_executor",
               "search_cifar.scheduler", "search_cifar.trial_store", "search_cifar.synthetic",
               "search_cifar.objectives", "search_cifar.table_evaluator",
               "search_cifar.strategies"]
    code = "\n".join([
        "import sys", *(f"import {m}" for m in modules),
        "from search_cifar import objectives, scheduler, strategies",
        "obj = objectives.InteractionObjective(seed=0)",
        "scheduler.run_in_process(strategies.make('evolution', obj.space), obj, budget=3)",
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'tf_keras', 'keras')))"])
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_result_invariants_and_round_trip():
    ok = Result(reward=1, metrics={"a": 1})
    assert ok.ok and isinstance(ok.reward, float)
    assert Result(reward=np.float32(0.5)).reward == 0.5 and Result(np.int64(2)).reward == 2.0
    failed = Result.failure("boom", {"epochs_completed": 0})
    assert not failed.ok and failed.reward is None
    assert failed.metrics == {"epochs_completed": 0}
    with pytest.raises(ValueError, match="needs a finite reward, got nan"):
        Result(reward=math.nan)
    with pytest.raises(ValueError, match="needs a finite reward, got None"):
        Result(reward=None)
    with pytest.raises(ValueError, match="needs a finite reward, got True"):
        Result(reward=True)
    with pytest.raises(ValueError, match="needs a finite reward, got '0.5'"):
        Result(reward="0.5")
    with pytest.raises(ValueError, match="error must be a non-empty string"):
        Result(reward=None, error="")
    with pytest.raises(ValueError, match="a failed Result has reward None, got 0.5"):
        Result(reward=0.5, error="boom")
    with pytest.raises(ValueError, match="metrics must be a dict"):
        Result(reward=0.5, metrics=[])


def test_a_plain_value_becomes_a_result_once_at_the_edge():
    assert result_of(0.25) == Result(0.25)
    assert result_of(np.float64(0.5)) == Result(0.5)
    stored = Result.failure("stored")
    assert result_of(stored) is stored
    assert result_of(None).error == "objective returned None, not a finite number"
    assert result_of(math.inf).error == "objective returned inf, not a finite number"
    assert result_of("high").error == "objective returned 'high', not a finite number"
    wrapped = from_function(lambda choices: sum(choices) / 10)
    assert wrapped.evaluate((1, 2, 3), report=lambda e, m: None) == Result(0.6)
    table = CachedEvaluator(lambda: from_function(lambda c: 1.0), cache_key="unused")
    assert from_function(table) is table   # an evaluator is not wrapped again
    with pytest.raises(ValueError, match="an objective must be callable, got 3"):
        from_function(3)


def test_cached_evaluator_builds_once_per_process_and_passes_report():
    built = []

    class Echo:
        def evaluate(self, point, report=None):
            report(1, {"epoch": 1})
            return Result(float(point))

    def factory():
        built.append(1)
        return Echo()

    cached = CachedEvaluator(factory, cache_key="test_cached_evaluator")
    seen = []
    assert cached.evaluate(0.5, lambda e, m: seen.append(e)).reward == 0.5
    again = CachedEvaluator(factory, cache_key="test_cached_evaluator")
    assert again.evaluate(0.25, lambda e, m: seen.append(e)).reward == 0.25
    assert built == [1] and seen == [1, 1]
    with pytest.raises(ValueError, match="factory must be callable"):
        CachedEvaluator(None, "x")


def test_evaluate_point_turns_every_kind_of_failure_into_a_failed_result():
    def raises(_):
        raise KeyError("boom")

    failed = evaluate_point(from_function(raises), ())
    assert failed.error == "KeyError: 'boom'" and "Traceback" in failed.metrics["traceback"]

    class ReturnsADict:
        def evaluate(self, point, report=None):
            return {"reward": 0.5}

    assert evaluate_point(ReturnsADict(), ()).error == (
        "the evaluator returned a dict, not a Result (search_cifar.evaluator.Result)")
    assert evaluate_point(from_function(lambda _: 0.5), ()) == Result(0.5)


def test_in_process_executor_runs_one_trial_at_a_time():
    executor = InProcessExecutor()
    assert executor.capacity == 1 and executor.num_running == 0
    executor.submit(7, from_function(lambda c: 0.5), (1,))
    assert executor.num_running == 1
    trial_id, result, duration = executor.wait()
    assert (trial_id, result) == (7, Result(0.5)) and duration >= 0
    assert executor.describe() == "in-process (1 trial at a time)"
    with pytest.raises(ValueError, match="wait\\(\\) with no trial submitted"):
        executor.wait()
    executor.submit(8, from_function(lambda c: 0.5), (1,))
    executor.close()
    assert executor.num_running == 0


def test_the_synthetic_objectives_are_evaluators():
    obj = objectives.InteractionObjective(seed=1)
    choices = (0, 1, 2, 3, 4, 0)
    assert obj.evaluate(choices) == Result(obj.reward(choices))
    assert obj.reward(choices) == obj.true_value(choices) + obj.noise_sd * obj.noise(choices)
    cells = objectives.NasnetCellObjective(num_blocks=2, threshold_samples=1000)
    genotype = cells.space.decode((0,) * len(cells.space.num_choices))
    assert cells.evaluate(genotype).reward == cells.reward(genotype)
    assert cells.reward(genotype) == cells.reward(cells.space.encode(genotype))
    synthetic = SyntheticEvaluator(num_blocks=2, ops=[op.value for op in cells.space.ops])
    reports = []
    result = synthetic.evaluate(genotype, report=lambda e, m: reports.append((e, m)))
    assert result.reward == cells.reward(genotype) and result.metrics["synthetic"]
    assert reports == [(1, {"epoch": 1, "val_accuracy": result.reward})]
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        SyntheticEvaluator(num_blocks=2, ops=["identity"], seconds=-1)
