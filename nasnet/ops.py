"""Op -> Keras layer: the only map from an ``Op`` to layers.

Reference semantics (``nasnet.genotype.Op`` lists the op set):

* separable convs: ``SeparableStack`` (slim ``separable_KxK_2``);
* identity: nothing, or ReLU-1x1 conv-BN with the stride when the stride is 2
  or the channels differ (slim ``none``);
* pools: 'same' pooling, then 1x1 conv-BN only when channels differ (slim
  ``_pooling`` followed by the ``1x1`` adjust; no ReLU there, as in slim);
* plain convs (1x1, 3x3, 1x3-3x1, 1x7-7x1, dilated 3x3): the bottleneck of the
  AmoebaNet TPU reference (tensorflow/tpu models/official/amoeba_net/
  network_utils.py ``_apply_operation``): ReLU-1x1 conv to C/4 (3C/8 for
  1x3-3x1)-BN, ReLU-op-BN, ReLU-1x1 conv to C-BN. ``conv_1x1`` is a single
  ReLU-1x1 conv-BN, as there.

Every op maps ``[B, H, W, C_in]`` to ``[B, H/s, W/s, filters]``.

Example:
    >>> layer = make_op(Op.SEP_CONV_3X3, filters=32, strides=2, input_channels=32,
    ...                 config=LayerConfig())
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras

from nasnet.genotype import Op
from nasnet.layers import LayerConfig, ReluConvBn, SeparableStack

_SEPARABLE_KERNEL = {Op.SEP_CONV_3X3: 3, Op.SEP_CONV_5X5: 5, Op.SEP_CONV_7X7: 7}
_POOL = {Op.AVG_POOL_3X3: ("avg", 3), Op.MAX_POOL_3X3: ("max", 3),
         Op.MAX_POOL_5X5: ("max", 5), Op.MAX_POOL_7X7: ("max", 7)}
_BOTTLENECK = (Op.CONV_3X3, Op.CONV_1X3_3X1, Op.CONV_1X7_7X1, Op.DIL_CONV_3X3)


class Identity(tf_keras.layers.Layer):
    """The identity op when no stride or channel change is needed."""

    def call(self, x, training=None):
        return x


class Pool(tf_keras.layers.Layer):
    """'same' pooling, then 1x1 conv-BN when ``input_channels != filters``."""

    def __init__(self, kind: str, pool_size: int, filters: int, strides: int,
                 input_channels: int, config: LayerConfig, **kwargs):
        super().__init__(**kwargs)
        pool_cls = (tf_keras.layers.AveragePooling2D if kind == "avg"
                    else tf_keras.layers.MaxPooling2D)
        self.pool = pool_cls(pool_size, strides=strides, padding="same", name="pool")
        self.project = None
        if input_channels != filters:
            self.project = config.conv(filters, 1, name="conv")
            self.project_bn = config.batch_norm(name="bn")

    def call(self, x, training=None):
        x = self.pool(x)
        if self.project is not None:
            x = self.project_bn(self.project(x), training=training)
        return x


class BottleneckConv(tf_keras.layers.Layer):
    """AmoebaNet-reference bottleneck around a plain convolution (see module doc)."""

    def __init__(self, op: Op, filters: int, strides: int, config: LayerConfig, **kwargs):
        super().__init__(**kwargs)
        reduced = int(3 * filters / 8) if op is Op.CONV_1X3_3X1 else int(filters / 4)
        self.bottleneck = reduced >= 1
        inner = reduced if self.bottleneck else filters
        if self.bottleneck:
            self.pre = ReluConvBn(inner, 1, 1, config=config, name="pre")
        if op is Op.CONV_3X3:
            self.convs = [config.conv(inner, 3, strides, name="conv_3x3")]
        elif op is Op.DIL_CONV_3X3:
            # Keras cannot stride a dilated conv; a stride-1 dilated conv sampled
            # every `strides` pixels computes the same outputs.
            self.convs = [config.conv(inner, 3, 1, dilation_rate=2, name="dil_conv_3x3")]
        else:
            k = 3 if op is Op.CONV_1X3_3X1 else 7
            self.convs = [config.conv(inner, (1, k), (1, strides), name=f"conv_1x{k}"),
                          config.conv(inner, (k, 1), (strides, 1), name=f"conv_{k}x1")]
            self.mid_bn = config.batch_norm(name="mid_bn")
        self.subsample = strides if op is Op.DIL_CONV_3X3 else 1
        self.bn = config.batch_norm(name="bn")
        if self.bottleneck:
            self.post = ReluConvBn(filters, 1, 1, config=config, name="post")

    def call(self, x, training=None):
        if self.bottleneck:
            x = self.pre(x, training=training)
        x = tf.nn.relu(x)
        x = self.convs[0](x)
        if len(self.convs) == 2:
            x = self.convs[1](tf.nn.relu(self.mid_bn(x, training=training)))
        if self.subsample > 1:
            x = x[:, ::self.subsample, ::self.subsample, :]
        x = self.bn(x, training=training)
        if self.bottleneck:
            x = self.post(x, training=training)
        return x


def make_op(op: Op, filters: int, strides: int, input_channels: int,
            config: LayerConfig, name: str | None = None) -> tf_keras.layers.Layer:
    """Returns the layer for ``op`` (see the module docstring for semantics)."""
    op = Op.parse(op)
    if strides not in (1, 2):
        raise ValueError(f"op strides must be 1 or 2, got {strides}")
    if op in _SEPARABLE_KERNEL:
        return SeparableStack(filters, _SEPARABLE_KERNEL[op], strides, config=config, name=name)
    if op is Op.IDENTITY:
        if strides > 1 or input_channels != filters:
            return ReluConvBn(filters, 1, strides, config=config, name=name)
        return Identity(name=name)
    if op in _POOL:
        kind, size = _POOL[op]
        return Pool(kind, size, filters, strides, input_channels, config, name=name)
    if op is Op.CONV_1X1:
        return ReluConvBn(filters, 1, strides, config=config, name=name)
    if op in _BOTTLENECK:
        return BottleneckConv(op, filters, strides, config, name=name)
    raise ValueError(f"no layer for op {op!r}")  # Unreachable while Op has 13 members.
