"""SearchCheckpoint: a traced write that restores exactly, one trace for every save, only the
indexed weights kept, and a non-chief worker that leaves nothing behind."""

from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf
import tf_keras

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_helpers  # noqa: E402,F401  (puts the repository on sys.path)

from search_cifar.weight_sharing.checkpoint import SearchCheckpoint  # noqa: E402


def _objects(seed: int):
    model = tf.Module()
    rng = np.random.default_rng(seed)
    model.weights_ = [tf.Variable(rng.normal(size=[3, 4]).astype("f4")) for _ in range(3)]
    optimizer = tf_keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.build(model.weights_)
    return model, optimizer, tf.random.Generator.from_seed(seed)


def _values(model, optimizer, generator):
    return ([v.numpy() for v in model.weights_], int(optimizer.iterations.numpy()),
            generator.state.numpy())


def test_saves_are_traced_once_and_restore_the_last_one(tmp_path):
    model, optimizer, generator = _objects(0)
    ckpt = SearchCheckpoint(str(tmp_path), model=model, optimizer=optimizer, generator=generator)
    for step in range(3):
        model.weights_[0].assign_add(tf.ones([3, 4]))
        optimizer.apply_gradients(zip([tf.ones([3, 4])] * 3, model.weights_))
        generator.normal([2])
        ckpt.save({"step": step})
    assert ckpt._traced_write.experimental_get_tracing_count() == 1 and ckpt.traced
    saved = _values(model, optimizer, generator)
    # Only the indexed weights remain.
    names = {name.split(".")[0] for name in os.listdir(tmp_path) if name != "index.json"}
    assert names == {"ckpt-2"}

    fresh = _objects(1)
    index = SearchCheckpoint(str(tmp_path), model=fresh[0], optimizer=fresh[1],
                             generator=fresh[2]).restore()
    assert index["step"] == 2 and index["weights"] == "ckpt-2"
    restored = _values(*fresh)
    for a, b in zip(restored[0], saved[0]):
        np.testing.assert_array_equal(a, b)
    assert restored[1] == saved[1] == 3
    np.testing.assert_array_equal(restored[2], saved[2])


def test_a_non_chief_worker_writes_nothing_to_the_directory(tmp_path):
    model, optimizer, generator = _objects(0)
    ckpt = SearchCheckpoint(str(tmp_path / "ckpt"), chief=False, model=model,
                            optimizer=optimizer, generator=generator)
    ckpt.save({"step": 0})
    assert os.listdir(tmp_path / "ckpt") == []
    assert ckpt.restore() is None


def test_a_loss_scale_optimizer_restores_its_scale_and_its_inner_state(tmp_path):
    # training.mixed_precision=mixed_float16 checkpoints a LossScaleOptimizer: its dynamic
    # scale and good-step counter come back with the inner SGD's momentum.
    def objects(seed):
        model, _, generator = _objects(seed)
        optimizer = tf_keras.mixed_precision.LossScaleOptimizer(
            tf_keras.optimizers.SGD(0.1, momentum=0.9))
        optimizer.build(model.weights_)
        return model, optimizer, generator

    model, optimizer, generator = objects(0)
    optimizer.get_scaled_loss(tf.constant(1.0))       # (the usage a custom loop follows)
    grads = optimizer.get_unscaled_gradients([tf.fill([3, 4], np.inf)] * 3)
    optimizer.apply_gradients(zip(grads, model.weights_))                  # overflow: skipped
    optimizer.apply_gradients(zip([tf.ones([3, 4])] * 3, model.weights_))
    ckpt = SearchCheckpoint(str(tmp_path), model=model, optimizer=optimizer, generator=generator)
    ckpt.save({"step": 1})
    # A traced write would have left the scale out: this checkpoint writes eagerly, and its
    # file holds the scale and the counter.
    assert ckpt.traced is False
    ckpt.save({"step": 2})
    assert ckpt._traced_write.experimental_get_tracing_count() == 1   # the first save's only
    keys = {k for k, _ in tf.train.list_variables(str(tmp_path / "ckpt-1"))}
    assert {"optimizer/loss_scale/current_loss_scale/.ATTRIBUTES/VARIABLE_VALUE",
            "optimizer/loss_scale/good_steps/.ATTRIBUTES/VARIABLE_VALUE"} <= keys
    fresh = objects(1)
    SearchCheckpoint(str(tmp_path), model=fresh[0], optimizer=fresh[1],
                     generator=fresh[2]).restore()
    assert float(fresh[1].loss_scale) == float(optimizer.loss_scale) == 2.0 ** 14
    assert int(fresh[1].dynamic_counter) == int(optimizer.dynamic_counter) == 1
    momenta = [v.numpy() for v in optimizer.inner_optimizer.variables]
    for a, b in zip([v.numpy() for v in fresh[1].inner_optimizer.variables], momenta):
        np.testing.assert_array_equal(a, b)
    assert len(momenta) >= 4      # iterations, learning rate and one momentum per weight
