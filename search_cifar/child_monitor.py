"""The Keras callback that watches a child's training: ``ChildMonitor``.

One callback does what a search needs from every epoch of a child:

* the NaN guard: a non-finite training loss stops the child at once by
  raising ``NonFiniteLoss("NaN loss at epoch k (step s)")`` inside ``fit``
  (a TerminateOnNaN that says where), a non-finite validation loss likewise
  (``"NaN validation loss at epoch k"``); ``child_evaluator`` turns it into a
  failed Result;
* timing: the first step (tracing included), each epoch, its validation, and
  the steady-state training images/second;
* the per-epoch metrics (``EPOCH_METRICS``), kept in ``history`` and given to
  the ``report(epoch, metrics)`` hook (``evaluator.Report``); a return value of
  False stops the child (``stopped_early``), the hook for early-stopping
  schedulers.

Keras logs name each output's metrics after its layer (``val_logits_fp32_accuracy``;
the ``fp32`` is the float32 output layer of mixed precision);
``main_head_metric`` reads the main head's and skips the auxiliary head's.

Example:
    >>> monitor = ChildMonitor(report, batch_size=32, schedule=lambda step: 0.025)
    >>> model.fit(train, epochs=3, callbacks=[monitor])
    >>> monitor.history[-1]["val_accuracy"]
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping

import tf_keras

from search_cifar.evaluator import Report

#: Keys of the per-epoch metrics given to ``report`` and kept in ``metrics["history"]``:
#: the epoch (from 1); the training objective (cross-entropy + 0.4 x aux + weight
#: decay) and the main head's training accuracy, both running means over the
#: epoch; the main head's validation cross-entropy and accuracy; the learning
#: rate of the epoch's last step; wall seconds of the epoch and of its
#: validation; steady-state training images/second (None for a one-step epoch).
EPOCH_METRICS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                 "epoch_seconds", "validation_seconds", "images_per_second")


class NonFiniteLoss(Exception):
    """Raised inside ``fit`` to stop a child whose loss is NaN or Inf."""


def finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def name_nonfinite(value: Any) -> str:
    try:
        return "Inf" if math.isinf(float(value)) else "NaN"
    except (TypeError, ValueError):
        return "NaN"


def main_head_metric(logs: Mapping[str, Any], metric: str, validation: bool) -> float:
    """The main head's ``metric`` in Keras logs, whose keys carry the output
    layer's name (``val_logits_fp32_accuracy``); the aux head's are skipped.
    ``val_loss`` here is the main head's cross-entropy, without the aux loss and
    weight decay that Keras's own ``val_loss`` adds."""
    for key, value in logs.items():
        if (key.startswith("val_") == validation and key.endswith("_" + metric)
                and "aux" not in key and key not in ("loss", "val_loss")):
            return float(value)
    # A model without the aux head has one output, and Keras logs its metrics
    # unprefixed (``val_accuracy``; ``val_loss`` then includes weight decay).
    plain = ("val_" if validation else "") + metric
    return float(logs.get(plain, float("nan")))


class ChildMonitor(tf_keras.callbacks.Callback):
    """NaN guard, timing, per-epoch metrics and the ``report`` hook, in one callback."""

    def __init__(self, report: Report | None, batch_size: int, schedule: Callable[[int], float]):
        super().__init__()
        self.report = report
        self.batch_size = batch_size
        self.schedule = schedule
        self.history: list[dict[str, float]] = []
        self.stopped_early = False
        self.first_step_seconds: float | None = None
        self._epoch = 0
        self._train_begin = 0.0
        self._epoch_begin = 0.0
        self._step_times: list[float] = []
        self._val_seconds = 0.0
        self._val_begin = 0.0

    def on_train_begin(self, logs=None):
        self._train_begin = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_begin = time.perf_counter()
        self._step_times = []
        self._val_seconds = 0.0

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.first_step_seconds is None:
            self.first_step_seconds = now - self._train_begin
        self._step_times.append(now)
        loss = (logs or {}).get("loss")
        if loss is not None and not finite(loss):
            raise NonFiniteLoss(f"{name_nonfinite(loss)} loss at epoch {self._epoch + 1} "
                                 f"(step {batch + 1})")

    def on_test_begin(self, logs=None):
        self._val_begin = time.perf_counter()

    def on_test_end(self, logs=None):
        self._val_seconds += time.perf_counter() - self._val_begin

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        times = self._step_times
        # Steady-state throughput: from the end of the epoch's first step to its
        # last (the first step of a run includes tracing).
        nan = float("nan")
        ips = ((len(times) - 1) * self.batch_size / (times[-1] - times[0])
               if len(times) > 1 and times[-1] > times[0] else None)
        step = int(self.model.optimizer.iterations.numpy())
        metrics = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", nan)),
            "accuracy": main_head_metric(logs, "accuracy", validation=False),
            "val_loss": main_head_metric(logs, "loss", validation=True),
            "val_accuracy": main_head_metric(logs, "accuracy", validation=True),
            "learning_rate": float(self.schedule(max(0, step - 1))),
            "epoch_seconds": time.perf_counter() - self._epoch_begin,
            "validation_seconds": self._val_seconds,
            "images_per_second": ips,
        }
        if not finite(metrics["val_loss"]):
            raise NonFiniteLoss(f"{name_nonfinite(metrics['val_loss'])} validation loss at "
                                 f"epoch {epoch + 1}")
        self.history.append(metrics)
        if self.report is not None and self.report(epoch + 1, dict(metrics)) is False:
            self.stopped_early = True
            self.model.stop_training = True
