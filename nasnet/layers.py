"""Building blocks shared by every op and cell: conv-BN stacks, reductions, drop path.

Shapes are ``[batch, height, width, channels]`` (NHWC) throughout. Layer
semantics follow the slim reference (tensorflow/models
research/slim/nets/nasnet/nasnet_utils.py) and, where the two differ, the Keras
applications NASNet (keras/applications/nasnet.py), whose parameter counts we
match exactly.

Example:
    >>> cfg = LayerConfig(bn_momentum=0.9997, bn_epsilon=1e-3, weight_decay=4e-5)
    >>> y = SeparableStack(filters=44, kernel_size=5, strides=2, config=cfg)(x)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf
import tf_keras


@dataclasses.dataclass(frozen=True)
class LayerConfig:
    """Batch norm and weight decay settings shared by all layers of a network.

    Slim's defaults: CIFAR BN decay 0.9, eps 1e-5, weight decay 5e-4; ImageNet
    Mobile 0.9997 / 1e-3 / 4e-5; Large 0.9997 / 1e-3 / 5e-5 (nasnet.py arg scopes).
    ``weight_decay`` is slim's ``l2_regularizer`` scale, i.e. the loss gets
    ``weight_decay * sum(w**2) / 2``.

    ``sync_batch_norm``: batch statistics over the global batch of all
    replicas (``tf_keras.layers.BatchNormalization(synchronized=True)``, an
    all-reduce per layer in training) instead of each replica's own images.
    Needed when a replica holds only a few images (detection: 2 per GPU);
    outside a multi-replica strategy it is plain batch norm.
    """

    bn_momentum: float = 0.9997
    bn_epsilon: float = 1e-3
    weight_decay: float = 0.0
    sync_batch_norm: bool = False

    def __post_init__(self):
        if not 0.0 <= self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum}")
        if self.bn_epsilon <= 0:
            raise ValueError(f"bn_epsilon must be > 0, got {self.bn_epsilon}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not isinstance(self.sync_batch_norm, bool):
            raise ValueError(f"sync_batch_norm must be true or false, got {self.sync_batch_norm!r}")

    def batch_norm(self, name: str | None = None) -> tf_keras.layers.BatchNormalization:
        return tf_keras.layers.BatchNormalization(
            momentum=self.bn_momentum, epsilon=self.bn_epsilon,
            synchronized=self.sync_batch_norm, name=name)

    def regularizer(self):
        if not self.weight_decay:
            return None
        return tf_keras.regularizers.L2(self.weight_decay / 2.0)

    def conv(self, filters: int, kernel_size, strides=1, dilation_rate=1,
             name: str | None = None) -> tf_keras.layers.Conv2D:
        return tf_keras.layers.Conv2D(
            filters, kernel_size, strides=strides, padding="same", use_bias=False,
            dilation_rate=dilation_rate, kernel_initializer="he_normal",
            kernel_regularizer=self.regularizer(), name=name)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LayerConfig":
        return cls(**data)


class ReluConvBn(tf_keras.layers.Layer):
    """ReLU -> conv (no bias) -> BN. Output ``[B, H/s, W/s, filters]``."""

    def __init__(self, filters: int, kernel_size=1, strides: int = 1,
                 config: LayerConfig | dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.config = _layer_config(config)
        self.conv = self.config.conv(filters, kernel_size, strides, name="conv")
        self.bn = self.config.batch_norm(name="bn")

    def call(self, x, training=None):
        return self.bn(self.conv(tf.nn.relu(x)), training=training)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "config": dataclasses.asdict(self.config)}


class SeparableStack(tf_keras.layers.Layer):
    """Two [ReLU, depthwise-separable conv KxK, BN], the stride on the first.

    slim ``_stacked_separable_conv`` ("separable_KxK_2"). Output
    ``[B, H/s, W/s, filters]``.
    """

    def __init__(self, filters: int, kernel_size: int, strides: int = 1,
                 config: LayerConfig | dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.config = _layer_config(config)
        reg = self.config.regularizer()
        self.convs, self.bns = [], []
        for i, s in enumerate((strides, 1)):
            self.convs.append(tf_keras.layers.SeparableConv2D(
                filters, kernel_size, strides=s, padding="same", use_bias=False,
                depthwise_initializer="he_normal", pointwise_initializer="he_normal",
                depthwise_regularizer=reg, pointwise_regularizer=reg,
                name=f"separable_{i}"))
            self.bns.append(self.config.batch_norm(name=f"bn_{i}"))

    def call(self, x, training=None):
        for conv, bn in zip(self.convs, self.bns):
            x = bn(conv(tf.nn.relu(x)), training=training)
        return x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "config": dataclasses.asdict(self.config)}


class FactorizedReduction(tf_keras.layers.Layer):
    """Halves the resolution without losing half the pixels (slim ``factorized_reduction``).

    Stride 2: two paths, 1x1 avg-pool stride 2 then 1x1 conv, the second on the
    input shifted by one pixel, each with half the filters, concatenated, BN.
    Stride 1: 1x1 conv, BN. The caller applies the ReLU first (as slim and
    Keras do). Output ``[B, H/s, W/s, filters]``.
    """

    def __init__(self, filters: int, strides: int = 2,
                 config: LayerConfig | dict | None = None, **kwargs):
        super().__init__(**kwargs)
        if strides not in (1, 2):
            raise ValueError(f"FactorizedReduction strides must be 1 or 2, got {strides}")
        self.filters = filters
        self.strides = strides
        self.config = _layer_config(config)
        if strides == 1:
            self.convs = [self.config.conv(filters, 1, name="conv")]
        else:
            half = filters // 2
            self.convs = [self.config.conv(half, 1, name="path1_conv"),
                          self.config.conv(filters - half, 1, name="path2_conv")]
        self.bn = self.config.batch_norm(name="bn")

    def call(self, x, training=None):
        if self.strides == 1:
            return self.bn(self.convs[0](x), training=training)
        path1 = x[:, ::2, ::2, :]  # == 1x1 average pool, stride 2, VALID.
        shifted = tf.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
        path2 = shifted[:, ::2, ::2, :]
        out = tf.concat([self.convs[0](path1), self.convs[1](path2)], axis=-1)
        return self.bn(out, training=training)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides,
                "config": dataclasses.asdict(self.config)}


def drop_path(x: tf.Tensor, keep_prob: tf.Tensor, noise: tf.Tensor | None = None) -> tf.Tensor:
    """Drops whole examples of a path: ``x / keep_prob * Bernoulli(keep_prob)``.

    Zoph et al. 2018, Sec. 4.1 (ScheduledDropPath); slim ``drop_path``.
    ``x``: ``[B, H, W, C]``; one draw per example. ``noise``: the uniform
    ``[B, 1, 1, 1]`` draws in [0, 1) (None: ``tf.random.uniform``); pass draws
    from a checkpointed ``tf.random.Generator`` to make a resumed run exact.
    """
    keep_prob = tf.cast(keep_prob, x.dtype)
    if noise is None:
        noise = tf.random.uniform([tf.shape(x)[0], 1, 1, 1], dtype=x.dtype)
    mask = tf.floor(keep_prob + tf.cast(noise, x.dtype))
    return x / keep_prob * mask


def scheduled_keep_prob(base_keep_prob: float, cell_index: int, total_cells: int,
                        progress: tf.Tensor) -> tf.Tensor:
    """slim ``_apply_drop_path`` version "v3": scaled by depth and by training progress.

    ``keep = 1 - (cell_index + 1) / total_cells * (1 - base)``, then
    ``keep = 1 - min(1, progress) * (1 - keep)`` where ``progress`` is
    ``step / total_training_steps``.
    """
    layer_ratio = (cell_index + 1) / float(total_cells)
    keep = 1.0 - layer_ratio * (1.0 - base_keep_prob)
    ratio = tf.minimum(1.0, tf.cast(progress, tf.float32))
    return 1.0 - ratio * (1.0 - keep)


def _layer_config(config: LayerConfig | dict | None) -> LayerConfig:
    if config is None:
        return LayerConfig()
    if isinstance(config, dict):
        return LayerConfig.from_dict(config)
    return config
