"""The nasnet backbone in official.vision's factory, and backbone-only weight loading."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.vision.configs import common
from official.vision.modeling.backbones import factory

from detection import backbone, weights
from nasnet import cell as nas_cell
from nasnet import known_genotypes, networks

TINY = backbone.NasnetBackboneConfig(genotype="pnasnet_5", size="1@80", min_level=3)


def _build(config=TINY, size=64, norm=None, l2=None):
    return factory.build_backbone(
        tf_keras.layers.InputSpec(shape=[None, size, size, 3]),
        backbone.Backbone(type="nasnet", nasnet=config),
        norm or common.NormActivation(norm_momentum=0.9, norm_epsilon=1e-3),
        l2_regularizer=l2)


def test_factory_builds_levels_from_the_structure():
    model = _build()
    assert isinstance(model, backbone.NasnetFpnBackbone)
    assert model.genotype == known_genotypes.PNASNET_5
    specs = {k: v.as_list() for k, v in model.output_specs.items()}
    # PNASNet-5 concatenates 5 states: F = 80 / (4 * 5) = 4, widths 20 / 40 / 80.
    assert specs == {"3": [None, 8, 8, 20], "4": [None, 4, 4, 40], "5": [None, 2, 2, 80]}
    out = model(tf.zeros([2, 64, 64, 3]))
    assert sorted(out) == ["3", "4", "5"] and out["5"].shape == (2, 2, 2, 80)


def test_kernel_config_maps_norm_and_weight_decay():
    cfg = backbone.kernel_config(
        backbone.NasnetBackboneConfig(size="2@96", num_conv_filters=8, stem="cifar",
                                      drop_path_keep_prob=0.8),
        norm_momentum=0.97, norm_epsilon=1e-4, l2_regularizer=tf_keras.regularizers.L2(2e-5))
    assert (cfg.num_cells_per_stack, cfg.num_conv_filters, cfg.stem) == (2, 8, "cifar")
    assert cfg.layer.weight_decay == pytest.approx(4e-5)  # official.vision passes wd / 2
    assert (cfg.layer.bn_momentum, cfg.layer.bn_epsilon) == (0.97, 1e-4)
    assert cfg.drop_path_keep_prob == 0.8
    assert cfg.layer.sync_batch_norm is False
    assert backbone.kernel_config(TINY, use_sync_bn=True).layer.sync_batch_norm is True


def test_use_sync_bn_normalises_the_cells_over_both_replicas(tmp_path):
    """2 logical CPUs, MirroredStrategy (sync_bn_helpers.py): replica 1 sees replica 0's
    images plus a constant, which per-replica batch norm removes and global batch
    norm does not."""
    import json
    import os
    import subprocess
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    out = tmp_path / "facts.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, os.path.join(here, "sync_bn_helpers.py"), str(out)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = json.loads(out.read_text())
    plain, sync = facts["per_replica"], facts["sync"]
    assert facts["replicas"] == 2
    assert plain["synchronized"] == 0 and sync["synchronized"] == sync["batch_norms"] > 50
    assert plain["max_difference"] < 1e-3 * plain["scale"]
    assert sync["max_difference"] > 0.1 * sync["scale"]


def test_cifar_stem_levels():
    model = _build(backbone.NasnetBackboneConfig(genotype="nasnet_a", size="1@48", stem="cifar",
                                                 min_level=0), size=32)
    assert sorted(model.output_specs, key=int) == ["0", "1", "2"]


@pytest.mark.parametrize("kwargs, message", [
    # The ImageNet stem's VALID 3x3/2 convolution makes level 1 31 px for 64 px inputs.
    ({"config": TINY.replace(min_level=1)}, "level 1 size 31 and level 2 size 16"),
    ({"config": TINY.replace(min_level=6)}, "min_level 6 is not a level"),
    ({"size": 80}, "FPN needs each level to be exactly twice"),
    ({"norm": common.NormActivation(activation="swish")}, "uses ReLU"),
    ({"l2": tf_keras.regularizers.L1(1e-4)}, "only an L2 regularizer"),
    ({"config": TINY.replace(num_conv_filters=-1)}, "num_conv_filters must be >= 0"),
    ({"config": TINY.replace(size="big")}, "must look like 'N@P'"),
    ({"config": TINY.replace(genotype="no_such_cell")}, "cannot resolve genotype"),
])
def test_bad_backbone_configs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _build(**kwargs)


def test_builder_rejects_other_types():
    with pytest.raises(ValueError, match="build_nasnet got a backbone config of type 'resnet'"):
        backbone.build_nasnet(tf_keras.layers.InputSpec(shape=[None, 64, 64, 3]),
                              backbone.Backbone(type="resnet"), common.NormActivation())


def test_drop_path_schedule_follows_the_global_step():
    from detection import task, train_lib
    model = _build(TINY.replace(drop_path_keep_prob=0.7, total_training_steps=100))
    cells = [c for c in nas_cell.nas_cells(model) if c.uses_drop_path]
    assert cells and all(float(c.drop_path_progress.numpy()) == 0.0 for c in cells)
    assert task.update_drop_path(model, 50, 100) == 0.5
    assert all(float(c.drop_path_progress.numpy()) == 0.5 for c in cells)

    class Trainer:  # what the Orbit action reads
        global_step = tf.Variable(250, dtype=tf.int64)

    Trainer.model = model
    train_lib._DropPathAction(Trainer, 100)(None)  # pylint: disable=protected-access
    assert all(float(c.drop_path_progress.numpy()) == 1.0 for c in cells)


def test_config_round_trip():
    model = _build()
    clone = backbone.NasnetFpnBackbone.from_config(model.get_config())
    assert clone.output_specs == model.output_specs and clone.min_level == 3


def _classifier(genotype, tmp_path, name, penultimate_filters=80):
    cfg = networks.ClassifierConfig(
        backbone=networks.BackboneConfig(num_cells_per_stack=1,
                                         penultimate_filters=penultimate_filters),
        num_classes=3, image_size=64, use_aux_head=False)
    model = networks.build_classifier(genotype, cfg)
    prefix = str(tmp_path / name / "ckpt")
    tf.train.Checkpoint(model=model).write(prefix)
    return model, prefix


def test_restore_backbone_from_a_classifier_checkpoint_and_savedmodel(tmp_path):
    classifier, prefix = _classifier(known_genotypes.PNASNET_5, tmp_path, "cls")
    source = classifier.get_layer(index=1)
    assert isinstance(source, networks.NasnetBackbone)
    target = _build()
    where = weights.restore_backbone(target, prefix)
    assert where.startswith("model/layer_with_weights-0/")
    for a, b in zip(source.weights, target.nasnet.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # A directory with final/ckpt (a transfer run) and a SavedModel's variables work too.
    module = tf.Module()
    module.model = networks.inference_model(classifier)
    tf.saved_model.save(module, str(tmp_path / "export" / "saved_model"))
    other = _build()
    assert weights.restore_backbone(other, str(tmp_path / "export")).startswith("model/")
    np.testing.assert_array_equal(other.nasnet.weights[0].numpy(), source.weights[0].numpy())


def test_restore_backbone_refuses_another_architecture(tmp_path):
    # Same stem (32 filters), other cells: found at the classifier's place, refused there.
    _, prefix = _classifier(known_genotypes.NASNET_A, tmp_path, "other", 96)
    with pytest.raises(ValueError, match="holds no NASNet backbone matching pnasnet_5 1@80 "
                                         r"\(imagenet stem\): model/layer_with_weights-0/"):
        weights.restore_backbone(_build(), prefix)
    with pytest.raises(ValueError, match="no checkpoint at"):
        weights.restore_backbone(_build(), str(tmp_path / "missing" / "ckpt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no checkpoint"):
        weights.checkpoint_prefix(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="is not a NASNet backbone"):
        weights.restore_backbone(tf_keras.Sequential([tf_keras.layers.Dense(1)]), prefix)
