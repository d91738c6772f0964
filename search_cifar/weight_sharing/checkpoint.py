"""Checkpoints of a weight-sharing search: TensorFlow objects plus a JSON index, renamed into place.

A checkpoint is two things in ``<workdir>/checkpoints/``:

* ``ckpt-<n>.index`` / ``ckpt-<n>.data-*``: the supernet's weights, the
  optimizer (slots and step count, hence the learning rate and the drop-path
  schedule) and the drop-path / dropout ``tf.random.Generator``, written with
  ``tf.train.Checkpoint.write`` under a NEW prefix each time;
* ``index.json``: the position of the search (epoch, phase, step), the
  strategy's ``get_state()``, the phase's sampled architectures, the running
  metrics and the name of the weights it goes with; written atomically
  (``nasnet.io_utils``: temp file, fsync, rename) AFTER the weights.

The weights are written by ``tf.train.Checkpoint.write`` traced once in a
``tf.function`` (the prefix is a string tensor): eagerly, every write walks
the object graph again (about 1,700 tensors in ``enas_quickstart``'s
supernet, 0.4 CPU-s a save, about 20 CPU-s of its run); traced, the walk is
done once at the first save (about 4 CPU-s) and each later save costs about
0.03 CPU-s. The objects must not gain variables after the first save (the
supernet and the optimizer create all theirs at construction). Reading stays
eager and reads files written either way.

A traced write sees only what the object graph shows inside a
``tf.function``, and some objects show less there: ``tf_keras``'
``LossScaleOptimizer`` (``training.mixed_precision=mixed_float16``) keeps its
dynamic loss scale and good-step counter as children of the graph they were
made in, so a traced write silently leaves them out. The first save
therefore checks itself: it also writes eagerly to a scratch directory, and
if the two files hold different variables, that save and every later one are
written eagerly (``traced`` tells which).

A kill at any moment leaves the previous index pointing at complete weights:
the index is the commit point, and weights it does not name are deleted at
the next save. On a multi-worker strategy only the chief keeps its files; the
other workers write their part to a temporary directory (every worker must
take part in saving distributed variables) and remove it.

Example:
    >>> ckpt = SearchCheckpoint(workdir + "/checkpoints", model=model,
    ...                         optimizer=trainer.optimizer, generator=model.generator)
    >>> ckpt.save({"epoch": 3, "phase": "controller", "step": 7, ...})
    >>> state = ckpt.restore()     # None when there is no checkpoint yet
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import tempfile
from typing import Any

import tensorflow as tf

from nasnet import artifacts, io_utils

INDEX = artifacts.SUPERNET_CHECKPOINT_INDEX
FORMAT_VERSION = 1
_PREFIX = re.compile(r"^ckpt-(\d+)$")


class SearchCheckpoint:
    """Saves and restores the objects given as keyword arguments with a JSON index."""

    def __init__(self, directory: str, chief: bool = True, **trackables: Any):
        self.directory = directory
        self.chief = chief
        self._checkpoint = tf.train.Checkpoint(**trackables)
        self._traced_write = tf.function(self._checkpoint.write, autograph=False,
                                         input_signature=[tf.TensorSpec([], tf.string)])
        self._current: str | None = None
        #: None until the first save; then whether saves are traced (module docstring).
        self.traced: bool | None = None

    @property
    def index_path(self) -> str:
        return os.path.join(self.directory, INDEX)

    def read_index(self) -> dict[str, Any] | None:
        """The saved index, or None; ValueError for an unreadable or foreign one."""
        if not os.path.exists(self.index_path):
            return None
        try:
            with open(self.index_path, encoding="utf-8") as f:
                index = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read the search checkpoint {self.index_path}: {e}") from None
        if not isinstance(index, dict) or index.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{self.index_path} is not a version-{FORMAT_VERSION} "
                             f"weight-sharing checkpoint index")
        return index

    def restore(self) -> dict[str, Any] | None:
        """Loads the weights of the saved index into the objects; returns the index (or None)."""
        index = self.read_index()
        if index is None:
            return None
        prefix = os.path.join(self.directory, index["weights"])
        status = self._checkpoint.read(prefix)
        status.assert_existing_objects_matched()
        self._current = index["weights"]
        return index

    def save(self, index: dict[str, Any]) -> None:
        """Writes the objects under a new prefix, then ``index`` (plus its name) atomically."""
        os.makedirs(self.directory, exist_ok=True)
        name = f"ckpt-{self._next_number()}"
        if not self.chief:
            scratch = tempfile.mkdtemp(prefix="worker-ckpt-")
            try:
                self._write(os.path.join(scratch, name))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return
        self._write(os.path.join(self.directory, name))
        io_utils.atomic_write_json(self.index_path,
                                   {**index, "format_version": FORMAT_VERSION, "weights": name})
        self._current = name
        self._remove_unreferenced()

    def _write(self, prefix: str) -> None:
        """Writes the objects under ``prefix``: traced, unless the first save found that a
        traced write leaves variables out (module docstring)."""
        if self.traced is False:
            self._checkpoint.write(prefix)
            return
        self._traced_write(tf.constant(prefix))
        if self.traced is None:
            scratch = tempfile.mkdtemp(prefix="ckpt-check-")
            try:
                eager = self._checkpoint.write(os.path.join(scratch, "eager"))
                self.traced = _saved_keys(eager) == _saved_keys(prefix)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            if not self.traced:
                self._checkpoint.write(prefix)

    def _numbers(self) -> list[int]:
        names = {os.path.basename(p).split(".")[0]
                 for p in glob.glob(os.path.join(self.directory, "ckpt-*"))}
        return sorted(int(m.group(1)) for m in map(_PREFIX.match, names) if m)

    def _next_number(self) -> int:
        numbers = self._numbers()
        return numbers[-1] + 1 if numbers else 0

    def _remove_unreferenced(self) -> None:
        for number in self._numbers():
            name = f"ckpt-{number}"
            if name != self._current:
                for path in glob.glob(os.path.join(self.directory, name + ".*")):
                    os.remove(path)


def _saved_keys(prefix: str) -> set[str]:
    """The variables a checkpoint file holds (its object graph aside)."""
    return {name for name, _ in tf.train.list_variables(prefix)
            if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}
