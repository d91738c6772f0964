"""The trainer's callbacks: TF logs, device reads bounded per epoch, checkpoints when logged.

Device reads are counted where every one of them goes through: the eager
tensor's ``_numpy`` (``.numpy()``, ``float()``, ``int()``, ``np.asarray`` of a
tensor or a variable's value), keeping those made while Keras runs callback
hooks (its ``CallbackList``, in tf_keras/src/callbacks.py, also converts the
logs there). Keras's ``fit`` loop reads its own ``steps_per_execution``
counter once per execution outside the callbacks; that one is not ours to
remove (hence ``steps_per_execution`` in the accelerator presets).
"""

import os
import sys

import numpy as np
import pytest
import tf_keras
from tensorflow.python.framework import ops

import train_helpers
from nasnet import known_genotypes
from nasnet.cell import NasCell
from transfer import callbacks as cb
from transfer import config, trainer


def _in_callback_hooks() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.endswith(os.path.join("tf_keras", "src", "callbacks.py")):
            return True
        frame = frame.f_back
    return False


@pytest.fixture
def device_reads(monkeypatch):
    """A list that grows by one entry per device -> host copy of an eager tensor made
    while Keras runs the callbacks."""
    reads = []
    original = ops._EagerTensorBase._numpy

    def counted(self):
        if _in_callback_hooks():
            reads.append(1)
        return original(self)

    monkeypatch.setattr(ops._EagerTensorBase, "_numpy", counted)
    return reads


class ReadsPerExecution(tf_keras.callbacks.Callback):
    """Last in the list: device reads since the previous execution ended, per execution."""

    def __init__(self, reads):
        super().__init__()
        self._supports_tf_logs = True
        self.reads = reads
        self.per_epoch = []

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append([])
        self._mark = len(self.reads)

    def on_train_batch_end(self, batch, logs=None):
        self.per_epoch[-1].append(len(self.reads) - self._mark)
        self._mark = len(self.reads)


def test_callbacks_support_tf_logs_and_read_the_device_only_at_checkpoints(tmp_path,
                                                                           device_reads):
    cfg = config.preset("digits_tiny", {"train_steps": 24, "steps_per_loop": 12,
                                        "checkpoint_every_steps": 6, "log_every_steps": 1,
                                        "model.backbone.total_training_steps": 24})
    inputs = tf_keras.Input((4, 4, 3))
    x = NasCell(known_genotypes.NASNET_A.normal, 2, drop_path_keep_prob=0.5,
                total_cells=1)(inputs)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(
        tf_keras.layers.GlobalAveragePooling2D()(x)))
    model.compile(optimizer="sgd", loss="mse")
    events = cb.EventLog(str(tmp_path / "events.jsonl"))
    callbacks = trainer.build_callbacks(cfg, str(tmp_path), events, global_batch=2)
    assert all(c._supports_tf_logs for c in callbacks)
    assert tf_keras.callbacks.CallbackList(callbacks, model=model)._batch_hooks_support_tf_logs
    probe = ReadsPerExecution(device_reads)
    model.fit(np.zeros([24, 4, 4, 3]), np.zeros([24, 1]), batch_size=2, epochs=2, verbose=0,
              callbacks=[*callbacks, probe])
    # 12 steps per epoch, one per execution; checkpoints (which read the saved
    # variables and log their L1 norm) at steps 6, 12, 18, 24; batch summaries
    # every step (log_every_steps=1) read the logs. Nothing else reads.
    for epoch, reads in enumerate(probe.per_epoch):
        assert len(reads) == 12
        # The first execution of an epoch also holds on_epoch_begin's work.
        quiet = [r for i, r in enumerate(reads[1:], start=2) if i % 6]
        assert quiet == [quiet[0]] * 9 and quiet[0] <= 3, (epoch, reads)
        assert reads[5] > quiet[0] and reads[11] > quiet[0], (epoch, reads)
    logged = [e["step"] for e in train_helpers.read_events(str(tmp_path))
              if e["event"] == "checkpoint"]
    assert logged == [6, 12, 18, 24]
    # Summaries every 4 steps: the executions in between read nothing at all.
    cfg = config.apply_overrides(cfg, {"log_every_steps": 4})
    callbacks = trainer.build_callbacks(cfg, str(tmp_path / "again"), events, global_batch=2)
    probe = ReadsPerExecution(device_reads)
    model.fit(np.zeros([24, 4, 4, 3]), np.zeros([24, 1]), batch_size=2, epochs=1, verbose=0,
              callbacks=[*callbacks, probe])
    reads = probe.per_epoch[0]
    assert [r for i, r in enumerate(reads[1:], start=2) if i % 4 and i % 6] == [0] * 7, reads


def test_checkpoints_are_saved_when_the_log_says_with_two_steps_per_execution(tmp_path):
    workdir = str(tmp_path / "run")

    class SavedSteps(tf_keras.callbacks.Callback):
        """After each execution (and after the checkpoint callback): the newest save's step."""

        def __init__(self):
            super().__init__()
            self._supports_tf_logs = True
            self.steps = []

        def on_train_batch_end(self, batch, logs=None):
            latest = trainer.latest_backup(workdir)
            self.steps.append(trainer.checkpoint_step(latest) if latest else None)

    saved = SavedSteps()
    cfg = config.preset("digits_tiny", {**train_helpers.tiny_overrides(8, 4, 2),
                                        "steps_per_execution": 2})
    result = trainer.train(cfg, workdir, callbacks=[saved])
    assert saved.steps == [2, 4, 6, 8]           # Keras's save_freq=2 would save at 4 and 8
    events = train_helpers.read_events(workdir)
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2, 4, 6, 8]
    assert [e["step"] for e in events if e["event"] == "loop"] == [4, 8]
    assert result.final_step == 8


def test_intervals_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="checkpoint interval must be a positive int, got 0"):
        cb.PreemptionCheckpoint(os.path.join(str(tmp_path), "ckpt"), 0)
    with pytest.raises(ValueError, match="summary interval must be a positive int, got 0"):
        cb.StepSummaries(str(tmp_path), 0)
