"""search_cifar.child: child training, failures as results, early stopping, table lookup.

Children here are one-block genotypes on digits at 16 px (a few seconds of
tracing each); NASNet-A at search size is measured by benchmarks/child_training.py.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import types

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
import tf_keras

from nasnet import config_utils
from nasnet.genotype import Block, Cell, Genotype, Op
from search_cifar import child, loop, strategies
from search_cifar.child import ChildConfig, ChildEvaluator, Result, TableEvaluator
from search_cifar.space import NasnetCellSpace

SMALL = Genotype(
    normal=Cell(blocks=(Block(0, Op.CONV_3X3, 1, Op.IDENTITY),), concat=(2,)),
    reduction=Cell(blocks=(Block(0, Op.MAX_POOL_3X3, 1, Op.AVG_POOL_3X3),), concat=(2,)),
    name="one_block")
# The quickstart preset with lr 0.1 (3 epochs of 42 steps on digits).
LEARN = dataclasses.replace(child.TINY, learning_rate=0.1)


@pytest.fixture(scope="module")
def learned():
    reports = []
    evaluator = ChildEvaluator(LEARN)
    result = evaluator.evaluate(SMALL, report=lambda epoch, metrics: reports.append((epoch, metrics)))
    return result, reports, evaluator


# ---------------------------------------------------------------- training

def test_a_tiny_child_learns_digits_and_reports_every_epoch(learned):
    result, reports, _ = learned
    assert result.ok, result.error
    history = result.metrics["history"]
    assert [epoch for epoch, _ in reports] == [1, 2, 3] and len(history) == 3
    assert all(set(child.EPOCH_METRICS) <= set(m) for _, m in reports)
    assert history[-1]["loss"] < history[0]["loss"]
    assert result.reward == history[-1]["val_accuracy"] > 0.3      # chance: 0.1
    assert result.metrics["final_val_accuracy"] == result.reward
    assert result.metrics["best_val_accuracy"] >= result.reward
    rates = [m["learning_rate"] for m in history]
    assert rates[0] > rates[1] > rates[2] >= 0.0 and rates[0] < LEARN.learning_rate   # cosine
    assert result.metrics["epochs_completed"] == 3 and not result.metrics["stopped_early"]
    assert result.metrics["num_params"] > 0 and result.metrics["images_per_second"] > 0
    assert result.metrics["fingerprint"] == SMALL.fingerprint()
    json.dumps(result.to_dict())   # serialisable, for trial records


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


def test_a_child_whose_loss_becomes_nan_is_a_failed_result():
    config = dataclasses.replace(LEARN, learning_rate=1e8, clip_norm=None, drop_path_keep_prob=0.7,
                                 data=dataclasses.replace(LEARN.data, train_limit=320))
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
    evaluator.evaluate = lambda genotype: result      # the objective form, without a rebuild
    with pytest.raises(child.ChildFailed, match="^ValueError: "):
        evaluator(SMALL)


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
        config = dataclasses.replace(LEARN, epochs=1, data=child.data_lib.DataConfig(
            dataset="cifar10", batch_size=16))
        evaluator = ChildEvaluator(config)
        assert evaluator.steps_per_epoch == 3       # counted: the mock's size is unknown
        result = evaluator.evaluate(SMALL)
    assert result.ok, result.error
    assert 0.0 <= result.reward <= 1.0 and result.metrics["epochs_completed"] == 1


def test_a_training_set_without_a_full_batch_fails_the_child():
    with tfds.testing.mock_data(num_examples=4):
        config = dataclasses.replace(LEARN, data=child.data_lib.DataConfig(
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


# ---------------------------------------------------------------- monitor (no training)

def _monitor(report=None):
    monitor = child._ChildMonitor(report, batch_size=4, schedule=lambda step: 0.5)
    fake = types.SimpleNamespace(optimizer=types.SimpleNamespace(
        iterations=tf.Variable(3, dtype=tf.int64)), stop_training=False)
    monitor.set_model(fake)
    monitor.on_train_begin()
    monitor.on_epoch_begin(0)
    return monitor, fake


LOGS = {"loss": 1.0, "logits_fp32_accuracy": 0.5, "logits_fp32_loss": 0.9,
        "aux_logits_fp32_loss": 1.1, "val_loss": 2.0, "val_logits_fp32_loss": 1.5,
        "val_aux_logits_fp32_loss": 1.7, "val_logits_fp32_accuracy": 0.25}


def test_monitor_reads_the_main_head_and_stops_on_false():
    monitor, fake = _monitor(report=lambda epoch, metrics: False)
    monitor.on_train_batch_end(0, {"loss": 1.0})
    monitor.on_train_batch_end(1, {"loss": 1.0})
    monitor.on_epoch_end(0, dict(LOGS))
    (metrics,) = monitor.history
    assert (metrics["accuracy"], metrics["val_loss"], metrics["val_accuracy"]) == (0.5, 1.5, 0.25)
    assert metrics["learning_rate"] == 0.5 and metrics["epoch"] == 1
    assert monitor.stopped_early and fake.stop_training


def test_monitor_fails_on_inf_loss_and_nan_validation_loss():
    monitor, _ = _monitor()
    with pytest.raises(child._NonFiniteLoss, match=r"^Inf loss at epoch 1 \(step 3\)$"):
        monitor.on_train_batch_end(2, {"loss": float("inf")})
    monitor, _ = _monitor()
    with pytest.raises(child._NonFiniteLoss, match="^NaN validation loss at epoch 1$"):
        monitor.on_epoch_end(0, {**LOGS, "val_logits_fp32_loss": float("nan")})


# ---------------------------------------------------------------- configs and results

def test_nasnet_search_preset_matches_the_cited_recipe():
    config = child.preset("nasnet_search")
    assert (config.num_cells_per_stack, config.num_conv_filters, config.epochs) == (2, 32, 20)
    assert (config.learning_rate, config.momentum, config.clip_norm) == (0.025, 0.9, 5.0)
    assert (config.aux_loss_weight, config.weight_decay, config.data.batch_size) == (0.4, 5e-4, 32)
    assert config.lr_schedule == "cosine" and config.data.dataset == "cifar10"
    classifier = config.classifier_config(num_classes=10, total_training_steps=28_120)
    assert classifier.backbone.stem == "cifar" and classifier.backbone.size == "2@F32"
    assert classifier.backbone.stem_multiplier == 3.0 and classifier.use_aux_head
    assert classifier.backbone.layer.bn_momentum == 0.9 and classifier.backbone.layer.bn_epsilon == 1e-5
    assert classifier.backbone.total_training_steps == 28_120
    assert child.preset("tiny").data.dataset == "digits" and child.preset("small").epochs == 5
    with pytest.raises(ValueError, match="unknown child preset 'huge'"):
        child.preset("huge")


def test_config_round_trips_and_takes_strict_overrides():
    config = config_utils.override(child.TINY, {"epochs": 7, "data.image_size": 24})
    assert config.epochs == 7 and config.data.image_size == 24
    assert ChildConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown ChildConfig keys \\['epoch'\\]"):
        ChildConfig.from_dict({"epoch": 3})


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_cells_per_stack=0), "num_cells_per_stack"),
    (dict(num_conv_filters=2.5), "num_conv_filters"),
    (dict(stem_multiplier=0), "stem_multiplier"),
    (dict(drop_path_keep_prob=0.0), "drop_path_keep_prob"),
    (dict(dense_dropout_keep_prob=1.5), "dense_dropout_keep_prob"),
    (dict(aux_loss_weight=-1), "aux_loss_weight"),
    (dict(weight_decay=-1e-4), "weight_decay"),
    (dict(bn_momentum=1.0), "bn_momentum"),
    (dict(bn_epsilon=0), "bn_epsilon"),
    (dict(epochs=0), "epochs"),
    (dict(steps_per_epoch=0), "steps_per_epoch"),
    (dict(validation_steps=True), "validation_steps"),
    (dict(learning_rate=0), "learning_rate"),
    (dict(lr_schedule="step"), "lr_schedule"),
    (dict(momentum=1.0), "momentum"),
    (dict(clip_norm=0), "clip_norm"),
    (dict(mixed_precision="float16"), "mixed_precision"),
    (dict(reward="last"), "reward must be one of"),
    (dict(reward_transform="square"), "reward_transform"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChildConfig(**kwargs)


def test_config_accepts_a_data_dict():
    assert ChildConfig(data={"dataset": "digits"}).data.is_digits


def test_reward_from_history_final_best_and_cube():
    history = [{"val_accuracy": 0.5}, {"val_accuracy": 0.8}, {"val_accuracy": 0.7}]
    assert child.reward_from_history(history) == (0.7, 0.7)
    assert child.reward_from_history(history, "best") == (0.8, 0.8)
    accuracy, reward = child.reward_from_history(history, "best", "cube")
    assert accuracy == 0.8 and reward == pytest.approx(0.512)
    with pytest.raises(ValueError, match="reward must be one of"):
        child.reward_from_history(history, "last")
    with pytest.raises(ValueError, match="reward_transform must be one of"):
        child.reward_from_history(history, "final", "log")
    with pytest.raises(ValueError, match="no completed epoch"):
        child.reward_from_history([])


def test_result_invariants_and_round_trip():
    ok = Result(reward=1, metrics={"a": 1})
    assert ok.ok and isinstance(ok.reward, float)
    failed = Result.failure("boom", {"epochs_completed": 0})
    assert not failed.ok and failed.reward is None
    for result in (ok, failed):
        assert Result.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    with pytest.raises(ValueError, match="needs a finite reward, got nan"):
        Result(reward=math.nan)
    with pytest.raises(ValueError, match="needs a finite reward, got None"):
        Result(reward=None)
    with pytest.raises(ValueError, match="error must be a non-empty string"):
        Result(reward=None, error="")
    with pytest.raises(ValueError, match="a failed Result has reward None, got 0.5"):
        Result(reward=0.5, error="boom")
    with pytest.raises(ValueError, match="metrics must be a dict"):
        Result(reward=0.5, metrics=[])
    with pytest.raises(ValueError, match="unknown Result keys \\['score'\\]"):
        Result.from_dict({"score": 1.0})


# ---------------------------------------------------------------- table lookup

def test_table_lookup_numbers_results_and_failures():
    other = dataclasses.replace(SMALL, name="other")
    table = TableEvaluator({SMALL.fingerprint(): 0.75,
                            "x": Result.failure("stored failure")})
    assert table.evaluate(SMALL) == Result(reward=0.75, metrics={})
    assert other.fingerprint() == SMALL.fingerprint()   # names do not change identity
    missing = TableEvaluator({}).evaluate(SMALL)
    assert missing.error == f"no table entry for key {SMALL.fingerprint()!r}"
    assert TableEvaluator({"x": Result.failure("stored")}, key=lambda g: "x").evaluate(SMALL).error == "stored"
    assert TableEvaluator(lambda g: None).evaluate(SMALL).error == "table entry is None"
    assert TableEvaluator(lambda g: math.nan).evaluate(SMALL).error == (
        "table reward is not a finite number: nan")
    raised = TableEvaluator(lambda g: 1 / 0).evaluate(SMALL)
    assert raised.error == "ZeroDivisionError: division by zero"
    bad_keys = TableEvaluator(lambda g: {"reward": 1.0, "acc": 1.0}).evaluate(SMALL)
    assert bad_keys.error.startswith("ValueError: unknown table entry keys ['acc']")
    with pytest.raises(ValueError, match="table must be a mapping or a callable"):
        TableEvaluator(0.5)


def test_table_histories_report_stop_and_truncate():
    history = [{"val_accuracy": a} for a in (0.3, 0.6, 0.9)]
    table = TableEvaluator(lambda g: {"reward": 0.9, "history": history, "metrics": {"params": 5}})
    seen = []
    full = table.evaluate(SMALL, report=lambda e, m: seen.append(e))
    assert full.reward == 0.9 and seen == [1, 2, 3] and full.metrics["params"] == 5
    stopped = table.evaluate(SMALL, report=lambda e, m: e < 2)
    assert stopped.reward == 0.6 and stopped.metrics["stopped_early"]
    assert stopped.metrics["epochs_completed"] == 2
    last = table.evaluate(SMALL, report=lambda e, m: e < 3)   # False after the last epoch
    assert last.reward == 0.9 and not last.metrics["stopped_early"]
    assert table.evaluate(SMALL, epochs=1).reward == 0.3
    assert table.evaluate(SMALL, epochs=1, logdir="ignored").metrics["epochs_completed"] == 1


def test_evaluators_are_search_loop_objectives():
    space = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "max_pool_3x3", "identity"))
    fail = {"count": 0}

    def score(genotype):
        fail["count"] += 1
        if fail["count"] == 2:
            return None     # a failed trial
        return sum(op == Op.IDENTITY for block in genotype.normal.blocks for op in block.ops) / 4

    table = TableEvaluator(score)
    result = loop.run_search(strategies.make("random", space, seed=0), table, budget=5)
    statuses = [t.status for t in result.trials if t.status != "duplicate"]
    assert statuses.count("failed") == 1 and statuses.count("ok") == 4
    failed = next(t for t in result.trials if t.status == "failed")
    assert failed.error == "ChildFailed: table entry is None"
    objective = child.as_objective(TableEvaluator(lambda g: 0.5))
    assert objective(SMALL) == 0.5



def test_main_head_metrics_with_and_without_the_aux_head():
    from search_cifar.child import _main_head
    two_heads = {"loss": 9.0, "logits_fp32_accuracy": 0.5, "aux_logits_fp32_accuracy": 0.4,
                 "val_loss": 9.0, "val_logits_fp32_loss": 1.5, "val_logits_fp32_accuracy": 0.6,
                 "val_aux_logits_fp32_accuracy": 0.3}
    assert _main_head(two_heads, "accuracy", validation=False) == 0.5
    assert _main_head(two_heads, "accuracy", validation=True) == 0.6
    assert _main_head(two_heads, "loss", validation=True) == 1.5
    one_head = {"loss": 2.0, "accuracy": 0.7, "val_loss": 1.2, "val_accuracy": 0.8}
    assert _main_head(one_head, "accuracy", validation=False) == 0.7
    assert _main_head(one_head, "accuracy", validation=True) == 0.8
    assert _main_head(one_head, "loss", validation=True) == 1.2
