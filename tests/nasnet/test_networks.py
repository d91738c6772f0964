"""Networks: exact parameter counts vs keras.applications, shape tables, configs."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from nasnet import config_utils, flops, known_genotypes, networks
from nasnet.layers import LayerConfig

NASNET_A = known_genotypes.NASNET_A

# Tiny configs: shape tables without full-size builds (STYLE.md habit 6).
TINY_IMAGENET = networks.ClassifierConfig(
    backbone=networks.BackboneConfig(stem="imagenet", num_cells_per_stack=1,
                                     penultimate_filters=96, drop_path_keep_prob=0.8),
    num_classes=5, image_size=64)
TINY_CIFAR = networks.ClassifierConfig(
    backbone=networks.BackboneConfig(stem="cifar", num_cells_per_stack=1, penultimate_filters=48,
                                     stem_multiplier=3.0),
    num_classes=10, image_size=32)


def test_nasnet_a_mobile_has_exactly_the_keras_applications_parameter_count():
    ours = networks.build_classifier(NASNET_A, dataclasses.replace(networks.MOBILE, use_aux_head=False))
    reference = tf_keras.applications.NASNetMobile(weights=None)
    assert ours.count_params() == reference.count_params() == 5_326_716
    # slim README: 564M mult-adds at 224 px.
    assert round(flops.count_mult_adds(ours, (224, 224, 3)) / 1e6) == 564


@pytest.mark.slow
def test_nasnet_a_large_has_exactly_the_keras_applications_parameter_count():
    ours = networks.build_classifier(NASNET_A, dataclasses.replace(networks.LARGE, use_aux_head=False))
    reference = tf_keras.applications.NASNetLarge(weights=None)
    assert ours.count_params() == reference.count_params() == 88_949_818


@pytest.mark.slow
def test_cifar_6_768_is_about_3_3m_parameters():
    model = networks.build_classifier(NASNET_A, dataclasses.replace(networks.CIFAR, use_aux_head=False))
    assert model.count_params() == 3_383_786


def test_imagenet_backbone_shape_table():
    # 64 px: stem conv VALID stride 2 -> 31, then stride-2 cells -> 16, 8, 4, 2.
    backbone = networks.build_backbone(NASNET_A, TINY_IMAGENET.backbone, 64)
    f = networks.base_filters(NASNET_A, 96)
    assert f == 4
    shapes = {k: tuple(v) for k, v in backbone.output_specs.items()}
    assert shapes == {"1": (None, 31, 31, 32),
                      "2": (None, 16, 16, 4 * f // 4),     # stem cell 0: filters f/4, 4-way concat
                      "3": (None, 8, 8, 6 * f),            # stack 1 normal cell
                      "4": (None, 4, 4, 6 * 2 * f),
                      "5": (None, 2, 2, 6 * 4 * f)}
    out = backbone(tf.zeros([2, 64, 64, 3]))
    assert {k: tuple(v.shape) for k, v in out.items()} == {k: (2,) + s[1:] for k, s in shapes.items()}
    assert backbone.aux_level == "4"


def test_cifar_backbone_levels_and_any_input_size():
    backbone = networks.build_backbone(NASNET_A, TINY_CIFAR.backbone)  # None x None input
    out = backbone(tf.zeros([1, 16, 16, 3]))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "0": (1, 16, 16, 12), "1": (1, 8, 8, 24), "2": (1, 4, 4, 48)}
    assert backbone.aux_level == "1"


@pytest.mark.parametrize("genotype", list(known_genotypes.KNOWN.values()), ids=lambda g: g.name)
def test_classifier_outputs_for_every_published_genotype(genotype):
    width = len(genotype.normal.concat)
    config = config_utils.override(TINY_CIFAR, {"backbone.penultimate_filters": 4 * width * 2})
    model = networks.build_classifier(genotype, config)
    out = model(tf.zeros([2, 32, 32, 3]), training=True)
    assert out["logits"].shape == (2, 10) and out["aux_logits"].shape == (2, 10)
    assert networks.inference_model(model)(tf.zeros([1, 32, 32, 3])).shape == (1, 10)


def test_skip_reduction_layer_input_changes_wiring_not_parameters():
    # NASNet-A Large's slim option: the cell after a reduction reads the cell two back.
    # With N >= 2 both candidates for p are normal cells of the same shape.
    config = dataclasses.replace(TINY_IMAGENET.backbone, num_cells_per_stack=2)
    plain = networks.build_backbone(NASNET_A, config, 64)
    skip = networks.build_backbone(
        NASNET_A, dataclasses.replace(config, skip_reduction_layer_input=True), 64)
    assert plain.count_params() == skip.count_params()
    # cell_2 is the first cell after reduction_cell_0: p is cell_1 (plain) or cell_0 (skip).
    assert plain.get_layer("cell_2").input[1].name.startswith("cell_1")
    assert skip.get_layer("cell_2").input[1].name.startswith("cell_0")


def test_backbone_config_round_trip_with_non_default_genotype():
    config = dataclasses.replace(TINY_CIFAR.backbone, penultimate_filters=32)
    backbone = networks.build_backbone(known_genotypes.AMOEBANET_A, config, 16)
    clone = networks.NasnetBackbone.from_config(backbone.get_config())
    assert clone.genotype == known_genotypes.AMOEBANET_A
    clone.set_weights(backbone.get_weights())
    x = tf.random.normal([1, 16, 16, 3])
    for level, value in backbone(x, training=False).items():
        np.testing.assert_allclose(clone(x, training=False)[level], value, atol=1e-5)


def test_classifier_save_and_load_keras_format(tmp_path):
    model = networks.build_classifier(NASNET_A, TINY_CIFAR)
    rng = np.random.default_rng(0)  # every weight non-default (BN moving variance stays > 0)
    model.set_weights([np.abs(rng.normal(size=w.shape)).astype("float32") + 0.1
                       for w in model.get_weights()])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = tf_keras.models.load_model(path, custom_objects=networks.CUSTOM_OBJECTS)
    x = tf.random.normal([1, 32, 32, 3])
    np.testing.assert_allclose(loaded(x)["logits"], model(x)["logits"], rtol=1e-5)
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_presets_carry_the_slim_hyperparameters():
    assert networks.CIFAR.backbone.layer == LayerConfig(0.9, 1e-5, 5e-4)
    assert networks.MOBILE.backbone.size == "4@1056" and networks.MOBILE.image_size == 224
    assert networks.LARGE.backbone.size == "6@4032" and networks.LARGE.image_size == 331
    assert networks.LARGE.backbone.skip_reduction_layer_input
    assert networks.LARGE.backbone.drop_path_keep_prob == 0.7
    assert networks.reduction_cell_indices(12) == [4, 8]


def test_parse_size():
    assert networks.parse_size("4@1056") == (4, 1056)
    assert networks.parse_size(" 6 @ 4032 ") == (6, 4032)
    with pytest.raises(ValueError, match="must look like 'N@P'.*got '4x1056'"):
        networks.parse_size("4x1056")


def test_penultimate_filters_must_divide():
    with pytest.raises(ValueError, match="penultimate_filters 100 is not a multiple of 4 x 6"):
        networks.base_filters(NASNET_A, 100)


@pytest.mark.parametrize("kwargs, message", [
    ({"stem": "mnist"}, "stem must be one of"),
    ({"num_cells_per_stack": 0}, "num_cells_per_stack must be >= 1"),
    ({"penultimate_filters": 0}, "penultimate_filters must be >= 1"),
    ({"stem_multiplier": 0}, "stem_multiplier must be > 0"),
    ({"filter_scaling_rate": -2}, "filter_scaling_rate must be > 0"),
    ({"drop_path_keep_prob": 1.5}, "drop_path_keep_prob must be in"),
    ({"total_training_steps": 0}, "total_training_steps must be >= 1"),
    ({"num_conv_filters": 0}, "num_conv_filters must be >= 1 or None"),
])
def test_backbone_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        networks.BackboneConfig(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_classes": 0}, "num_classes must be >= 1"),
    ({"image_size": 4}, "image_size must be >= 8"),
    ({"dense_dropout_keep_prob": 0.0}, "dense_dropout_keep_prob must be in"),
])
def test_classifier_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        networks.ClassifierConfig(**kwargs)


def test_classifier_config_dict_round_trip():
    data = dataclasses.asdict(networks.LARGE)
    assert networks.ClassifierConfig.from_dict(data) == networks.LARGE


def test_strict_overrides():
    cfg = config_utils.override(networks.MOBILE, {"num_classes": 10, "backbone.layer.weight_decay": 0.0,
                                                  "backbone": {"drop_path_keep_prob": 0.9}})
    assert cfg.num_classes == 10 and cfg.backbone.layer.weight_decay == 0.0
    assert cfg.backbone.drop_path_keep_prob == 0.9
    with pytest.raises(ValueError, match="unknown config key 'num_clases'"):
        config_utils.override(networks.MOBILE, {"num_clases": 10})
    with pytest.raises(ValueError, match="unknown config key 'backbone.nope'"):
        config_utils.override(networks.MOBILE, {"backbone.nope": 1})
    with pytest.raises(ValueError, match="'num_classes' is not a nested config"):
        config_utils.override(networks.MOBILE, {"num_classes.x": 1})
    with pytest.raises(ValueError, match="needs a dataclass config"):
        config_utils.override({"a": 1}, {"a": 2})


def test_sizing_by_base_filters():
    config = dataclasses.replace(TINY_CIFAR.backbone, num_conv_filters=3)
    assert config.size == "1@F3" and config.filters_for(NASNET_A) == 3
    backbone = networks.build_backbone(known_genotypes.AMOEBANET_A, config, 16)
    assert backbone.output_specs["2"][-1] == 4 * 4 * 3  # 4-way concat, F x 4 in stack 3


def test_a_genotype_name_with_spaces_builds_and_trains():
    # The search names its best genotype "<experiment> trial <id>"; Keras model names
    # become TensorFlow name scopes, which refuse spaces.
    genotype = known_genotypes.NASNET_A.with_name("quickstart trial 5")
    config = networks.ClassifierConfig(
        backbone=networks.BackboneConfig(stem="cifar", num_cells_per_stack=1,
                                         num_conv_filters=4),
        num_classes=3, image_size=8, use_aux_head=False, dense_dropout_keep_prob=1.0)
    model = networks.build_classifier(genotype, config)
    assert model.name == "quickstart_trial_5_1_F4"
    model.compile(optimizer="sgd", loss={"logits": tf_keras.losses.SparseCategoricalCrossentropy(
        from_logits=True)})
    model.fit(np.zeros((4, 8, 8, 3), np.float32), {"logits": np.zeros((4,), np.int32)},
              epochs=1, verbose=0)
    assert networks.model_name("9 lives") == "9_lives"
    assert networks.model_name("_x y") == "n_x_y"
