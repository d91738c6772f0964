"""ray_executor: trials as Ray tasks: crashes, exceptions and bad results are failed records."""

from __future__ import annotations

import functools
import os
import sys

import pytest

from search_cifar import evaluator, scheduler, strategies
from search_cifar.ray_executor import CPU_SECONDS, HOSTNAME, NODE_ID, PID, RayExecutor, _jsonable
from search_cifar.space import NasnetCellSpace
from search_cifar.trial_store import TrialStore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluator_helpers  # noqa: E402

SMALL_OPS = ("sep_conv_3x3", "max_pool_3x3", "identity")


@pytest.fixture
def ray_pickles_helpers():
    """Workers cannot import the tests' helper module: ship it by value."""
    from ray import cloudpickle
    cloudpickle.register_pickle_by_value(evaluator_helpers)
    yield
    cloudpickle.unregister_pickle_by_value(evaluator_helpers)


def test_on_ray_crashes_exceptions_and_bad_results_are_failed_records(tmp_path,
                                                                       ray_pickles_helpers):
    space = NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)
    fake = evaluator.CachedEvaluator(
        functools.partial(evaluator_helpers.fake_factory, crash_below=0.15, raise_below=0.3,
                          bad_below=0.38, fail_below=0.45, sleep=0.2), cache_key="ray")
    executor = RayExecutor(num_workers=2)
    try:
        assert executor.capacity == 2
        assert executor.describe() == "local Ray: 2 concurrent trial(s) of 1 CPU each"
        result = scheduler.run(strategies.make("random", space, seed=0), fake, budget=14,
                               executor=executor, store=TrialStore(str(tmp_path)))
    finally:
        executor.close()
    assert result.num_evaluated == 14
    errors = [t.error for t in result.trials if t.status == "failed"]
    assert any("WorkerCrashedError" in e for e in errors), errors
    assert any("RuntimeError: fake child failed" in e for e in errors), errors
    assert any("the evaluator returned a float, not a Result" in e for e in errors), errors
    assert any("NaN loss (" in e for e in errors), errors
    ok = [t for t in result.trials if t.status == "ok"]
    assert ok and all(t.metrics[NODE_ID] and t.metrics[HOSTNAME] for t in ok)
    assert all(t.metrics[CPU_SECONDS] >= 0 and t.duration > 0 for t in ok)
    assert len({t.metrics[PID] for t in ok}) >= 2  # two workers, asynchronously


def test_metrics_become_json_values():
    import numpy as np
    assert _jsonable({"a": np.float32(0.5), "b": [np.int64(3), float("nan")], 4: (1, "x"),
                      "c": object}) == {"a": 0.5, "b": [3, None], "4": [1, "x"],
                                        "c": str(object)}


def test_ray_executor_argument_errors():
    with pytest.raises(ValueError, match="num_workers must be an int >= 1"):
        RayExecutor(num_workers=0)
    with pytest.raises(ValueError, match="num_workers is needed for a local Ray"):
        RayExecutor(num_workers=None)
    with pytest.raises(ValueError, match="gpus_per_trial must be a number >= 0"):
        RayExecutor(num_workers=1, gpus_per_trial=-1)
    with pytest.raises(ValueError, match="both 0"):
        RayExecutor(num_workers=1, cpus_per_trial=0)
    with pytest.raises(ValueError, match="no trial can run"):
        RayExecutor(num_workers=1, gpus_per_trial=1)  # this machine has no GPU
    import ray
    assert not ray.is_initialized()
