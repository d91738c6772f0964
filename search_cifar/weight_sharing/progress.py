"""What a weight-sharing search shows while it runs: one line per epoch with an ETA, TensorBoard.

Per epoch, to the given stream::

    [epoch  3/15] supernet loss 1.412 acc 0.512 lr 0.0301 | rewards 0.436 mean 0.580 max | \
controller baseline 0.421 entropy 11.95 | 21.3s/epoch (CPU 38.0s) | elapsed 1m05s ETA 4m15s

(the supernet's mean training loss and accuracy over the epoch and the
learning rate at its end; the mean and best reward of the controller phase;
the strategy's ``diagnostics()`` when it has them, e.g. the rl controller's
baseline and policy entropy; the epoch's wall and CPU seconds; wall time of
this run and the remaining epochs at the mean pace of the epochs so far).

TensorBoard scalars under ``<workdir>/tensorboard`` (``tf.summary``): per
epoch ``supernet/loss``, ``supernet/accuracy``, ``supernet/learning_rate``,
``controller/reward_mean``, ``controller/reward_max``; per controller step
(step = controller steps so far) ``controller/reward`` (the step's mean) and
``controller/<name>`` for each diagnostic (loss, entropy, baseline, updates).

Example:
    >>> progress = Progress(sys.stdout, "/tmp/ws/tensorboard", total_epochs=15)
    >>> progress.epoch(history_entry, elapsed=65.0, remaining_epochs=12)
"""

from __future__ import annotations

from typing import Any, Mapping, TextIO

import tensorflow as tf

from search_cifar import report

format_duration = report.format_duration  # one format for every progress line

#: ``strategy.diagnostics()`` as finite floats: the trial search's reading of the hook.
diagnostics = report.strategy_diagnostics


class Progress:
    """Epoch lines and TensorBoard scalars (``logdir`` None: no TensorBoard)."""

    def __init__(self, stream: TextIO | None, logdir: str | None, total_epochs: int):
        self.stream = stream
        self.total_epochs = total_epochs
        self._writer = tf.summary.create_file_writer(logdir) if logdir else None

    def print(self, text: str) -> None:
        if self.stream is not None:
            print(text, file=self.stream, flush=True)

    def epoch(self, entry: Mapping[str, Any], elapsed: float, seconds_per_epoch: float) -> None:
        """One epoch's line and scalars; ``entry`` is a history entry of the loop."""
        e = entry["epoch"]
        remaining = (self.total_epochs - e) * seconds_per_epoch
        parts = [f"[epoch {e:>{len(str(self.total_epochs))}}/{self.total_epochs}] supernet loss "
                 f"{entry['loss']:.3f} acc {entry['accuracy']:.3f} lr {entry['learning_rate']:.4g}"]
        if entry.get("reward_mean") is not None:
            parts.append(f"rewards {entry['reward_mean']:.3f} mean {entry['reward_max']:.3f} max")
        diag = entry.get("diagnostics") or {}
        if diag:
            shown = " ".join(f"{k} {diag[k]:.4g}" for k in ("baseline", "entropy") if k in diag)
            if shown:
                parts.append(f"controller {shown}")
        parts.append(f"{entry['wall_seconds']:.1f}s/epoch (CPU {entry['cpu_seconds']:.1f}s)")
        parts.append(f"elapsed {format_duration(elapsed)} ETA {format_duration(remaining)}")
        self.print(" | ".join(parts))
        if self._writer is not None:
            with self._writer.as_default(step=e):
                tf.summary.scalar("supernet/loss", entry["loss"])
                tf.summary.scalar("supernet/accuracy", entry["accuracy"])
                tf.summary.scalar("supernet/learning_rate", entry["learning_rate"])
                if entry.get("reward_mean") is not None:
                    tf.summary.scalar("controller/reward_mean", entry["reward_mean"])
                    tf.summary.scalar("controller/reward_max", entry["reward_max"])
            self._writer.flush()

    def controller_step(self, step: int, rewards: list[float], diag: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        with self._writer.as_default(step=step):
            if rewards:
                tf.summary.scalar("controller/reward", sum(rewards) / len(rewards))
            for name, value in diag.items():
                tf.summary.scalar(f"controller/{name}", value)

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            with self._writer.as_default(step=step):
                tf.summary.scalar(tag, value)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
