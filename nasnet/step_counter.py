"""The optimizer step inside Keras callbacks, without reading it from the device.

Reading ``model.optimizer.iterations`` in a batch hook copies a value from
the accelerator and waits for the step that produces it: host and device run
in turn instead of overlapping. ``StepCounter`` reads it once per ``fit``
(``start``, from ``on_train_begin``) and then counts the steps Keras reports:
with ``steps_per_execution = k`` Keras calls ``on_train_batch_begin`` with the
index of the first batch of an execution and ``on_train_batch_end`` with the
index of its last one (tf_keras ``Model.fit``: ``end_step = step +
step_increment``), so an execution ran ``end - begin + 1`` steps. The count
equals ``optimizer.iterations`` because every train step increments it once
(a ``LossScaleOptimizer`` increments it even when it skips a non-finite
step).

Callbacks built on it should also set ``_supports_tf_logs = True`` (they
never look at the logs per batch): Keras then hands logs over as tensors
instead of converting them to numpy after every batch, another per-step sync.

Example:
    >>> class EveryHundred(tf_keras.callbacks.Callback):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self._supports_tf_logs = True
    ...         self.steps = StepCounter()
    ...     def on_train_begin(self, logs=None):
    ...         self.steps.start(self.model)
    ...     def on_train_batch_begin(self, batch, logs=None):
    ...         self.steps.batch_begin(batch)
    ...     def on_train_batch_end(self, batch, logs=None):
    ...         before, now = self.steps.batch_end(batch)
    ...         if crossed(before, now, 100):
    ...             print("step", now)
"""

from __future__ import annotations

import tf_keras


class StepCounter:
    """Optimizer steps completed, kept on the host (see the module docstring)."""

    def __init__(self):
        self.step = 0
        self._begin = None

    def start(self, model: tf_keras.Model) -> int:
        """Reads the optimizer's step (the one device read per ``fit``) and returns it."""
        self.step = int(model.optimizer.iterations.numpy())
        self._begin = None
        return self.step

    def batch_begin(self, batch: int) -> None:
        """Keras's index of the first batch of the execution about to run."""
        self._begin = int(batch)

    def batch_end(self, batch: int) -> tuple[int, int]:
        """Keras's index of the execution's last batch -> ``(step before, step after)``."""
        begin = self._begin if self._begin is not None else int(batch)
        before = self.step
        self.step += int(batch) - begin + 1
        self._begin = None
        return before, self.step


def crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in ``(before, after]``."""
    if every < 1:
        raise ValueError(f"the step interval must be >= 1, got {every}")
    return after // every > before // every
