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
