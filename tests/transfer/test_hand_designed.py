"""Hand-designed networks (tf_keras.applications) in the same harness as genotypes:
the library's parameter count, the config's refusals, training, export and the zoo."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from model_zoo import registry
from nasnet import networks
from nasnet.artifacts import EXPORT_INFO_FILE, GENOTYPE_FILE
from transfer import config as config_lib
from transfer import data, export, hand_designed, trainer


def _model_config(image_size=32, num_classes=10, **kwargs):
    return networks.ClassifierConfig(num_classes=num_classes, image_size=image_size,
                                     use_aux_head=False, **kwargs)


@pytest.mark.parametrize("name", ["resnet50", pytest.param(
    "inception_resnet_v2", marks=pytest.mark.slow)])
def test_the_classifier_is_the_application_with_its_own_top(name):
    spec = hand_designed.get(name)
    size = spec.min_image_size
    ours = hand_designed.build_classifier(name, _model_config(size))
    reference = getattr(tf_keras.applications, spec.application)(
        weights=None, classes=10, input_shape=(size, size, 3))
    assert ours.count_params() == reference.count_params()
    assert ours(tf.zeros([2, size, size, 3]))["logits"].shape == (2, 10)
    assert ours.output["logits"].dtype == tf.float32


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "inception_resnet_v2"])
def test_full_size_counts_match_the_published_figures(name):
    from nasnet import flops, published
    info = published.get(name)
    model = networks.inference_model(hand_designed.build_classifier(
        name, _model_config(info.image_size, num_classes=1000)))
    assert model.count_params() == info.parameters.value == info.ours_parameters
    size = info.image_size
    mult_adds = flops.count_mult_adds(model, (size, size, 3))
    assert mult_adds == info.ours_mult_adds
    assert abs(mult_adds - info.mult_adds.value) <= 0.02 * info.mult_adds.value


def test_weight_decay_is_a_loss_on_every_kernel():
    config = _model_config(dense_dropout_keep_prob=0.5, backbone=networks.BackboneConfig(
        layer=networks.LayerConfig(weight_decay=1e-4)))
    model = hand_designed.build_classifier("resnet50", config)
    body = model.get_layer("resnet50")
    kernels = [w for w in body.trainable_weights if w.name.split("/")[-1].startswith("kernel")]
    assert len(kernels) == 53                        # ResNet-50's convolutions
    assert len(model.losses) == 53 + 1               # + the logits' L2 regularizer
    squares = [float(tf.reduce_sum(tf.square(w)))
               for w in kernels + [model.get_layer("logits").kernel]]
    assert float(tf.add_n(model.losses)) == pytest.approx(1e-4 / 2 * sum(squares), rel=1e-4)
    assert model.get_layer("dropout").rate == 0.5
    plain = hand_designed.build_classifier("resnet50", _model_config(
        backbone=networks.BackboneConfig(layer=networks.LayerConfig(weight_decay=0.0))))
    assert plain.losses == []


def test_config_refusals_name_the_problem():
    digits = config_lib.preset("digits_tiny", {"model.image_size": 32})
    resnet = config_lib.with_hand_designed(digits, "resnet50")
    assert resnet.genotype is None and resnet.hand_designed == "resnet50"
    assert resnet.model.use_aux_head is False
    assert config_lib.TrainConfig.from_dict(json.loads(resnet.to_json())) == resnet
    with pytest.raises(ValueError, match="genotype 'nasnet_a' given together with the "
                                         "hand-designed network 'resnet50'"):
        dataclasses.replace(resnet, genotype="nasnet_a")
    with pytest.raises(ValueError, match=r"unknown hand-designed network 'vgg16'; known: "
                                         r"\['inception_resnet_v2', 'resnet50'\]"):
        config_lib.with_hand_designed(digits, "vgg16")
    with pytest.raises(ValueError, match="'resnet50' has no auxiliary head: set "
                                         "model.use_aux_head=false"):
        config_lib.apply_overrides(digits, {"genotype": None, "hand_designed": "resnet50"})
    with pytest.raises(ValueError, match="model.image_size 16 is below inception_resnet_v2's "
                                         "minimum of 75 px"):
        config_lib.with_hand_designed(config_lib.preset("digits_tiny"), "inception_resnet_v2")
    with pytest.raises(ValueError, match="genotype must be a non-empty string .or null with "
                                         "hand_designed"):
        dataclasses.replace(digits, genotype=None)
    with pytest.raises(ValueError, match="the hand-designed network 'resnet50' has one size"):
        config_lib.with_size(resnet, "2@96")


def test_train_export_and_zoo_a_hand_designed_network(tmp_path):
    cfg = config_lib.with_hand_designed(config_lib.preset("digits_tiny", {
        "model.image_size": 32, "train_steps": 2, "steps_per_loop": 2,
        "checkpoint_every_steps": 2, "eval_steps": 1, "per_replica_batch_size": 4,
        "strategy": "one_device"}), "resnet50")
    with pytest.raises(ValueError, match="given together with the hand-designed network"):
        trainer.train(cfg, str(tmp_path / "refused"), genotype=registry.known_genotypes.NASNET_A)
    assert not (tmp_path / "refused").exists()
    result = trainer.train(cfg, str(tmp_path / "run"))
    assert result.genotype is None and result.final_step == 2
    assert result.metrics["architecture"] == "resnet50"
    assert result.metrics["genotype_fingerprint"] is None
    assert not (tmp_path / "run" / GENOTYPE_FILE).exists()

    # A checkpoint of the run exports too: its run directory has no genotype.json.
    backup = trainer.latest_backup(str(tmp_path / "run"))
    assert export.find_run_files(backup) == str(tmp_path / "run")
    path = export.export_from_workdir(str(tmp_path / "run"), str(tmp_path / "export"),
                                      count_mult_adds=False)
    assert not os.path.exists(os.path.join(path, GENOTYPE_FILE))
    with open(os.path.join(path, EXPORT_INFO_FILE), encoding="utf-8") as f:
        info = json.load(f)
    assert info["architecture"] == "resnet50" and info["genotype_fingerprint"] is None
    assert info["size"] is None and info["input_size"] == [32, 32, 3]
    assert info["parameters"] == result.model.count_params()

    zoo = registry.Zoo(str(tmp_path / "zoo"))
    manifest = zoo.add(path, "digits_resnet50")
    assert manifest.design == "hand-designed" and manifest.architecture == "resnet50"
    served = zoo.load("digits_resnet50").predict_images(
        np.full((2, 8, 8, 3), 128, np.uint8))
    keras_probs = tf.nn.softmax(result.model(
        data.preprocess_for_eval(tf.fill([2, 8, 8, 3], tf.constant(128, tf.uint8)), 32,
                                        "resize"), training=False)["logits"])
    np.testing.assert_allclose(served["probabilities"], keras_probs.numpy(), atol=1e-4)
