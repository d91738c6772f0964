"""Mult-add counting against hand-computed figures."""

import tensorflow as tf
import tf_keras

from nasnet.flops import count_mult_adds


def test_conv_separable_and_dense_mult_adds():
    inputs = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)       # 8*8*3*3*3*4
    x = tf_keras.layers.SeparableConv2D(6, 3, padding="same", use_bias=False)(x)   # 8*8*(9*4 + 4*6)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    out = tf_keras.layers.Dense(5)(x)                                              # 6*5
    model = tf_keras.Model(inputs, out)
    assert count_mult_adds(model, (8, 8, 3)) == 8 * 8 * 27 * 4 + 8 * 8 * (36 + 24) + 30
