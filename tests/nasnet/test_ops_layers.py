"""Op layers and building blocks: shapes, parameter counts, drop path."""

import numpy as np
import pytest
import tensorflow as tf

from nasnet.genotype import ALL_OPS, Op
from nasnet.layers import (FactorizedReduction, LayerConfig, SeparableStack, drop_path,
                           scheduled_keep_prob)
from nasnet.ops import make_op

CFG = LayerConfig(bn_momentum=0.9, bn_epsilon=1e-3)


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda o: o.value)
@pytest.mark.parametrize("strides", [1, 2])
def test_every_op_maps_to_filters_channels_at_the_right_resolution(op, strides):
    x = tf.random.normal([2, 9, 9, 6])
    layer = make_op(op, filters=8, strides=strides, input_channels=6, config=CFG)
    y = layer(x, training=True)
    size = 9 if strides == 1 else 5
    assert y.shape == (2, size, size, 8)


def test_identity_is_free_when_nothing_changes():
    layer = make_op(Op.IDENTITY, 8, 1, 8, CFG)
    x = tf.random.normal([1, 4, 4, 8])
    np.testing.assert_array_equal(layer(x), x)
    assert layer.count_params() == 0


def test_pool_adds_a_projection_only_when_channels_differ():
    same = make_op(Op.MAX_POOL_3X3, 8, 1, 8, CFG)
    same(tf.zeros([1, 4, 4, 8]))
    other = make_op(Op.MAX_POOL_3X3, 8, 1, 6, CFG)
    other(tf.zeros([1, 4, 4, 6]))
    assert same.count_params() == 0
    assert other.count_params() == 6 * 8 + 4 * 8


def test_separable_stack_parameter_count():
    layer = SeparableStack(8, 5, 2, config=CFG)
    layer(tf.zeros([1, 8, 8, 4]))
    # depthwise 5x5xCin + pointwise CinxF, twice, + 2 BN (4 F each).
    assert layer.count_params() == (25 * 4 + 4 * 8) + (25 * 8 + 8 * 8) + 2 * 4 * 8


def test_factorized_reduction_keeps_both_pixel_phases():
    x = tf.reshape(tf.range(16, dtype=tf.float32), [1, 4, 4, 1])
    layer = FactorizedReduction(2, 2, config=CFG)
    layer(x)
    layer.convs[0].set_weights([np.ones([1, 1, 1, 1])])
    layer.convs[1].set_weights([np.ones([1, 1, 1, 1])])
    y = layer(x, training=False).numpy() * np.sqrt(1 + 1e-3)  # undo inference BN
    np.testing.assert_allclose(y[0, :, :, 0], [[0, 2], [8, 10]], atol=1e-4)
    np.testing.assert_allclose(y[0, :, :, 1], [[5, 7], [13, 15]], atol=1e-4)


def test_factorized_reduction_odd_filters_and_bad_stride():
    layer = FactorizedReduction(5, 2, config=CFG)
    assert layer(tf.zeros([1, 7, 7, 3])).shape == (1, 4, 4, 5)
    with pytest.raises(ValueError, match="strides must be 1 or 2, got 3"):
        FactorizedReduction(4, 3)


def test_make_op_rejects_bad_stride():
    with pytest.raises(ValueError, match="op strides must be 1 or 2, got 4"):
        make_op(Op.IDENTITY, 4, 4, 4, CFG)


@pytest.mark.parametrize("kwargs, message", [
    ({"bn_momentum": 1.0}, "bn_momentum must be in"),
    ({"bn_epsilon": 0.0}, "bn_epsilon must be > 0"),
    ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
    ({"sync_batch_norm": "yes"}, "sync_batch_norm must be true or false, got 'yes'"),
])
def test_layer_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LayerConfig(**kwargs)


def test_weight_decay_matches_slim_l2_regularizer():
    layer = make_op(Op.CONV_1X1, 4, 1, 4, LayerConfig(weight_decay=0.1))
    layer(tf.zeros([1, 2, 2, 4]))
    kernel = layer.conv.kernel
    # slim l2_regularizer(scale) = scale * sum(w^2) / 2.
    np.testing.assert_allclose(sum(layer.losses), 0.1 * tf.reduce_sum(kernel ** 2) / 2, rtol=1e-5)


def test_drop_path_keeps_the_expectation_and_drops_whole_examples():
    tf.random.set_seed(0)
    x = tf.ones([4000, 2, 2, 3])
    y = drop_path(x, tf.constant(0.7)).numpy()
    per_example = y.reshape(4000, -1)
    values = np.unique(per_example)
    assert len(values) == 2 and values[0] == 0.0
    np.testing.assert_allclose(values[1], 1 / 0.7, rtol=1e-6)
    assert np.all(per_example.min(1) == per_example.max(1))
    assert abs(y.mean() - 1.0) < 0.05


def test_drop_path_with_given_noise_is_that_draw():
    x = tf.ones([3, 2, 2, 1])
    noise = tf.constant([0.1, 0.5, 0.9], shape=[3, 1, 1, 1])
    y = drop_path(x, tf.constant(0.5), noise=noise).numpy()
    # floor(0.5 + u): dropped for u < 0.5, kept (scaled by 1 / 0.5) otherwise.
    np.testing.assert_allclose(y[:, 0, 0, 0], [0.0, 2.0, 2.0])


def test_scheduled_keep_prob_scales_with_depth_and_progress():
    # slim v3: keep = 1 - (i+1)/n * (1-p), then 1 - min(1, t) * (1 - keep).
    assert float(scheduled_keep_prob(0.6, 9, 10, 0.0)) == pytest.approx(1.0)
    assert float(scheduled_keep_prob(0.6, 9, 10, 1.0)) == pytest.approx(0.6)
    assert float(scheduled_keep_prob(0.6, 4, 10, 1.0)) == pytest.approx(0.8)
    assert float(scheduled_keep_prob(0.6, 9, 10, 0.5)) == pytest.approx(0.8)
    assert float(scheduled_keep_prob(0.6, 9, 10, 3.0)) == pytest.approx(0.6)
