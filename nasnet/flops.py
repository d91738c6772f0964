"""Multiply-adds of a Keras model, counted as the NASNet papers count them.

Zoph et al. 2018 and the slim README report mult-adds of convolutions and
fully connected layers (NASNet-A Mobile: 564M, Large: 23.8B at 224/331 px).
We trace the model's inference graph for one image, let TensorFlow's profiler
count floating-point operations per op type and keep ``Conv2D``,
``DepthwiseConv2dNative`` and ``MatMul``; one mult-add is two flops.

Example:
    >>> count_mult_adds(model, (224, 224, 3))
    564...
"""

from __future__ import annotations

import tensorflow as tf

_MULT_ADD_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul", "BatchMatMulV2")


def count_mult_adds(model, input_shape: tuple[int, int, int]) -> int:
    """Mult-adds for one ``[1, *input_shape]`` forward pass in inference mode."""
    from tensorflow.python.framework import convert_to_constants

    @tf.function(input_signature=[tf.TensorSpec([1, *input_shape], tf.float32)])
    def forward(images):
        return model(images, training=False)

    concrete = forward.get_concrete_function()
    frozen = convert_to_constants.convert_variables_to_constants_v2(concrete)
    opts = (tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
        .with_empty_output().build())
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, cmd="op", options=opts)
    # The "op" view nests op types in a chain with cumulative totals: sum each
    # node's own float_ops.
    flops, stack = 0, [profile]
    while stack:
        node = stack.pop()
        if node.name in _MULT_ADD_OPS:
            flops += node.float_ops
        stack.extend(node.children)
    return flops // 2
