"""child_monitor: the per-epoch callback of child training, driven without training."""

from __future__ import annotations

import types

import pytest
import tensorflow as tf

from search_cifar.child_monitor import ChildMonitor, NonFiniteLoss, main_head_metric


def _monitor(report=None):
    monitor = ChildMonitor(report, batch_size=4, schedule=lambda step: 0.5)
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
    with pytest.raises(NonFiniteLoss, match=r"^Inf loss at epoch 1 \(step 3\)$"):
        monitor.on_train_batch_end(2, {"loss": float("inf")})
    monitor, _ = _monitor()
    with pytest.raises(NonFiniteLoss, match="^NaN validation loss at epoch 1$"):
        monitor.on_epoch_end(0, {**LOGS, "val_logits_fp32_loss": float("nan")})


def test_main_head_metrics_with_and_without_the_aux_head():
    two_heads = {"loss": 9.0, "logits_fp32_accuracy": 0.5, "aux_logits_fp32_accuracy": 0.4,
                 "val_loss": 9.0, "val_logits_fp32_loss": 1.5, "val_logits_fp32_accuracy": 0.6,
                 "val_aux_logits_fp32_accuracy": 0.3}
    assert main_head_metric(two_heads, "accuracy", validation=False) == 0.5
    assert main_head_metric(two_heads, "accuracy", validation=True) == 0.6
    assert main_head_metric(two_heads, "loss", validation=True) == 1.5
    one_head = {"loss": 2.0, "accuracy": 0.7, "val_loss": 1.2, "val_accuracy": 0.8}
    assert main_head_metric(one_head, "accuracy", validation=False) == 0.7
    assert main_head_metric(one_head, "accuracy", validation=True) == 0.8
    assert main_head_metric(one_head, "loss", validation=True) == 1.2


class CountedScalar:
    """A loss value that counts how often it is read (a tensor read = a host copy)."""

    reads = 0

    def __init__(self, value):
        self.value = value

    def __float__(self):
        CountedScalar.reads += 1
        return self.value


def test_monitor_takes_tf_logs_and_reads_the_loss_a_bounded_number_of_times():
    monitor, _ = _monitor()
    assert monitor._supports_tf_logs is True
    CountedScalar.reads = 0
    steps = 200
    for batch in range(steps):
        monitor.on_train_batch_end(batch, {"loss": CountedScalar(1.0)})
    # The first step, then every check_every steps: not one read per step.
    assert CountedScalar.reads == 1 + steps // monitor.check_every < steps // 10
    monitor.on_epoch_end(0, dict(LOGS))
    assert monitor.history[0]["epoch"] == 1


def test_monitor_sees_a_nan_loss_at_the_next_check_or_the_epoch_end():
    monitor = ChildMonitor(None, batch_size=4, schedule=lambda step: 0.5, check_every=5)
    monitor.set_model(types.SimpleNamespace(optimizer=types.SimpleNamespace(
        iterations=tf.Variable(3, dtype=tf.int64)), stop_training=False))
    monitor.on_train_begin()
    monitor.on_epoch_begin(0)
    monitor.on_train_batch_end(0, {"loss": 1.0})
    monitor.on_train_batch_end(1, {"loss": float("nan")})  # not a check step: not read
    with pytest.raises(NonFiniteLoss, match=r"^NaN loss at epoch 1 \(step 5\)$"):
        for batch in range(2, 5):
            monitor.on_train_batch_end(batch, {"loss": float("nan")})
    monitor, _ = _monitor()
    monitor.on_train_batch_end(0, {"loss": 1.0})
    monitor.on_train_batch_end(1, {"loss": float("inf")})
    with pytest.raises(NonFiniteLoss, match=r"^Inf loss at epoch 1 \(step 2\)$"):
        monitor.on_epoch_end(0, {**LOGS, "loss": float("inf")})
    with pytest.raises(ValueError, match="check_every must be an int >= 1, got 0"):
        ChildMonitor(None, batch_size=4, schedule=lambda step: 0.5, check_every=0)


def test_keras_hands_the_monitor_tensors_in_a_real_fit():
    import tf_keras
    seen = []

    class Recording(ChildMonitor):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(type(logs["loss"]))
            super().on_train_batch_end(batch, logs)

    model = tf_keras.Sequential([tf_keras.layers.Dense(2)])
    model.compile(optimizer=tf_keras.optimizers.SGD(0.1),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    x = tf.random.stateless_normal((32, 3), seed=(1, 2))
    y = tf.zeros((32,), tf.int32)
    monitor = Recording(None, batch_size=8, schedule=lambda step: 0.1, check_every=2)
    model.fit(x, y, batch_size=8, epochs=1, validation_data=(x, y), callbacks=[monitor],
              verbose=0)
    assert len(seen) == 4 and all(issubclass(t, tf.Tensor) for t in seen), seen
    assert monitor.history[0]["accuracy"] >= 0 and monitor.first_step_seconds > 0
