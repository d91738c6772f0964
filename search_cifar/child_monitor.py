"""The Keras callback that watches a child's training: ``ChildMonitor``.

One callback does what a search needs from every epoch of a child:

* the NaN guard: a non-finite training loss stops the child by raising
  ``NonFiniteLoss("NaN loss at epoch k (step s)")`` inside ``fit`` (a
  TerminateOnNaN that says where), a non-finite validation loss likewise
  (``"NaN validation loss at epoch k"``); ``child_evaluator`` turns it into a
  failed Result. The loss is read at the first step, every ``check_every``
  steps and at the end of each epoch (Keras's loss is the epoch's running
  mean, so a NaN stays visible until the next check), and step s is the step
  where it was seen;
* timing: the first step (tracing included), each epoch, its validation, and
  the steady-state training images/second;
* the per-epoch metrics (``EPOCH_METRICS``), kept in ``history`` and given to
  the ``report(epoch, metrics)`` hook (``evaluator.Report``); a return value of
  False stops the child (``stopped_early``), the hook for early-stopping
  schedulers.

No per-step host reads: the callback declares ``_supports_tf_logs``, so Keras
hands it its logs as tensors instead of copying them to the host after every
step (which would make the host wait for the accelerator at each step); it
reads values only at the steps above (about ``steps / check_every + 2`` reads
per epoch) and at epoch ends, where Keras reads them anyway.

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

#: Steps between two reads of the training loss (the NaN guard), besides the first step
#: and each epoch's end.
CHECK_EVERY_STEPS = 50

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

    def __init__(self, report: Report | None, batch_size: int, schedule: Callable[[int], float],
                 check_every: int = CHECK_EVERY_STEPS):
        super().__init__()
        # Keras passes the logs as tensors: values are read here, only when needed.
        # (An instance attribute: Callback.__init__ sets it False on the instance.)
        self._supports_tf_logs = True
        if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
            raise ValueError(f"check_every must be an int >= 1, got {check_every!r}")
        self.report = report
        self.batch_size = batch_size
        self.schedule = schedule
        self.check_every = check_every
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
        first = self.first_step_seconds is None
        if first or (batch + 1) % self.check_every == 0:
            loss = (logs or {}).get("loss")
            # Reading the loss waits for the step; so the first step's time is its own.
            if loss is not None and not finite(loss):
                raise NonFiniteLoss(f"{name_nonfinite(loss)} loss at epoch {self._epoch + 1} "
                                     f"(step {batch + 1})")
            if first:
                self.first_step_seconds = time.perf_counter() - self._train_begin
        self._step_times.append(time.perf_counter())

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
        if "loss" in logs and not finite(metrics["loss"]):
            raise NonFiniteLoss(f"{name_nonfinite(metrics['loss'])} loss at epoch {epoch + 1} "
                                 f"(step {len(times)})")
        if not finite(metrics["val_loss"]):
            raise NonFiniteLoss(f"{name_nonfinite(metrics['val_loss'])} validation loss at "
                                 f"epoch {epoch + 1}")
        self.history.append(metrics)
        if self.report is not None and self.report(epoch + 1, dict(metrics)) is False:
            self.stopped_early = True
            self.model.stop_training = True
