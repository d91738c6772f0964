"""The supernet: a sampled path is the derived NasCell; one trace serves every architecture;
only the chosen candidates learn; bad sizes are refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from nasnet.cell import NasCell
from nasnet.genotype import Block, Cell, Genotype
from nasnet.layers import LayerConfig
from search_cifar.space import NasnetCellSpace
from search_cifar.weight_sharing import architecture as arch_lib
from search_cifar.weight_sharing.config import SharedTrainingConfig, SupernetConfig
from search_cifar.weight_sharing.evaluator import SupernetEvaluator
from search_cifar.weight_sharing.supernet import Supernet
from search_cifar.weight_sharing.supernet_cell import SupernetCell
from search_cifar.weight_sharing.training import SupernetTrainer

OPS = ("sep_conv_3x3", "max_pool_3x3", "identity")
HOLDS = arch_lib.SupernetOps(num_blocks=3, ops=OPS)
SPACE = NasnetCellSpace(num_blocks=3, ops=OPS)
F = 4

# Block 1 of the reduction cell reads block 0 (a stride-1 candidate), block 2
# reads state 1 (stride 2) and block 1; the normal cell reads every kind of state.
CELL = Cell.with_unused_concat([Block(0, "sep_conv_3x3", 1, "max_pool_3x3"),
                                Block(2, "identity", 0, "sep_conv_3x3"),
                                Block(1, "identity", 3, "max_pool_3x3")])
PREFIX = Cell.with_unused_concat([Block(1, "sep_conv_3x3", 0, "identity")])


def _nascell_with_supernet_weights(cell_def: Cell, sc: SupernetCell, kind: str,
                                   reduce_prev: bool, h, p) -> NasCell:
    """The NasCell of ``cell_def`` holding the supernet cell's weights of that path."""
    nc = NasCell(cell_def, F, strides=2 if kind == "reduction" else 1,
                 layer_config=sc.layer_config, reduce_prev=reduce_prev)
    nc([h, p], training=True)
    nc.h_project.set_weights(sc.h_project.get_weights())
    nc.p_adjust.set_weights(sc.p_adjust.get_weights())
    for k, block in enumerate(cell_def.blocks):
        for side, (index, op) in enumerate(zip(block.inputs, block.ops)):
            strided = kind == "reduction" and index < 2
            start = sc._slots[(k, side, strided)]
            nc.branches[2 * k + side].set_weights(
                sc.candidates[start + OPS.index(op.value)].get_weights())
    return nc


@pytest.mark.parametrize("kind, reduce_prev, cell_def", [
    ("normal", False, CELL), ("reduction", False, CELL), ("normal", True, CELL),
    ("reduction", False, PREFIX),
])
def test_a_sampled_path_computes_the_derived_nascell(kind, reduce_prev, cell_def):
    tf.keras.utils.set_random_seed(0)
    h = tf.random.normal([2, 8, 8, 6])
    p = tf.random.normal([2, 16, 16, 5] if reduce_prev else [2, 8, 8, 5])
    genotype = Genotype(normal=cell_def, reduction=cell_def)
    arch = arch_lib.encode_genotype(NasnetCellSpace(cell_def.num_blocks, OPS), HOLDS, genotype)
    sc = SupernetCell(kind, 3, HOLDS.op_values, F, 0, 1, 1.0, LayerConfig(0.9, 1e-3),
                      reduce_prev=reduce_prev)
    out = sc([h, p], arch[1 if kind == "reduction" else 0])
    size = 4 if kind == "reduction" else 8
    assert out.shape == (2, size, size, 3 * F)
    nc = _nascell_with_supernet_weights(cell_def, sc, kind, reduce_prev, h, p)
    reference = nc([h, p], training=True)
    slots = [s - 2 for s in cell_def.concat]
    picked = tf.concat([out[..., k * F:(k + 1) * F] for k in slots], axis=-1)
    np.testing.assert_allclose(picked.numpy(), reference.numpy(), rtol=1e-5, atol=1e-5)
    for k in set(range(3)) - set(slots):           # consumed or inactive blocks: zero slots
        assert not np.any(out[..., k * F:(k + 1) * F].numpy())


def test_a_supernet_cell_kind_must_be_known():
    with pytest.raises(ValueError, match="cell kind must be one of"):
        SupernetCell("stem", 2, HOLDS.op_values, F, 0, 1)


# -- the whole supernet and its traced steps --------------------------------------------
TINY = SupernetConfig(num_blocks=2, ops=OPS, num_cells_per_stack=1, out_filters=4,
                      use_aux_head=False, drop_path_keep_prob=1.0, dense_dropout_keep_prob=1.0,
                      weight_decay=0.0)
TINY_SPACE = NasnetCellSpace(num_blocks=2, ops=OPS)


@pytest.fixture(scope="module")
def trained():
    """A tiny supernet trained by plain SGD (no momentum, decay or clipping) for 3 steps
    on 3 architectures; per step the variables before and after, and the chosen layers."""
    tf.keras.utils.set_random_seed(1)
    model = Supernet(TINY, num_classes=10, image_size=8)
    trainer = SupernetTrainer(model, SharedTrainingConfig(epochs=1, momentum=0.0, nesterov=False,
                                                          clip_norm=None),
                              steps_per_epoch=3, strategy=tf.distribute.get_strategy())
    images = np.random.default_rng(0).normal(size=[24, 8, 8, 3]).astype(np.float32)
    labels = np.random.default_rng(1).integers(0, 10, 24)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8).repeat()
    iterator = iter(trainer.strategy.experimental_distribute_dataset(data))
    points = [(0, 0, 1, 2) * 4, (1, 1, 0, 0, 0, 2, 1, 1, 2, 0, 0, 1, 2, 2, 1, 0),
              (0, 2, 1, 1, 1, 2, 0, 0) + (2, 0, 1, 1) * 2]
    steps = []
    for choices in points:
        arch = arch_lib.encode(TINY_SPACE, TINY.holds(), choices)
        before = {v.ref(): v.numpy() for v in model.trainable_variables}
        loss, correct, count = trainer.train_step(iterator, tf.constant(arch))
        after = {v.ref(): v.numpy() for v in model.trainable_variables}
        steps.append((arch, before, after, float(loss), int(count)))
    accuracy = [trainer.eval_step(iterator, tf.constant(arch_lib.encode(TINY_SPACE, TINY.holds(), c)))
                for c in points]
    return model, trainer, steps, accuracy


def _chosen_layers(model: Supernet, arch: np.ndarray) -> set[int]:
    chosen = set()
    for cell in model.cells:
        rows = arch[1 if cell.kind == "reduction" else 0]
        for k in range(cell.num_blocks):
            for side, (in_col, op_col) in enumerate(((0, 1), (2, 3))):
                strided = cell.kind == "reduction" and rows[k, in_col] < 2
                chosen.add(id(cell.candidates[cell._slots[(k, side, strided)] + rows[k, op_col]]))
    return chosen


def test_one_trace_serves_every_architecture(trained):
    model, trainer, steps, accuracy = trained
    assert trainer.train_step.experimental_get_tracing_count() == 1
    assert trainer.eval_step.experimental_get_tracing_count() == 1
    assert all(np.isfinite(s[3]) and s[4] == 8 for s in steps)
    assert all(0 <= int(c) <= int(n) == 8 for c, n in accuracy)
    assert trainer.step == 3


def test_only_the_chosen_candidates_learn(trained):
    model, _, steps, _ = trained
    for arch, before, after, _, _ in steps:
        chosen = _chosen_layers(model, arch)
        moved, still = 0, 0
        for cell in model.cells:
            for layer in cell.candidates:
                for v in layer.trainable_variables:
                    changed = not np.array_equal(before[v.ref()], after[v.ref()])
                    if id(layer) in chosen:
                        moved += changed
                    else:
                        assert not changed, f"{v.name} is not on the path but changed"
                        still += 1
        assert moved > 0 and still > 0
        # Parts every architecture uses always learn.
        for v in model.stem_conv.trainable_variables + model.logits_layer.trainable_variables:
            assert not np.array_equal(before[v.ref()], after[v.ref()])


def test_the_evaluator_scores_points_and_genotypes_on_validation_batches(trained):
    model, trainer, _, _ = trained
    evaluator = SupernetEvaluator(trainer, TINY_SPACE)
    with pytest.raises(ValueError, match="needs batches: call use_batches first"):
        evaluator.evaluate((0, 0, 1, 2) * 4)
    images = np.random.default_rng(2).normal(size=[20, 8, 8, 3]).astype(np.float32)
    labels = np.random.default_rng(3).integers(0, 10, 20)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    point = (1, 1, 0, 0, 0, 2, 1, 1, 2, 0, 0, 1, 2, 2, 1, 0)
    whole = evaluator.score(point, data)
    assert whole.metrics["examples"] == 20 and whole.error is None
    evaluator.use_batches(data)
    parts = [evaluator.evaluate(point) for _ in range(3)]
    assert [p.metrics["examples"] for p in parts] == [8, 8, 4]
    assert sum(p.metrics["correct"] for p in parts) == whole.metrics["correct"]
    assert evaluator.score(TINY_SPACE.decode(point), data) == whole
    with pytest.raises(ValueError, match="was given an empty dataset"):
        evaluator.score(point, data.take(0))
    assert trainer.eval_step.experimental_get_tracing_count() == 1


def test_the_supernet_outputs_and_its_aux_head():
    model = Supernet(SupernetConfig(num_blocks=2, ops=OPS, num_cells_per_stack=1, out_filters=4,
                                    use_aux_head=True), num_classes=7, image_size=12)
    arch = arch_lib.encode(TINY_SPACE, model.holds, (0, 0, 1, 2) * 4)
    images = tf.zeros([3, 12, 12, 3])
    assert set(model(images, arch, training=False)) == {"logits"}
    outputs = model(images, arch, training=True)
    assert outputs["logits"].shape == (3, 7) and outputs["aux_logits"].shape == (3, 7)
    assert [c.kind for c in model.cells] == ["normal", "reduction", "normal", "reduction", "normal"]
    assert model.final_filters == 4 * 4 * 2


@pytest.mark.parametrize("kwargs, message", [
    ({"config": "tiny"}, "config must be a SupernetConfig"),
    ({"num_classes": 1}, "num_classes must be an int >= 2"),
    ({"image_size": 10}, "image_size must be a multiple of 4"),
    ({"config": SupernetConfig(num_blocks=2, ops=OPS, num_cells_per_stack=1, out_filters=4),
      "image_size": 8}, "the aux head needs a resolution of at least 5"),
])
def test_bad_supernet_arguments(kwargs, message):
    args = {"config": TINY, "num_classes": 10, "image_size": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        Supernet(**args)


def test_a_trainer_needs_steps():
    model = Supernet(TINY, num_classes=10, image_size=8)
    with pytest.raises(ValueError, match="steps_per_epoch must be an int >= 1"):
        SupernetTrainer(model, SharedTrainingConfig(), 0, tf.distribute.get_strategy())


# -- precision and XLA ----------------------------------------------------------------------
def _train(config: SupernetConfig, training: SharedTrainingConfig, steps: int, image_size=8):
    tf.keras.utils.set_random_seed(2)
    model = Supernet(config, num_classes=10, image_size=image_size,
                     mixed_precision=training.mixed_precision)
    trainer = SupernetTrainer(model, training, steps_per_epoch=steps,
                              strategy=tf.distribute.get_strategy())
    images = np.random.default_rng(0).normal(size=[8, image_size, image_size, 3])
    labels = np.random.default_rng(1).integers(0, 10, 8)
    data = tf.data.Dataset.from_tensors((images.astype(np.float32), labels)).repeat()
    iterator = iter(trainer.strategy.experimental_distribute_dataset(data))
    arch = tf.constant(arch_lib.encode(TINY_SPACE, TINY.holds(), (0, 0, 1, 2) * 4))
    losses = [float(trainer.train_step(iterator, arch)[0]) for _ in range(steps)]
    correct, count = trainer.eval_step(iterator, arch)
    return model, trainer, losses, (int(correct), int(count))


@pytest.mark.parametrize("policy, compute", [
    pytest.param("mixed_bfloat16", tf.bfloat16, marks=pytest.mark.slow),
    ("mixed_float16", tf.float16)])
def test_mixed_precision_computes_in_16_bits_on_float32_variables(policy, compute):
    config = SupernetConfig(num_blocks=2, ops=OPS, num_cells_per_stack=1, out_filters=4,
                            use_aux_head=True, drop_path_keep_prob=0.7)
    model, trainer, losses, (correct, count) = _train(
        config, SharedTrainingConfig(epochs=1, mixed_precision=policy), 3, image_size=12)
    assert all(np.isfinite(losses)) and count == 8 and 0 <= correct <= 8
    assert tf_keras.mixed_precision.global_policy().name == "float32"   # restored
    assert model.stem_conv.compute_dtype == compute.name
    assert model.cells[0].candidates[0].compute_dtype == compute.name
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    arch = arch_lib.encode(TINY_SPACE, model.holds, (0, 0, 1, 2) * 4)
    outputs = model(tf.zeros([2, 12, 12, 3]), arch, training=True)
    assert outputs["logits"].dtype == outputs["aux_logits"].dtype == tf.float32
    # float16 scales the loss (dynamically); bfloat16 has float32's range and needs none.
    scaled = isinstance(trainer.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16") == trainer.loss_scaling
    assert trainer.step == 3      # a step skipped for overflow still counts as a step
    assert trainer.train_step.experimental_get_tracing_count() == 1


@pytest.mark.slow
def test_a_float16_supernet_computes_the_float32_one_and_learns():
    tf.keras.utils.set_random_seed(2)
    full = Supernet(TINY, num_classes=10, image_size=8)
    half = Supernet(TINY, num_classes=10, image_size=8, mixed_precision="mixed_float16")
    half.set_weights(full.get_weights())
    images = np.random.default_rng(0).normal(size=[8, 8, 8, 3]).astype(np.float32)
    arch = arch_lib.encode(TINY_SPACE, TINY.holds(), (0, 0, 1, 2) * 4)
    expected = full(images, arch, training=True)["logits"].numpy()
    got = half(images, arch, training=True)["logits"].numpy()
    np.testing.assert_allclose(got, expected, atol=0.02 * np.abs(expected).max())
    training = SharedTrainingConfig(epochs=1, learning_rate_max=0.1, learning_rate_min=0.1,
                                    mixed_precision="mixed_float16")
    _, _, losses, _ = _train(TINY, training, 8)
    assert losses[-1] < 0.7 * losses[0]          # it fits the 8 images


@pytest.mark.slow
def test_xla_compiles_each_replica_pass_once():
    training = SharedTrainingConfig(epochs=1, jit_compile=True)
    model, trainer, losses, (correct, count) = _train(TINY, training, 2)
    assert all(np.isfinite(losses)) and count == 8
    assert trainer._replica_gradients.experimental_get_tracing_count() == 1
    assert trainer.train_step.experimental_get_tracing_count() == 1


def test_a_supernet_precision_must_be_known():
    with pytest.raises(ValueError, match="mixed_precision must be one of float32, "
                                         "mixed_float16, mixed_bfloat16, got 'auto'"):
        Supernet(TINY, num_classes=10, image_size=8, mixed_precision="auto")
