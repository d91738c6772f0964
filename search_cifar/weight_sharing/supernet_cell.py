"""One cell of the supernet: every branch holds every candidate op, the architecture picks a path.

Inputs ``h`` (the previous cell's output ``[batch, H, W, C_h]``), ``p`` (the
one before, ``[batch, H or 2H, W or 2W, C_p]``) and the cell's architecture
``[num_blocks, 5]`` int32 (``architecture.py``: per block input_a, op_a,
input_b, op_b, active). Output ``[batch, H/s, W/s, num_blocks * F]``.

What it computes for a given architecture is the ``nasnet.cell.NasCell`` of
the decoded cell, with the same layers (``nasnet/ops.py``'s ``make_op``,
``nasnet/layers.py``), in the same order:

1. State 0 = ReLU-1x1 conv-BN of ``h``; state 1 = ``p`` through ReLU and a
   factorized reduction when its resolution is twice ``h``'s, else through
   ReLU-1x1 conv-BN. (NasCell leaves ``p`` as is when it already has F
   channels, and the very first cell uses the stem output unprojected; here
   ``p`` is always projected, because every candidate must read states of one
   shape. ENAS ``_maybe_calibrate_size`` does the same.)
2. Block k, branch a and b: ``tf.switch_case`` on the input index selects a
   state, a second ``tf.switch_case`` on the op index runs that op's layer;
   only the chosen layer runs, and the others get zero gradients. Each
   (block, branch) has its own candidate layers, shared by all the inputs it
   may read (ENAS keeps per-input weights for its convolutions; here the op
   weights are shared across inputs, as in the derived network where a branch
   has one op). Branches other than identity are drop-pathed as in NasCell
   (ScheduledDropPath, ``nasnet.layers``), with uniforms from a given
   ``tf.random.Generator`` so that a resumed run draws the same masks.
3. Strides in a reduction cell (our choice): exactly NasCell's, so the
   supernet trains the reduction cell that will be derived. A branch reading state 0 or 1 (at H x W) runs a stride-2
   candidate, a branch reading a block output (already at H/2 x W/2) a
   stride-1 one; a reduction cell's branch therefore holds two candidate
   sets (stride 2 for blocks' reads of the cell inputs, stride 1 for reads of
   earlier blocks; block 0 only the first) and ``tf.cond`` on ``input < 2``
   picks the set. ENAS instead factorized-reduces the cell inputs first and
   runs its reduction cell at stride 1, so its derived reduction cell (run at
   stride 2 on the inputs) is not the one it trained; ours is.
4. Output, the fixed-shape form of NasCell's "concatenate the unconsumed
   block outputs": all ``num_blocks`` block outputs concatenated, each
   multiplied by 1 if it is active and no active block reads it, by 0
   otherwise. Every consumer of a cell output (the next cells' ReLU-1x1
   conv-BN or ReLU-factorized reduction, the head's ReLU-global pool-dense,
   the aux head's ReLU-avg pool-1x1 conv) starts with a ReLU and a linear map,
   so a zero slot contributes nothing: the consumer computes exactly what it
   would on NasCell's concatenation with the weight rows of the selected
   states. This is ENAS's gather of the 1x1 conv's weight rows
   (``micro_child._enas_layer``), moved into the consumers, which is where
   NasCell has its 1x1 convs; ENAS adds an extra 1x1 conv-BN per cell output
   that the derived network does not have.

Batch norm always normalises with the batch's statistics (as ENAS's shared
model, whose ``is_training`` is forced to True): moving averages of a layer
shared by many architectures describe none of them.

Example:
    >>> cell = SupernetCell("reduction", num_blocks=2, ops=(Op.SEP_CONV_3X3, Op.IDENTITY),
    ...                     filters=16, cell_index=2, total_cells=5, layer_config=LayerConfig())
    >>> out = cell([h, p], architecture[1])   # [batch, H/2, W/2, 2 * 16]
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tf_keras

from nasnet.genotype import Op
from nasnet.layers import (FactorizedReduction, LayerConfig, ReluConvBn, drop_path,
                           scheduled_keep_prob)
from nasnet.ops import make_op
from search_cifar.weight_sharing.architecture import ACTIVE, INPUT_A, INPUT_B, OP_A, OP_B

CELL_KINDS = ("normal", "reduction")
_BRANCH_COLUMNS = ((INPUT_A, OP_A), (INPUT_B, OP_B))


class SupernetCell(tf_keras.layers.Layer):
    """A cell with every candidate op on every branch (see the module docstring).

    Args:
        kind: "normal" (stride 1) or "reduction" (stride 2).
        num_blocks: blocks per cell.
        ops: the candidate ops, in the order the architecture's op indices use.
        filters: F, each state's channels.
        cell_index, total_cells: the position for ScheduledDropPath.
        drop_path_keep_prob: the final keep probability (1.0: off).
        layer_config: BN and weight decay.
        reduce_prev: whether ``p`` has twice ``h``'s resolution.
    """

    def __init__(self, kind: str, num_blocks: int, ops: Sequence[Op], filters: int,
                 cell_index: int, total_cells: int, drop_path_keep_prob: float = 1.0,
                 layer_config: LayerConfig | None = None, reduce_prev: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if kind not in CELL_KINDS:
            raise ValueError(f"cell kind must be one of {CELL_KINDS}, got {kind!r}")
        self.kind = kind
        self.num_blocks = int(num_blocks)
        self.ops = tuple(Op.parse(op) for op in ops)
        self.filters = int(filters)
        self.cell_index = int(cell_index)
        self.total_cells = int(total_cells)
        self.drop_path_keep_prob = float(drop_path_keep_prob)
        self.layer_config = layer_config or LayerConfig()
        self.reduce_prev = bool(reduce_prev)
        self.strides = 2 if kind == "reduction" else 1
        self._identity = self.ops.index(Op.IDENTITY) if Op.IDENTITY in self.ops else -1

    # -- construction ---------------------------------------------------------
    def build(self, input_shape):
        h_shape, p_shape = (tf.TensorShape(s) for s in input_shape)
        cfg, f = self.layer_config, self.filters
        self.h_project = ReluConvBn(f, 1, 1, config=cfg, name="beginning")
        if self.reduce_prev:
            self.p_adjust = FactorizedReduction(f, 2, config=cfg, name="adjust_reduce")
        else:
            self.p_adjust = ReluConvBn(f, 1, 1, config=cfg, name="adjust_project")
        # Flat lists, indexed by _slot: candidates[_slot(k, side, strided) + op].
        self.candidates = []
        self._slots = {}
        for k in range(self.num_blocks):
            for side in range(2):
                for strided in self._stride_sets(k):
                    self._slots[(k, side, strided)] = len(self.candidates)
                    stride = 2 if strided else 1
                    for op in self.ops:
                        self.candidates.append(make_op(
                            op, f, stride, f, cfg,
                            name=f"block{k}_{'ab'[side]}{'_s2' if strided else ''}_{op.value}"))
        # Every candidate is built here, outside any tf.switch_case / tf.cond:
        # variables cannot be created inside a branch of a traced function.
        batch = h_shape[0] or 1
        size = int(h_shape[1])
        inputs = tf.zeros([batch, size, size, f])
        small = tf.zeros([batch, size // self.strides, size // self.strides, f])
        for (k, side, strided), start in self._slots.items():
            x = inputs if strided or self.strides == 1 else small
            for layer in self.candidates[start:start + len(self.ops)]:
                layer(x, training=False)
        self.h_project(tf.zeros([batch, *h_shape[1:]]), training=False)
        self.p_adjust(tf.zeros([batch, *p_shape[1:]]), training=False)
        super().build(input_shape)

    def _stride_sets(self, k: int) -> tuple[bool, ...]:
        """Candidate sets of block k's branches: (strided?) for reads of states 0-1 / later."""
        if self.strides == 1:
            return (False,)
        return (True,) if k == 0 else (True, False)

    # -- forward ----------------------------------------------------------------
    def call(self, inputs, architecture, training=False, progress=None,
             generator: tf.random.Generator | None = None):
        """``inputs`` = [h, p]; ``architecture`` [num_blocks, 5] int32.

        ``training``: apply drop path (with ``progress`` = step / total steps
        and uniforms from ``generator``). Batch norm uses batch statistics
        either way (module docstring).
        """
        h, p = inputs
        architecture = tf.convert_to_tensor(architecture, tf.int32)
        p = tf.nn.relu(p) if self.reduce_prev else p  # ReluConvBn applies its own ReLU
        states = [self.h_project(h, training=True), self.p_adjust(p, training=True)]
        keep_prob = None
        if training and self.drop_path_keep_prob < 1.0:
            keep_prob = scheduled_keep_prob(self.drop_path_keep_prob, self.cell_index,
                                            self.total_cells, progress)
        for k in range(self.num_blocks):
            outs = []
            for side, (in_col, op_col) in enumerate(_BRANCH_COLUMNS):
                index, op = architecture[k, in_col], architecture[k, op_col]
                y = self._branch(k, side, states, index, op)
                if keep_prob is not None:
                    noise = generator.uniform([tf.shape(y)[0], 1, 1, 1])
                    keep = tf.where(tf.equal(op, self._identity), 1.0, keep_prob)
                    y = drop_path(y, keep, noise=noise)  # keep 1: y unchanged
                outs.append(y)
            states.append(outs[0] + outs[1])
        mask = tf.cast(concat_mask(architecture), states[2].dtype)  # 16 bits under mixed precision
        return tf.concat([states[2 + k] * mask[k] for k in range(self.num_blocks)], axis=-1)

    def _branch(self, k: int, side: int, states: list[tf.Tensor], index: tf.Tensor,
                op: tf.Tensor) -> tf.Tensor:
        if self.strides == 1:
            return self._run(self._slots[(k, side, False)], states[:k + 2], index, op)
        strided = self._slots[(k, side, True)]
        if k == 0:
            return self._run(strided, states[:2], index, op)
        plain = self._slots[(k, side, False)]
        return tf.cond(index < 2,
                       lambda: self._run(strided, states[:2], index, op),
                       lambda: self._run(plain, states[2:k + 2], index - 2, op))

    def _run(self, start: int, states: list[tf.Tensor], index: tf.Tensor,
             op: tf.Tensor) -> tf.Tensor:
        """The op ``op`` of the candidate set at ``start`` on ``states[index]``."""
        if len(states) == 1:
            x = states[0]
        else:
            x = tf.switch_case(index, [lambda s=s: s for s in states])
        layers = self.candidates[start:start + len(self.ops)]
        return tf.switch_case(op, [lambda layer=layer: layer(x, training=True)
                                   for layer in layers])

    def compute_output_shape(self, input_shape):
        h_shape = tf.TensorShape(input_shape[0])
        size = [None if d is None else d // self.strides for d in h_shape[1:3]]
        return tf.TensorShape([h_shape[0], *size, self.num_blocks * self.filters])


def concat_mask(architecture: tf.Tensor) -> tf.Tensor:
    """``[num_blocks]`` float32: 1 for the active block outputs no active block reads.

    The in-graph twin of ``architecture.unconsumed_mask`` (one cell's rows).
    """
    num_blocks = architecture.shape[0]
    active = architecture[:, ACTIVE] > 0
    reads = tf.stack([architecture[:, INPUT_A], architecture[:, INPUT_B]], axis=1)  # [B, 2]
    states = tf.range(2, num_blocks + 2)                                            # [B]
    read = tf.reduce_any(
        tf.logical_and(active[:, None, None], tf.equal(reads[:, :, None], states[None, None, :])),
        axis=[0, 1])
    return tf.cast(tf.logical_and(active, tf.logical_not(read)), tf.float32)
