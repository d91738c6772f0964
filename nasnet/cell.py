"""One Keras layer that builds any ``Cell``, normal (stride 1) or reduction (stride 2).

Inputs ``[h, p]``: ``h`` is the previous cell's output ``[B, H, W, C_h]`` and
``p`` the one before ``[B, H', W', C_p]``. Pass ``h`` alone when there is no
earlier cell (the first cell after the stem): ``p`` is then ``h`` itself,
unadjusted, as in slim (``prev_layer=None``) and Keras. Output
``[B, H/s, W/s, sum of the concatenated states' channels]``.

What the layer does (slim ``NasNetABaseCell`` in tensorflow/models
research/slim/nets/nasnet/nasnet_utils.py; Keras ``keras.applications.nasnet``):

1. ``p`` is matched to ``h``: ReLU + factorized reduction when its resolution
   is higher, ReLU-1x1 conv-BN when only its channels differ (slim
   ``_reduce_prev_layer``, Keras ``_adjust_block``).
2. ``h`` goes through ReLU-1x1 conv-BN to ``filters`` channels (state 0);
   the adjusted ``p`` is state 1.
3. Block k applies its two ops (``nasnet/ops.py``), striding only inputs 0 and
   1, drop-paths every non-identity branch (ScheduledDropPath, Zoph et al.
   2018 Sec. 4.1) and combines them (add, or concat along channels).
4. The states named by ``cell.concat`` are concatenated; cell inputs whose
   resolution is higher than the output's (in a reduction cell) or whose
   channels differ (an unadjusted ``p``) first go through a factorized
   reduction (slim ``_combine_unused_states``).

ScheduledDropPath needs the training progress ``step / total_training_steps``;
each cell keeps it in a variable that is saved with the model but is not a
parameter (``count_params`` is unaffected), set by
``set_drop_path_progress(model, value)`` or the ``DropPathSchedule`` callback
(which counts steps on the host and writes the progress every ``update_every``
steps: no per-step read from the device).

Example:
    >>> cell = NasCell(NASNET_A.normal, filters=44, cell_index=3, total_cells=16)
    >>> out = cell([h, p])   # [B, H, W, 6 * 44]
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf
import tf_keras

from nasnet.genotype import Cell, Combine, Op
from nasnet.layers import (FactorizedReduction, LayerConfig, ReluConvBn, drop_path,
                           scheduled_keep_prob)
from nasnet.ops import make_op
from nasnet.step_counter import StepCounter, crossed


class NasCell(tf_keras.layers.Layer):
    """A NASNet cell built from a ``Cell`` value (see the module docstring)."""

    def __init__(self, cell: Cell | dict, filters: int, strides: int = 1,
                 cell_index: int = 0, total_cells: int = 1,
                 drop_path_keep_prob: float = 1.0,
                 layer_config: LayerConfig | dict | None = None,
                 reduce_prev: bool | None = None, **kwargs):
        """``reduce_prev``: whether ``p`` has twice ``h``'s resolution (None:
        infer it from static shapes, which needs known widths)."""
        super().__init__(**kwargs)
        self.cell = Cell.from_dict(cell) if isinstance(cell, dict) else cell
        if not isinstance(self.cell, Cell):
            raise ValueError(f"cell must be a Cell or its dict, got {cell!r}")
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"filters must be a positive int, got {filters!r}")
        if strides not in (1, 2):
            raise ValueError(f"cell strides must be 1 or 2, got {strides!r}")
        if not 0.0 < drop_path_keep_prob <= 1.0:
            raise ValueError(f"drop_path_keep_prob must be in (0, 1], got {drop_path_keep_prob}")
        if not 0 <= cell_index < total_cells:
            raise ValueError(
                f"cell_index must be in [0, total_cells={total_cells}), got {cell_index}")
        self.filters = filters
        self.strides = strides
        self.cell_index = cell_index
        self.total_cells = total_cells
        self.drop_path_keep_prob = drop_path_keep_prob
        self.reduce_prev = reduce_prev
        if isinstance(layer_config, dict):
            layer_config = LayerConfig.from_dict(layer_config)
        self.layer_config = layer_config or LayerConfig()

    # -- construction ---------------------------------------------------
    def build(self, input_shape):
        self._has_prev = _is_pair(input_shape)
        if self._has_prev:
            h_shape, p_shape = (tf.TensorShape(s) for s in input_shape)
        else:
            h_shape = p_shape = tf.TensorShape(input_shape)
        cfg, f = self.layer_config, self.filters
        h_res, p_res = h_shape[2], p_shape[2]
        reduce_prev = self.reduce_prev
        if self._has_prev and p_res is not None and h_res is not None:
            if p_res != h_res and (p_res + 1) // 2 != h_res:
                raise ValueError(
                    f"the cell before the previous one has width {p_res}, which a "
                    f"factorized reduction cannot bring to the previous cell's width {h_res}")
            if reduce_prev is not None and reduce_prev != (p_res != h_res):
                raise ValueError(
                    f"reduce_prev={reduce_prev} but the inputs have widths {h_res} (h) "
                    f"and {p_res} (p)")
            reduce_prev = p_res != h_res
        elif self._has_prev and reduce_prev is None:
            raise ValueError(
                "NasCell cannot tell whether p needs a reduction: input widths are unknown "
                f"({h_res}, {p_res}); pass reduce_prev=True/False")
        if not self._has_prev:
            self.p_adjust = None
        elif reduce_prev:
            self.p_adjust = FactorizedReduction(f, 2, config=cfg, name="adjust_reduce")
        elif p_shape[-1] != f:
            self.p_adjust = ReluConvBn(f, 1, 1, config=cfg, name="adjust_project")
        else:
            self.p_adjust = None
        self.h_project = ReluConvBn(f, 1, 1, config=cfg, name="beginning")

        channels = [f, f if self.p_adjust is not None or p_shape[-1] == f else int(p_shape[-1])]
        # One flat list (block k's branches at 2k, 2k+1): the .keras saver does
        # not descend into nested lists or tuples of layers.
        self.branches = []
        for k, block in enumerate(self.cell.blocks):
            for side, (index, op) in enumerate(zip(block.inputs, block.ops)):
                stride = self.strides if index < 2 else 1
                self.branches.append(make_op(op, f, stride, channels[index], cfg,
                                             name=f"block{k}_{'ab'[side]}_{op.value}"))
            channels.append(2 * f if block.combine is Combine.CONCAT else f)

        # Concatenated cell inputs must match the output: a reduction cell's
        # inputs are at twice the resolution, and an unadjusted p (no earlier
        # cell) may have other channels (slim _combine_unused_states).
        self.concat_reduce = {}
        for index in self.cell.concat:
            if index < 2 and (self.strides == 2 or channels[index] != f):
                self.concat_reduce[str(index)] = FactorizedReduction(
                    f, self.strides, config=cfg, name=f"concat_reduce_{index}")
                channels[index] = f
        self._output_channels = sum(channels[i] for i in self.cell.concat)

        progress = tf.Variable(0.0, trainable=False, dtype=tf.float32,
                               name="drop_path_progress")
        object.__setattr__(self, "_drop_path_progress", progress)
        # Saved with the model (so SavedModel export can capture it) but not a
        # weight: the parameter count stays that of the published networks.
        self._track_trackable(progress, name="drop_path_progress")
        super().build(input_shape)

    @property
    def drop_path_progress(self) -> tf.Variable:
        return self._drop_path_progress

    @property
    def uses_drop_path(self) -> bool:
        return self.drop_path_keep_prob < 1.0

    # -- forward --------------------------------------------------------
    def call(self, inputs, training=None):
        h, p = inputs if self._has_prev else (inputs, inputs)
        if self.p_adjust is not None:
            p = self.p_adjust(tf.nn.relu(p) if isinstance(self.p_adjust, FactorizedReduction)
                              else p, training=training)
        states = [self.h_project(h, training=training), p]
        keep_prob = None
        if training and self.uses_drop_path:
            keep_prob = scheduled_keep_prob(self.drop_path_keep_prob, self.cell_index,
                                            self.total_cells, self._drop_path_progress)
        for k, block in enumerate(self.cell.blocks):
            outs = []
            pair = self.branches[2 * k:2 * k + 2]
            for index, op, layer in zip(block.inputs, block.ops, pair):
                y = layer(states[index], training=training)
                if keep_prob is not None and op is not Op.IDENTITY:  # slim: not on 'none'
                    y = drop_path(y, keep_prob)
                outs.append(y)
            if block.combine is Combine.ADD:
                states.append(outs[0] + outs[1])
            else:
                states.append(tf.concat(outs, axis=-1))
        selected = []
        for index in self.cell.concat:
            state = states[index]
            if str(index) in self.concat_reduce:  # str keys: checkpointable.
                state = self.concat_reduce[str(index)](state, training=training)
            selected.append(state)
        return selected[0] if len(selected) == 1 else tf.concat(selected, axis=-1)

    def compute_output_shape(self, input_shape):
        h_shape = tf.TensorShape(input_shape[0] if _is_pair(input_shape) else input_shape)
        size = [None if d is None else -(-d // self.strides) for d in h_shape[1:3]]
        return tf.TensorShape([h_shape[0], *size, self._output_channels])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cell": self.cell.to_dict(), "filters": self.filters,
                "strides": self.strides, "cell_index": self.cell_index,
                "total_cells": self.total_cells,
                "drop_path_keep_prob": self.drop_path_keep_prob,
                "layer_config": dataclasses.asdict(self.layer_config),
                "reduce_prev": self.reduce_prev}


def _is_pair(shape) -> bool:
    """True for ``[h_shape, p_shape]``, False for a single shape."""
    if isinstance(shape, tf.TensorShape):
        return False
    return (isinstance(shape, (list, tuple)) and len(shape) == 2
            and all(isinstance(s, (list, tuple, tf.TensorShape)) for s in shape))


def output_width(cell: Cell, filters: int) -> int:
    """Channels of a cell's output: ``filters`` per concatenated state (2x for concat blocks)."""
    widths = [filters, filters] + [
        2 * filters if b.combine is Combine.CONCAT else filters for b in cell.blocks]
    return sum(widths[i] for i in cell.concat)


def nas_cells(model: tf_keras.layers.Layer) -> list[NasCell]:
    """All NasCell layers inside ``model``, nested models included."""
    return [layer for layer in model._flatten_layers(include_self=True, recursive=True)
            if isinstance(layer, NasCell)]


def set_drop_path_progress(model: tf_keras.layers.Layer, progress: float) -> None:
    """Sets ``step / total_training_steps`` for every cell's ScheduledDropPath."""
    for cell in nas_cells(model):
        if cell.built and cell.uses_drop_path:
            cell.drop_path_progress.assign(float(progress))


class DropPathSchedule(tf_keras.callbacks.Callback):
    """Advances ScheduledDropPath with the optimizer's step (slim: global_step / total).

    During optimizer step ``s`` (counted from 0) every cell's progress is
    ``s / total_training_steps``, refreshed whenever the step crosses a
    multiple of ``update_every`` (and at the start of ``fit``). The step is
    counted on the host (``nasnet.step_counter``): no device read per batch,
    only a write of the new progress every ``update_every`` steps. With
    ``steps_per_execution = k`` Keras calls back once per k steps, so updates
    happen at most once per execution.
    """

    def __init__(self, total_training_steps: int, update_every: int = 1):
        super().__init__()
        if total_training_steps < 1:
            raise ValueError(f"total_training_steps must be >= 1, got {total_training_steps}")
        if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
            raise ValueError(f"update_every must be a positive int, got {update_every!r}")
        self.total_training_steps = total_training_steps
        self.update_every = update_every
        self.steps = StepCounter()
        self._supports_tf_logs = True

    def _update(self, step: int) -> None:
        set_drop_path_progress(self.model, step / self.total_training_steps)

    def on_train_begin(self, logs=None):
        self._update(self.steps.start(self.model))

    def on_train_batch_begin(self, batch, logs=None):
        self.steps.batch_begin(batch)

    def on_train_batch_end(self, batch, logs=None):
        before, now = self.steps.batch_end(batch)
        if crossed(before, now, self.update_every):
            self._update(now)
