"""NasCell: shapes, config round trip with non-default genotypes, drop path, errors."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from nasnet import known_genotypes
from nasnet.cell import DropPathSchedule, NasCell, nas_cells, output_width, set_drop_path_progress
from nasnet.genotype import Block, Cell, Combine, Op
from nasnet.layers import LayerConfig

# A cell no published network has: concat combine, plain convs, inputs concatenated.
ODD_CELL = Cell(blocks=(Block(0, Op.CONV_1X3_3X1, 1, Op.DIL_CONV_3X3, Combine.CONCAT),
                        Block(2, Op.MAX_POOL_5X5, 1, Op.CONV_3X3),
                        Block(3, Op.IDENTITY, 2, Op.SEP_CONV_7X7)),
                concat=(0, 1, 4))


def build(cell, filters, strides, h_shape, p_shape=None, **kwargs):
    layer = NasCell(cell, filters=filters, strides=strides, total_cells=4, cell_index=1, **kwargs)
    h = tf.random.normal(h_shape)
    p = None if p_shape is None else tf.random.normal(p_shape)
    y = layer(h if p is None else [h, p], training=True)
    return layer, y


@pytest.mark.parametrize("genotype", list(known_genotypes.KNOWN.values()), ids=lambda g: g.name)
def test_published_cells_shapes(genotype):
    _, y = build(genotype.normal, 4, 1, [2, 8, 8, 10], [2, 16, 16, 7])
    assert y.shape == (2, 8, 8, output_width(genotype.normal, 4))
    _, y = build(genotype.reduction, 4, 2, [2, 8, 8, 10], [2, 8, 8, 7])
    assert y.shape == (2, 4, 4, output_width(genotype.reduction, 4))


def test_odd_cell_concat_combine_and_concatenated_inputs():
    layer, y = build(ODD_CELL, 4, 2, [2, 9, 9, 6], [2, 9, 9, 5])
    # states 0 and 1 reduced to 4 channels each, block 2 (state 4) is a plain add.
    assert y.shape == (2, 5, 5, 4 + 4 + 4)
    assert set(layer.concat_reduce) == {"0", "1"}
    assert output_width(Cell.with_unused_concat(ODD_CELL.blocks), 4) == 4


def test_without_previous_cell_p_is_the_raw_input():
    layer, y = build(known_genotypes.NASNET_A.normal, 4, 1, [1, 6, 6, 12])
    assert layer.p_adjust is None
    # state 1 (12 channels) is concatenated, so slim reduces it to 4 channels first.
    assert "1" in layer.concat_reduce and y.shape == (1, 6, 6, 24)


def test_config_round_trip_rebuilds_the_same_cell():
    layer, _ = build(ODD_CELL, 4, 2, [2, 8, 8, 6], [2, 16, 16, 5], drop_path_keep_prob=0.8,
                     layer_config=LayerConfig(0.9, 1e-5, 1e-4))
    config = layer.get_config()
    clone = NasCell.from_config(config)
    assert clone.cell == ODD_CELL and clone.get_config() == config
    h, p = tf.random.normal([2, 8, 8, 6]), tf.random.normal([2, 16, 16, 5])
    clone([h, p])
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone([h, p], training=False), layer([h, p], training=False), atol=1e-5)


def test_drop_path_only_in_training_and_scheduled_by_progress():
    cell = Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 0, Op.SEP_CONV_3X3),), concat=(2,))
    layer, _ = build(cell, 4, 1, [64, 4, 4, 4], drop_path_keep_prob=0.5)
    x = tf.random.normal([64, 4, 4, 4])
    # progress 0 -> keep 1: training output is deterministic.
    np.testing.assert_allclose(layer(x, training=True), layer(x, training=True), atol=1e-5)
    layer.drop_path_progress.assign(1.0)
    a, b = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.allclose(a, b)
    np.testing.assert_allclose(layer(x, training=False), layer(x, training=False))


def test_drop_path_progress_is_not_a_parameter_and_is_set_for_every_cell():
    inputs = tf_keras.Input((8, 8, 4))
    x = NasCell(known_genotypes.NASNET_A.normal, 4, drop_path_keep_prob=0.7, total_cells=2,
                name="c0")(inputs)
    x = NasCell(known_genotypes.NASNET_A.normal, 4, drop_path_keep_prob=0.7, cell_index=1,
                total_cells=2, name="c1")([x, inputs])
    model = tf_keras.Model(inputs, x)
    no_drop = tf_keras.Model(inputs, NasCell(known_genotypes.NASNET_A.normal, 4, name="d")(inputs))
    assert model.layers[1].count_params() == no_drop.layers[1].count_params()
    assert all("progress" not in w.name for w in model.weights)
    set_drop_path_progress(model, 0.25)
    assert [float(c.drop_path_progress.numpy()) for c in nas_cells(model)] == [0.25, 0.25]


def test_drop_path_schedule_follows_the_optimizer_step_counted_on_the_host():
    inputs = tf_keras.Input((4, 4, 3))
    x = NasCell(known_genotypes.NASNET_A.normal, 2, drop_path_keep_prob=0.5, total_cells=1)(inputs)
    out = tf_keras.layers.Dense(1)(tf_keras.layers.GlobalAveragePooling2D()(x))
    model = tf_keras.Model(inputs, out)
    seen = []

    class Probe(tf_keras.callbacks.Callback):     # the progress each execution runs with
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(nas_cells(self.model)[0].drop_path_progress.numpy()))

    model.compile(optimizer="sgd", loss="mse")
    data = (np.zeros([8, 4, 4, 3]), np.zeros([8, 1]))
    schedule = DropPathSchedule(total_training_steps=16)
    model.fit(*data, batch_size=2, epochs=2, verbose=0, callbacks=[schedule, Probe()])
    # During step s (two epochs of 4 batches) the progress is s / 16.
    assert seen == pytest.approx([s / 16 for s in range(8)])
    assert schedule.steps.step == int(model.optimizer.iterations.numpy()) == 8
    assert schedule._supports_tf_logs

    # Two steps per execution, updates every 3 steps: Keras calls back at steps
    # 8, 10, 12, 14; the executions ending at 10, 12 and 16 cross a multiple of 3.
    seen.clear()
    model.compile(optimizer=model.optimizer, loss="mse", steps_per_execution=2)
    schedule = DropPathSchedule(total_training_steps=16, update_every=3)
    model.fit(data[0], data[1], batch_size=1, epochs=1, verbose=0,
              callbacks=[schedule, Probe()])
    assert seen == pytest.approx([8 / 16, 10 / 16, 12 / 16, 12 / 16])
    assert float(nas_cells(model)[0].drop_path_progress.numpy()) == 1.0
    assert schedule.steps.step == int(model.optimizer.iterations.numpy()) == 16
    with pytest.raises(ValueError, match="total_training_steps must be >= 1, got 0"):
        DropPathSchedule(0)
    with pytest.raises(ValueError, match="update_every must be a positive int, got 0"):
        DropPathSchedule(8, update_every=0)


def test_sync_batch_norm_reaches_every_layer_of_a_cell_and_its_config():
    layer, _ = build(ODD_CELL, 4, 2, [2, 8, 8, 6], [2, 16, 16, 5],
                     layer_config=LayerConfig(sync_batch_norm=True))
    clone = NasCell.from_config(layer.get_config())
    clone([tf.zeros([2, 8, 8, 6]), tf.zeros([2, 16, 16, 5])])
    for cell in (layer, clone):
        norms = [sub for sub in cell._flatten_layers()
                 if isinstance(sub, tf_keras.layers.BatchNormalization)]
        assert len(norms) > 5 and all(n.synchronized for n in norms)
    plain, _ = build(ODD_CELL, 4, 2, [2, 8, 8, 6], [2, 16, 16, 5])
    assert not any(getattr(sub, "synchronized", False) for sub in plain._flatten_layers())


def test_saved_model_export_with_drop_path(tmp_path):
    inputs = tf_keras.Input((8, 8, 3))
    x = NasCell(ODD_CELL, 2, strides=2, drop_path_keep_prob=0.5, total_cells=1)(inputs)
    model = tf_keras.Model(inputs, x)
    images = tf.random.normal([2, 8, 8, 3])
    expected = model(images, training=False)
    model.save(str(tmp_path / "sm"), save_format="tf")
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(loaded(images, training=False), expected, atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"cell": "x"}, "cell must be a Cell"),
    ({"filters": 0}, "filters must be a positive int, got 0"),
    ({"filters": 2.5}, "filters must be a positive int, got 2.5"),
    ({"strides": 3}, "cell strides must be 1 or 2, got 3"),
    ({"drop_path_keep_prob": 0.0}, r"drop_path_keep_prob must be in \(0, 1\], got 0.0"),
    ({"cell_index": 5, "total_cells": 5}, r"cell_index must be in \[0, total_cells=5\), got 5"),
])
def test_constructor_errors(kwargs, message):
    args = {"cell": ODD_CELL, "filters": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        NasCell(**args)


def test_incompatible_previous_cell_width_is_named():
    layer = NasCell(ODD_CELL, 4)
    with pytest.raises(ValueError, match="width 32, which a factorized reduction cannot bring"):
        layer([tf.zeros([1, 8, 8, 4]), tf.zeros([1, 32, 32, 4])])


def test_unknown_widths_need_reduce_prev():
    with pytest.raises(ValueError, match="pass reduce_prev=True/False"):
        NasCell(ODD_CELL, 4)([tf_keras.Input((None, None, 4)), tf_keras.Input((None, None, 4))])
    with pytest.raises(ValueError, match="reduce_prev=True but the inputs have widths 8 \\(h\\) and 8"):
        NasCell(ODD_CELL, 4, reduce_prev=True)([tf.zeros([1, 8, 8, 4]), tf.zeros([1, 8, 8, 4])])
    layer = NasCell(ODD_CELL, 4, reduce_prev=True)
    out = layer([tf_keras.Input((None, None, 4)), tf_keras.Input((None, None, 4))])
    assert out.shape[-1] == 12
