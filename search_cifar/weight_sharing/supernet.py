"""The shared-weights network (supernet) of the NASNet cell space.

``Supernet(config, num_classes, image_size)`` is a tf_keras model laid out as
the project's CIFAR networks (``nasnet.networks``, slim ``_build_nasnet_base``
with the CIFAR stem) and ENAS's micro child (``micro_child._model``): a 3x3
conv-BN stem with ``stem_multiplier x F`` filters, then 3 stacks of N normal
cells separated by 2 reduction cells (``networks.reduction_cell_indices``),
the filters doubling at each reduction; ReLU, global average pooling, dropout
and a dense layer for the logits; optionally ``networks.build_aux_head`` on
the last cell before the second reduction. Every cell is a ``SupernetCell``
holding every candidate op on every branch (see ``supernet_cell.py`` for the
fixed-shape output, the reduction-cell strides and batch norm).

``model(images, architecture, training=...)``:

* ``images``: ``[batch, S, S, 3]`` float32;
* ``architecture``: ``[2, num_blocks, 5]`` int32 (``architecture.encode``),
  a tensor, so one trace serves every architecture;
* ``training``: drop path and dropout on (uniforms from ``model.generator``,
  a checkpointed ``tf.random.Generator``; drop path follows ``model.progress``,
  the fraction of training done);
* returns ``{"logits": [batch, classes]}`` plus ``"aux_logits"`` when the
  aux head is on and ``training`` is set, float32 whatever the precision.

``mixed_precision`` (``config.PRECISIONS``) is the Keras dtype policy every
layer is built with (``nasnet.distribute.dtype_policy``): under
``mixed_float16`` / ``mixed_bfloat16`` the layers compute in 16 bits and keep
float32 variables; the logits are cast back to float32 for the losses.

All weights exist once the constructor returns (it runs one eager forward
pass, and each cell builds all its candidates), so a traced step never
creates variables.

Example:
    >>> model = Supernet(SupernetConfig(num_blocks=2, ops=("sep_conv_3x3", "identity"),
    ...                                 num_cells_per_stack=1, out_filters=8,
    ...                                 use_aux_head=False), num_classes=10, image_size=8)
    >>> arch = encode(space, model.holds, choices)
    >>> model(images, arch)["logits"].shape    # images: [B, 8, 8, 3]
    TensorShape([B, 10])
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras

from nasnet import distribute, networks
from search_cifar.weight_sharing.architecture import NUM_COLUMNS, SupernetOps
from search_cifar.weight_sharing.config import PRECISIONS, SupernetConfig
from search_cifar.weight_sharing.supernet_cell import SupernetCell

#: The aux head's 5x5 stride-3 VALID average pool needs at least this resolution.
AUX_HEAD_MIN_SIZE = 5


class Supernet(tf_keras.Model):
    """See the module docstring. ``seed`` seeds the drop-path / dropout generator."""

    def __init__(self, config: SupernetConfig, num_classes: int, image_size: int,
                 seed: int = 0, mixed_precision: str = "float32", **kwargs):
        if mixed_precision not in PRECISIONS:
            raise ValueError(f"mixed_precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {mixed_precision!r}")
        with distribute.dtype_policy(mixed_precision):
            super().__init__(**kwargs)
            self._build_layers(config, num_classes, image_size, seed)

    def _build_layers(self, config: SupernetConfig, num_classes: int, image_size: int,
                      seed: int) -> None:
        if not isinstance(config, SupernetConfig):
            raise ValueError(f"config must be a SupernetConfig, got {config!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 4 \
                or image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two reductions halve it), "
                             f"got {image_size!r}")
        aux_size = image_size // 2
        if config.use_aux_head and aux_size < AUX_HEAD_MIN_SIZE:
            raise ValueError(
                f"the aux head needs a resolution of at least {AUX_HEAD_MIN_SIZE} before the "
                f"second reduction, but {image_size} px images leave {aux_size}: use larger "
                f"images or use_aux_head=False")
        self.config = config
        self.holds: SupernetOps = config.holds()
        self.num_classes = num_classes
        self.image_size = image_size
        cfg = config.layer_config()
        f = config.out_filters
        stem_filters = int(f * config.stem_multiplier)
        self.stem_conv = cfg.conv(stem_filters, 3, name="stem_conv")
        self.stem_bn = cfg.batch_norm(name="stem_bn")

        reductions = networks.reduction_cell_indices(config.num_cells)
        total_cells = config.num_cells + 2
        self.cells: list[SupernetCell] = []
        self._aux_after = None
        resolution = [image_size, image_size]   # of [p, h]
        filters, index = f, 0
        for n in range(config.num_cells):
            if n in reductions:
                filters *= 2
                self.cells.append(self._cell("reduction", filters, index, total_cells,
                                             resolution, f"reduction_cell_{reductions.index(n)}"))
                resolution = [resolution[1], resolution[1] // 2]
                index += 1
            self.cells.append(self._cell("normal", filters, index, total_cells, resolution,
                                         f"cell_{n}"))
            resolution = [resolution[1], resolution[1]]
            index += 1
            if n == reductions[1] - 1:
                self._aux_after = len(self.cells) - 1
        self.final_filters = filters * config.num_blocks
        self.logits_layer = tf_keras.layers.Dense(num_classes, kernel_regularizer=cfg.regularizer(),
                                                  name="logits")
        self.aux_head = None
        if config.use_aux_head:
            aux_filters = (filters // 2) * config.num_blocks
            aux_input = tf_keras.Input(shape=(aux_size, aux_size, aux_filters))
            self.aux_head = tf_keras.Model(
                aux_input, networks.build_aux_head(aux_input, num_classes, cfg), name="aux_head")
        # The fraction of training done (ScheduledDropPath) and the random stream of
        # drop path and dropout: both checkpointed with the model.
        self.progress = tf.Variable(0.0, trainable=False, dtype=tf.float32, name="progress")
        self.generator = tf.random.Generator.from_seed(seed)
        # Build every weight now, eagerly (each cell builds all its candidates).
        self(tf.zeros([1, image_size, image_size, 3]), self.zero_architecture(), training=False)

    def _cell(self, kind: str, filters: int, index: int, total_cells: int,
              resolution: list[int], name: str) -> SupernetCell:
        return SupernetCell(kind, self.config.num_blocks, self.holds.op_values, filters,
                            cell_index=index, total_cells=total_cells,
                            drop_path_keep_prob=self.config.drop_path_keep_prob,
                            layer_config=self.config.layer_config(),
                            reduce_prev=resolution[0] != resolution[1], name=name)

    def zero_architecture(self) -> np.ndarray:
        """A valid ``[2, num_blocks, 5]`` architecture: every block reads state 0 with op 0."""
        arch = np.zeros([2, self.config.num_blocks, NUM_COLUMNS], np.int32)
        arch[:, :, -1] = 1
        return arch

    @property
    def architecture_spec(self) -> tf.TensorSpec:
        return tf.TensorSpec([2, self.config.num_blocks, NUM_COLUMNS], tf.int32)

    def call(self, images, architecture, training=False):
        architecture = tf.convert_to_tensor(architecture, tf.int32)
        x = self.stem_bn(self.stem_conv(images), training=True)
        p = h = x
        aux_input = None
        for i, cell in enumerate(self.cells):
            arch = architecture[1] if cell.kind == "reduction" else architecture[0]
            out = cell([h, p], arch, training=training, progress=self.progress,
                       generator=self.generator)
            p, h = h, out
            if i == self._aux_after:
                aux_input = out
        x = tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])
        if training and self.config.dense_dropout_keep_prob < 1.0:
            seed = self.generator.make_seeds(1)[:, 0]
            x = tf.nn.experimental.stateless_dropout(
                x, rate=1.0 - self.config.dense_dropout_keep_prob, seed=seed)
        outputs = {"logits": tf.cast(self.logits_layer(x), tf.float32)}
        if self.aux_head is not None and training:
            outputs["aux_logits"] = tf.cast(self.aux_head(aux_input, training=True), tf.float32)
        return outputs
