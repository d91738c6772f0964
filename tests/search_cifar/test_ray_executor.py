"""ray_executor: trials as Ray tasks: crashes, exceptions and bad results are failed records;
the local Ray listens on loopback only and is gone after close; each GPU trial gets its own
GPU (Ray's logical GPUs, so this runs without one) in a worker process of its own."""

from __future__ import annotations

import functools
import os
import sys

import psutil
import pytest

from search_cifar import evaluator, scheduler, strategies
from search_cifar.ray_executor import CPU_SECONDS, HOSTNAME, NODE_ID, PID, RayExecutor, _jsonable
from search_cifar.space import NasnetCellSpace
from search_cifar.trial_store import TrialStore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import binary_helpers  # noqa: E402
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
    # Children of this test process from before it (a process pool's server left by an
    # earlier test, for one) are not Ray's.
    earlier = {p.pid for p in psutil.Process().children(recursive=True)}
    executor = RayExecutor(num_workers=2)
    try:
        assert executor.capacity == 2
        assert executor.describe() == "local Ray on 127.0.0.1: 2 concurrent trial(s) of 1 CPU each"
        result = scheduler.run(strategies.make("random", space, seed=0), fake, budget=14,
                               executor=executor, store=TrialStore(str(tmp_path)))
        # A CPU trial: no GPU, and TensorFlow limited to the CPU.
        executor.submit(99, evaluator_helpers.EnvProbe(), (0,))
        _, probe, _ = executor.wait()
        ray_processes = [p for p in psutil.Process().children(recursive=True)
                         if p.pid not in earlier]
        listening = binary_helpers.listening_sockets([psutil.Process(), *ray_processes])
    finally:
        executor.close()
    assert probe.metrics["env"]["TF_ENABLED_DEVICE_TYPES"] == "CPU"
    assert probe.metrics["gpu_ids"] == [] and probe.metrics["env"]["TF_FORCE_GPU_ALLOW_GROWTH"] is None
    # The local Ray (its daemons, agents, workers and this driver) listens on loopback only,
    # and nothing of it is left after close.
    assert len(ray_processes) >= 4 and listening
    assert all(ip in binary_helpers.LOOPBACK for _, ip, _ in listening), listening
    assert not binary_helpers.wait_gone(ray_processes, timeout=30)
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


def test_gpu_trials_each_get_their_own_gpu_in_a_fresh_worker_with_memory_growth(
        ray_pickles_helpers, monkeypatch):
    # As in the search binary, the driver has hidden its GPUs from TensorFlow: the Ray
    # processes inherit that, and GPU trials must not.
    monkeypatch.setenv("TF_ENABLED_DEVICE_TYPES", "CPU")
    # Two of Ray's logical GPUs, one per trial, two trials at a time.
    executor = RayExecutor(num_workers=2, cpus_per_trial=0.5, gpus_per_trial=1, num_gpus=2)
    try:
        assert executor.capacity == 2
        assert executor.describe() == ("local Ray on 127.0.0.1: 2 concurrent trial(s) of "
                                       "0.5 CPU and 1 GPU each")
        probe = evaluator_helpers.EnvProbe(sleep=0.3)
        for trial_id in range(6):
            executor.submit(trial_id, probe, (trial_id,))
        results = [executor.wait()[1] for _ in range(6)]
    finally:
        executor.close()
    assert all(r.ok for r in results), [r.error for r in results]
    for r in results:
        m = r.metrics
        assert len(m["gpu_ids"]) == 1 and m["gpu_ids"][0] in ("0", "1")
        # Ray's CUDA_VISIBLE_DEVICES is the trial's own GPU, as TensorFlow reads it.
        assert m["cuda_visible_devices"] == m["env"]["CUDA_VISIBLE_DEVICES"] == m["gpu_ids"][0]
        assert m["env"]["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        assert m["env"]["TF_ENABLED_DEVICE_TYPES"] == ""  # every device type
        assert m[PID] == m["probe_pid"]
    # No worker process served two GPU trials.
    assert len({r.metrics[PID] for r in results}) == 6
    assert {r.metrics["gpu_ids"][0] for r in results} == {"0", "1"}


def test_on_ray_children_ask_the_driver_at_each_rung_and_stop_when_told(tmp_path):
    from search_cifar.early_stopping import EarlyStopping
    from search_cifar.synthetic import SyntheticEvaluator

    space = NasnetCellSpace(num_blocks=1, ops=SMALL_OPS)
    make = functools.partial(SyntheticEvaluator, num_blocks=1, ops=SMALL_OPS, epochs=9,
                             seconds=0.05)
    curves = make(seconds=0.0).curves
    es = EarlyStopping(rungs=(1, 3), max_epochs=9)
    executor = RayExecutor(num_workers=2)
    try:
        result = scheduler.run(strategies.make("random", space, seed=0),
                               evaluator.CachedEvaluator(make, cache_key="asha"), budget=10,
                               executor=executor, store=TrialStore(str(tmp_path)),
                               early_stopping=es)
        assert executor._mailbox is not None
    finally:
        executor.close()
    assert executor._mailbox is None
    assert result.num_evaluated == 10 and all(t.status == "ok" for t in result.trials)
    stopped = [t for t in result.evaluated if t.fidelity.stopped_early]
    assert stopped and len(stopped) < 10
    for t in result.evaluated:
        f, curve = t.fidelity, curves.curve(space.decode(t.choices))
        # The worker trained exactly the epochs the driver allowed, and reported the
        # values the driver decided on.
        assert t.metrics["epochs_completed"] == f.epochs == len(t.metrics["history"])
        assert [d.value for d in f.decisions] == [curve[d.epoch - 1] for d in f.decisions]
        assert f.stopped_early == (f.decisions[-1].decision == "stop")
        assert t.reward == curve[f.epochs - 1]
    assert TrialStore(str(tmp_path)).load_rungs() == {}


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
    with pytest.raises(ValueError, match="num_gpus=2 sets a local Ray's GPUs"):
        RayExecutor(address="auto", num_workers=1, num_gpus=2)
    with pytest.raises(ValueError, match="no trial can run"):
        RayExecutor(num_workers=1, gpus_per_trial=1, num_gpus=0)
    import ray
    assert not ray.is_initialized()


class _FakeRay:
    """Records what close() asks of Ray."""

    def __init__(self):
        self.cancelled, self.killed, self.shut_down = [], [], False

    def cancel(self, ref, force=False):
        self.cancelled.append((ref, force))

    def kill(self, actor):
        self.killed.append(actor)

    def is_initialized(self):
        return True

    def shutdown(self):
        self.shut_down = True


class _FakeLocalRay:
    closed = False

    def close(self):
        self.closed = True


@pytest.mark.parametrize("local", [True, False])
def test_close_cancels_running_trials_on_a_cluster_only(local):
    """A local Ray is stopped with its trials; a forced cancel there can race with a trial's
    end and abort the driver (see RayExecutor.close). A cluster's trials are cancelled."""
    executor = object.__new__(RayExecutor)   # what close() reads, without starting Ray
    fake, local_ray = _FakeRay(), _FakeLocalRay()
    executor._ray, executor._started_ray = fake, True
    executor._local = local_ray if local else None
    executor._running, executor._decide, executor._mailbox = {"ref-1": 1, "ref-2": 2}, {}, None
    executor.close()
    assert fake.cancelled == ([] if local else [("ref-1", True), ("ref-2", True)])
    assert fake.shut_down and executor._running == {} and local_ray.closed == local
