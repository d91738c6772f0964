"""child_evaluator: child training, failures as results, early stopping.

Children here are one-block genotypes on digits at 16 px (a few seconds of
tracing each); NASNet-A at search size is measured by benchmarks/child_training.py.
"""

from __future__ import annotations

import dataclasses
import glob
import json

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
import tf_keras

from nasnet import config_utils
from nasnet.genotype import Block, Cell, Genotype, Op
from search_cifar import child_config, child_monitor, scheduler, strategies
from search_cifar.child_evaluator import ChildEvaluator
from search_cifar.data import DataConfig
from search_cifar.space import NasnetCellSpace

SMALL = Genotype(
    normal=Cell(blocks=(Block(0, Op.CONV_3X3, 1, Op.IDENTITY),), concat=(2,)),
    reduction=Cell(blocks=(Block(0, Op.MAX_POOL_3X3, 1, Op.AVG_POOL_3X3),), concat=(2,)),
    name="one_block")
# The quickstart preset with lr 0.1 (3 epochs of 42 steps on digits).
LEARN = dataclasses.replace(child_config.TINY, learning_rate=0.1)


@pytest.fixture(scope="module")
def learned():
    reports = []
    evaluator = ChildEvaluator(LEARN)
    result = evaluator.evaluate(SMALL, report=lambda epoch, metrics: reports.append((epoch, metrics)))
    return result, reports, evaluator


class _TracingCount(tf_keras.callbacks.Callback):
    """How often the child's training and validation steps were traced."""

    def on_train_end(self, logs=None):
        self.train = self.model.train_function.experimental_get_tracing_count()
        self.test = self.model.test_function.experimental_get_tracing_count()


# ---------------------------------------------------------------- training

def test_a_tiny_child_learns_digits_and_reports_every_epoch(learned):
    result, reports, _ = learned
    assert result.ok, result.error
    history = result.metrics["history"]
    assert [epoch for epoch, _ in reports] == [1, 2, 3] and len(history) == 3
    assert all(set(child_monitor.EPOCH_METRICS) <= set(m) for _, m in reports)
    assert history[-1]["loss"] < history[0]["loss"]
    assert result.reward == history[-1]["val_accuracy"] > 0.3      # chance: 0.1
    assert result.metrics["final_val_accuracy"] == result.reward
    assert result.metrics["best_val_accuracy"] >= result.reward
    rates = [m["learning_rate"] for m in history]
    assert rates[0] > rates[1] > rates[2] >= 0.0 and rates[0] < LEARN.learning_rate   # cosine
    assert result.metrics["epochs_completed"] == 3 and not result.metrics["stopped_early"]
    assert result.metrics["num_params"] > 0 and result.metrics["images_per_second"] > 0
    assert result.metrics["fingerprint"] == SMALL.fingerprint()
    json.dumps(result.metrics, allow_nan=False)   # JSON values, for trial records


def test_each_child_traces_its_training_step_once():
    """The optimizer's slots and the loss and metric trackers exist before the first
    step (build_training_state), so tf.function has no variables to create in it."""
    count = _TracingCount()
    config = dataclasses.replace(LEARN, epochs=2, data=dataclasses.replace(LEARN.data,
                                                                           train_limit=96))
    evaluator = ChildEvaluator(config, callbacks=[count])
    for _ in range(2):
        result = evaluator.evaluate(SMALL)
        assert result.ok, result.error
        assert (count.train, count.test) == (1, 1)


def test_report_false_stops_early_and_the_same_seed_trains_identically(learned, tmp_path):
    full, _, evaluator = learned
    # The same evaluator again: its second child sees the same batches as its first.
    result = evaluator.evaluate(SMALL, report=lambda epoch, metrics: epoch < 1,
                                logdir=str(tmp_path / "tb"))
    assert result.ok and result.metrics["stopped_early"]
    assert result.metrics["epochs_completed"] == 1
    first, reference = result.metrics["history"][0], full.metrics["history"][0]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert first[key] == pytest.approx(reference[key], rel=1e-6), key
    assert result.reward == first["val_accuracy"]
    assert glob.glob(str(tmp_path / "tb" / "**" / "events.out.tfevents*"), recursive=True)


def test_the_search_driver_trains_children_through_the_evaluator(tmp_path):
    space = NasnetCellSpace(num_blocks=1, ops=("conv_3x3", "identity"))
    one_epoch = ChildEvaluator(dataclasses.replace(LEARN, epochs=1))
    result = scheduler.run_in_process(strategies.make("random", space, seed=0), one_epoch,
                                      budget=1, workdir=str(tmp_path))
    (trial,) = result.evaluated
    assert trial.status == "ok", trial.error
    assert trial.metrics["fingerprint"] == trial.key == trial.genotype["fingerprint"]
    assert trial.metrics["epochs_completed"] == 1 and 0.0 <= trial.reward <= 1.0
    with open(tmp_path / "trials" / "000000.json") as f:
        assert json.load(f)["metrics"]["history"] == trial.metrics["history"]


def test_a_child_whose_loss_becomes_nan_is_a_failed_result():
    config = config_utils.override(LEARN, {"learning_rate": 1e8, "clip_norm": None,
                                           "network.backbone.drop_path_keep_prob": 0.7,
                                           "data.train_limit": 320})
    result = ChildEvaluator(config).evaluate(SMALL)
    assert not result.ok and result.reward is None
    assert result.error.startswith("NaN loss at epoch 1 (step ")
    assert result.metrics["epochs_completed"] == 0 and result.metrics["history"] == []
    assert "traceback" not in result.metrics


def test_an_exception_at_build_is_a_failed_result_and_precision_is_restored():
    # At 8 px the auxiliary head's 5x5 pool does not fit the 2x2 map it reads.
    config = dataclasses.replace(LEARN, mixed_precision="mixed_bfloat16",
                                 data=dataclasses.replace(LEARN.data, image_size=8))
    evaluator = ChildEvaluator(config)
    result = evaluator.evaluate(SMALL)
    assert not result.ok and result.error.startswith("ValueError: ")
    assert "Traceback" in result.metrics["traceback"]
    assert tf_keras.mixed_precision.global_policy().name == "float32"


class _RaiseOnTrainBegin(tf_keras.callbacks.Callback):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def on_train_begin(self, logs=None):
        raise self.error


def test_out_of_memory_is_a_failed_result_labelled_as_such():
    oom = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
    result = ChildEvaluator(LEARN, callbacks=[_RaiseOnTrainBegin(oom)]).evaluate(SMALL)
    assert result.error == "out of memory (ResourceExhaustedError): OOM when allocating tensor"
    assert result.metrics["num_params"] > 0


def test_a_cifar10_child_trains_on_mock_data():
    with tfds.testing.mock_data(num_examples=48):
        config = dataclasses.replace(LEARN, epochs=1, data=DataConfig(
            dataset="cifar10", batch_size=16))
        evaluator = ChildEvaluator(config)
        assert evaluator.steps_per_epoch == 3       # counted: the mock's size is unknown
        result = evaluator.evaluate(SMALL)
    assert result.ok, result.error
    assert 0.0 <= result.reward <= 1.0 and result.metrics["epochs_completed"] == 1


def test_a_training_set_without_a_full_batch_fails_the_child():
    with tfds.testing.mock_data(num_examples=4):
        config = dataclasses.replace(LEARN, data=DataConfig(
            dataset="cifar10", batch_size=8))
        result = ChildEvaluator(config).evaluate(SMALL)
    assert result.error == "ValueError: the training set of 'cifar10' has no full batch of 8"


def test_evaluate_rejects_a_non_genotype_and_a_bad_budget():
    evaluator = ChildEvaluator(LEARN)
    with pytest.raises(TypeError, match="genotype must be a Genotype"):
        evaluator.evaluate(SMALL.to_dict())
    with pytest.raises(ValueError, match="epochs must be an int > 0, got 0"):
        evaluator.evaluate(SMALL, epochs=0)
    with pytest.raises(ValueError, match="config must be a ChildConfig"):
        ChildEvaluator(dataclasses.asdict(LEARN))


@pytest.mark.slow
def test_mixed_precision_and_xla_train():
    config = dataclasses.replace(LEARN, epochs=1, mixed_precision="mixed_bfloat16",
                                 jit_compile=True,
                                 data=dataclasses.replace(LEARN.data, train_limit=320))
    result = ChildEvaluator(config).evaluate(SMALL)
    assert result.ok, result.error
