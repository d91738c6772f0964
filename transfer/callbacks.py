"""The classifier trainer's Keras callbacks: event log, preemption checkpoints, kill switch.

Every callback here supports TensorFlow logs (``_supports_tf_logs``) and knows
the optimizer step without reading it from the device in its batch hooks
(``nasnet.step_counter``): one read of ``optimizer.iterations`` per ``fit``,
then steps counted from Keras's batch indices, so host and device overlap
even with ``steps_per_execution = 1``. What the callbacks still read from the
device is bounded: the logs once per loop (``ProgressLog.on_epoch_end``) and
once per summary interval (``StepSummaries``), and at each checkpoint the
saved variables and their L1 norm (recorded so that a resumed run can be
checked against the checkpoint it restored). Keras's ``fit`` itself still
reads its ``steps_per_execution`` counter once per execution (tf_keras
``DataHandler.steps``): raise ``steps_per_execution`` on accelerators.

* ``EventLog``: one JSON object per line in ``events.jsonl`` (chief only).
* ``PreemptionCheckpoint``: ``tf_keras.callbacks.BackupAndRestore`` that saves
  when the optimizer step reaches a multiple of ``every_steps`` and writes the
  ``checkpoint`` event at that moment, so the log says exactly when a save
  happened. Keras's own ``save_freq=N`` counts *batch-hook calls*: with
  ``steps_per_execution = k`` it saves every N x k steps.
* ``ProgressLog``: ``train_begin`` (with the restored step and weights) and
  one ``loop`` event per ``steps_per_loop`` steps (loss, top-1 / top-5,
  images per second).
* ``StepSummaries``: TensorBoard scalars of the batch logs every k steps
  (Keras's ``TensorBoard(update_freq=k)`` reads the device after every batch
  to decide whether to write).
* ``KillAtStep``: a testing aid that SIGKILLs the process after a step, as a
  preemption would.

Example:
    >>> events = EventLog("/runs/r/events.jsonl")
    >>> model.fit(ds, steps_per_epoch=1000, epochs=250, callbacks=[
    ...     PreemptionCheckpoint("/runs/r/checkpoints", every_steps=1000, events=events),
    ...     ProgressLog(events, global_batch=1600)])
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from typing import Any

import tensorflow as tf
import tf_keras

from nasnet import filesystem
from nasnet.step_counter import StepCounter, crossed

log = logging.getLogger(__name__)


def weights_l1(model: tf_keras.Model) -> float:
    """Sum of |w| over the trainable weights: a cheap fingerprint of the weights."""
    return float(tf.add_n([tf.reduce_sum(tf.abs(tf.cast(v, tf.float64)))
                           for v in model.trainable_variables]).numpy())


def clean_logs(logs: dict[str, Any] | None) -> dict[str, float]:
    """Keras metric names -> ours: ``logits_fp32_top1`` -> ``top1``, the aux head's
    with ``aux_``, the logits' own loss ``logits_loss`` (``loss`` is the total)."""
    out = {}
    for key, value in (logs or {}).items():
        prefix = "val_" if key.startswith("val_") else ""
        name = key[len(prefix):]
        if name.startswith("aux_logits_fp32_"):
            name = "aux_" + name[len("aux_logits_fp32_"):]
        elif name == "logits_fp32_loss":
            name = "logits_loss"
        elif name.startswith("logits_fp32_"):
            name = name[len("logits_fp32_"):]
        out[prefix + name] = float(value)
    return out


class EventLog:
    """Appends JSON lines to ``events.jsonl`` (chief only) and logs them.

    A local file is appended to and fsynced per event. An object store
    (``gs://``) cannot append: there the log is rewritten whole after every
    event (one object write, which the store makes atomic), from the events
    already in the object when the run started plus this run's.
    """

    def __init__(self, path: str | None):
        self.path = path
        self._lines: list[str] | None = None
        if path is not None and filesystem.uses_gfile(path):
            text = filesystem.read_file(path).decode() if filesystem.exists(path) else ""
            self._lines = text.splitlines(keepends=True)

    def write(self, event: str, **fields) -> None:
        record = {"event": event, "time": time.time(), **fields}
        line = json.dumps(record, sort_keys=True)
        log.info("%s", line)
        if self.path is None:
            return
        if self._lines is not None:
            self._lines.append(line + "\n")
            filesystem.write_file(self.path, "".join(self._lines).encode())
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


class PreemptionCheckpoint(tf_keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that saves at every multiple of ``every_steps`` optimizer steps.

    Saves (and writes the ``checkpoint`` event) after the execution that
    reaches the step; pick ``every_steps`` as a multiple of
    ``steps_per_execution`` so that the saved step is exactly the multiple
    (``transfer.config.TrainConfig`` requires it). Restores, preemption
    handling and the checkpoint format are Keras's.
    """

    def __init__(self, backup_dir: str, every_steps: int, events: EventLog | None = None):
        if isinstance(every_steps, bool) or not isinstance(every_steps, int) or every_steps < 1:
            raise ValueError(f"the checkpoint interval must be a positive int, got {every_steps!r}")
        # An integer save_freq turns on Keras's batch hooks; the saving itself
        # is decided here, by step.
        super().__init__(backup_dir, save_freq=every_steps, delete_checkpoint=False)
        self.every_steps = every_steps
        self.events = events
        self.steps = StepCounter()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)          # restores the model, optimizer and position
        self.steps.start(self.model)

    def on_train_batch_begin(self, batch, logs=None):
        super().on_train_batch_begin(batch, logs)
        self.steps.batch_begin(batch)

    def on_train_batch_end(self, batch, logs=None):
        if isinstance(self.model.distribute_strategy, tf.distribute.ParameterServerStrategy):
            return  # as Keras: no batch-level state there
        self._training_state.backup_if_preempted()
        before, now = self.steps.batch_end(batch)
        if crossed(before, now, self.every_steps):
            self._backup(epoch=self._current_epoch, batch=batch)
            if self.events is not None:
                self.events.write("checkpoint", step=now, weights_l1=weights_l1(self.model))


class ProgressLog(tf_keras.callbacks.Callback):
    """Writes ``train_begin`` (with the restored step) and one ``loop`` event per epoch."""

    def __init__(self, events: EventLog, global_batch: int):
        super().__init__()
        self._supports_tf_logs = True
        self.events = events
        self.global_batch = global_batch
        self.steps = StepCounter()
        self._loop_start = (0, 0.0)

    def on_train_begin(self, logs=None):
        # Runs after the checkpoint callback's on_train_begin (earlier in the
        # list): the step and weights are the restored ones.
        step = self.steps.start(self.model)
        self.events.write("train_begin", step=step, weights_l1=weights_l1(self.model))

    def on_epoch_begin(self, epoch, logs=None):
        self._loop_start = (self.steps.step, time.perf_counter())

    def on_train_batch_begin(self, batch, logs=None):
        self.steps.batch_begin(batch)

    def on_train_batch_end(self, batch, logs=None):
        self.steps.batch_end(batch)

    def on_epoch_end(self, epoch, logs=None):
        step = self.steps.step
        start_step, start_time = self._loop_start
        seconds = time.perf_counter() - start_time
        steps = step - start_step
        self.events.write("loop", epoch=int(epoch), step=step, steps=steps, seconds=seconds,
                          images_per_second=steps * self.global_batch / max(seconds, 1e-9),
                          **clean_logs(logs))


class StepSummaries(tf_keras.callbacks.Callback):
    """TensorBoard scalars of the batch logs (``batch_loss``, ...) every ``every_steps`` steps.

    Keras's ``TensorBoard(update_freq=N)`` decides after *every* batch whether
    to write, by evaluating ``step % N == 0`` on the model's step counter, a
    device variable: one device read per batch. Here the step is counted on
    the host and the logs are read only when they are written. ``logdir``
    None (a non-chief worker) writes nothing.
    """

    def __init__(self, logdir: str | None, every_steps: int):
        super().__init__()
        if isinstance(every_steps, bool) or not isinstance(every_steps, int) or every_steps < 1:
            raise ValueError(f"the summary interval must be a positive int, got {every_steps!r}")
        self._supports_tf_logs = True
        self.logdir = logdir
        self.every_steps = every_steps
        self.steps = StepCounter()
        self._writer = None

    def on_train_begin(self, logs=None):
        self.steps.start(self.model)
        if self.logdir is not None:
            self._writer = tf.summary.create_file_writer(self.logdir)

    def on_train_batch_begin(self, batch, logs=None):
        self.steps.batch_begin(batch)

    def on_train_batch_end(self, batch, logs=None):
        before, now = self.steps.batch_end(batch)
        if self._writer is None or not crossed(before, now, self.every_steps):
            return
        with self._writer.as_default(step=now):
            for name, value in (logs or {}).items():
                tf.summary.scalar("batch_" + name, value)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class KillAtStep(tf_keras.callbacks.Callback):
    """Testing aid: SIGKILLs this process after optimizer step ``step`` (after that
    step's checkpoint, if any), as a preemption would: no cleanup runs."""

    def __init__(self, step: int):
        super().__init__()
        if step < 1:
            raise ValueError(f"the kill step must be >= 1, got {step}")
        self._supports_tf_logs = True
        self.step = step
        self.steps = StepCounter()

    def on_train_begin(self, logs=None):
        self.steps.start(self.model)

    def on_train_batch_begin(self, batch, logs=None):
        self.steps.batch_begin(batch)

    def on_train_batch_end(self, batch, logs=None):
        _, now = self.steps.batch_end(batch)
        if now >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)
