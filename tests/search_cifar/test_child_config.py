"""child_config: the child's composed config, its presets, strict overrides and rewards."""

from __future__ import annotations

import dataclasses

import pytest

from nasnet import config_utils, networks
from search_cifar import child_config as child
from search_cifar.child_config import ChildConfig


def test_nasnet_search_preset_matches_the_cited_recipe():
    config = child.preset("nasnet_search")
    backbone = config.network.backbone
    assert (backbone.num_cells_per_stack, backbone.num_conv_filters, config.epochs) == (2, 32, 20)
    assert (config.learning_rate, config.momentum, config.clip_norm) == (0.025, 0.9, 5.0)
    assert (config.aux_loss_weight, backbone.layer.weight_decay,
            config.data.batch_size) == (0.4, 5e-4, 32)
    assert config.lr_schedule == "cosine" and config.data.dataset == "cifar10"
    classifier = config.classifier_config(num_classes=10, total_training_steps=28_120)
    assert isinstance(classifier, networks.ClassifierConfig)
    assert classifier.backbone.stem == "cifar" and classifier.backbone.size == "2@F32"
    assert classifier.backbone.stem_multiplier == 3.0 and classifier.use_aux_head
    layer = classifier.backbone.layer
    assert layer.bn_momentum == 0.9 and layer.bn_epsilon == 1e-5
    assert classifier.backbone.total_training_steps == 28_120
    assert classifier.dense_dropout_keep_prob == 1.0
    assert classifier.backbone.drop_path_keep_prob == 1.0
    assert child.preset("tiny").data.dataset == "digits" and child.preset("small").epochs == 5
    assert child.preset("tiny").network.backbone.size == "1@F8"
    assert child.preset("small").network.backbone.size == "1@F16"
    with pytest.raises(ValueError, match="unknown child preset 'huge'"):
        child.preset("huge")


def test_the_data_and_the_schedule_decide_the_derived_network_fields():
    config = config_utils.override(child.TINY, {"data.image_size": 24})
    assert config.network.image_size == 24          # set from the data on construction
    built = config.classifier_config(num_classes=100, total_training_steps=0)
    assert (built.num_classes, built.image_size, built.backbone.total_training_steps) == (
        100, 24, 1)
    assert built.backbone.num_conv_filters == 8     # everything else is the config's network
    assert set(child.DERIVED_NETWORK_FIELDS) == {"image_size", "num_classes",
                                                 "backbone.total_training_steps"}


def test_config_round_trips_and_takes_strict_overrides():
    config = config_utils.override(child.TINY, {"epochs": 7, "data.image_size": 24,
                                                "network.backbone.num_cells_per_stack": 2,
                                                "network.backbone.layer.weight_decay": 1e-4})
    assert config.epochs == 7 and config.data.image_size == 24
    assert config.network.backbone.num_cells_per_stack == 2
    assert config.network.backbone.layer.weight_decay == 1e-4
    assert ChildConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown child key\\(s\\) \\['epoch'\\]"):
        ChildConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="unknown child.network.backbone.layer key\\(s\\) "
                                         "\\['decay'\\]"):
        ChildConfig.from_dict({"network": {"backbone": {"layer": {"decay": 1e-4}}}})
    with pytest.raises(ValueError, match="child must be a JSON object, got \\[1\\]"):
        ChildConfig.from_dict([1])
    with pytest.raises(ValueError, match="unknown config key 'network.backbone.cells'"):
        config_utils.override(child.TINY, {"network.backbone.cells": 2})


def _network(**backbone):
    layer = {k: backbone.pop(k) for k in ("weight_decay", "bn_momentum", "bn_epsilon")
             if k in backbone}
    return {"backbone": {**backbone, **({"layer": layer} if layer else {})}}


@pytest.mark.parametrize("kwargs, match", [
    (dict(network=_network(num_cells_per_stack=0)), "num_cells_per_stack"),
    (dict(network=_network(num_conv_filters=2.5)), "num_conv_filters"),
    (dict(network=_network(num_conv_filters=None)), "num_conv_filters must be an int >= 1"),
    (dict(network=_network(stem_multiplier=0)), "stem_multiplier"),
    (dict(network=_network(drop_path_keep_prob=0.0)), "drop_path_keep_prob"),
    (dict(network={"dense_dropout_keep_prob": 1.5}), "dense_dropout_keep_prob"),
    (dict(aux_loss_weight=-1), "aux_loss_weight"),
    (dict(network=_network(weight_decay=-1e-4)), "weight_decay"),
    (dict(network=_network(bn_momentum=1.0)), "bn_momentum"),
    (dict(network=_network(bn_epsilon=0)), "bn_epsilon"),
    (dict(epochs=0), "epochs"),
    (dict(steps_per_epoch=0), "steps_per_epoch"),
    (dict(validation_steps=True), "validation_steps"),
    (dict(learning_rate=0), "learning_rate"),
    (dict(lr_schedule="step"), "lr_schedule"),
    (dict(momentum=1.0), "momentum"),
    (dict(clip_norm=0), "clip_norm"),
    (dict(mixed_precision="float16"), "mixed_precision"),
    (dict(reward="last"), "reward must be one of"),
    (dict(reward_transform="square"), "reward_transform"),
    (dict(data=3), "data must be a DataConfig, got 3"),
    (dict(network=3), "network must be a ClassifierConfig, got 3"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChildConfig(**kwargs)


def test_config_accepts_data_and_network_dicts():
    assert ChildConfig(data={"dataset": "digits"}).data.is_digits
    config = ChildConfig(network={"backbone": {"num_conv_filters": 4}})
    assert config.network.backbone.num_conv_filters == 4
    assert config.network.backbone.stem == "imagenet"  # a dict is the whole network config
    searched = dataclasses.replace(config, network=child.SEARCH_NETWORK)
    assert searched.network.backbone.stem == "cifar"


def test_reward_from_history_final_best_and_cube():
    history = [{"val_accuracy": 0.5}, {"val_accuracy": 0.8}, {"val_accuracy": 0.7}]
    assert child.reward_from_history(history) == (0.7, 0.7)
    assert child.reward_from_history(history, "best") == (0.8, 0.8)
    accuracy, reward = child.reward_from_history(history, "best", "cube")
    assert accuracy == 0.8 and reward == pytest.approx(0.512)
    with pytest.raises(ValueError, match="reward must be one of"):
        child.reward_from_history(history, "last")
    with pytest.raises(ValueError, match="reward_transform must be one of"):
        child.reward_from_history(history, "final", "log")
    with pytest.raises(ValueError, match="no completed epoch"):
        child.reward_from_history([])
