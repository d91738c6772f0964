"""Weight-sharing configs: the presets, strict overrides, and every bad value refused."""

from __future__ import annotations

import dataclasses
import json

import pytest

from search_cifar import child_config
from search_cifar.weight_sharing import config as config_lib
from search_cifar.weight_sharing.config import WeightSharingConfig


def test_the_enas_preset_has_the_papers_values():
    c = config_lib.get("enas_cifar10")
    s, t, k = c.supernet, c.training, c.controller
    assert (s.num_blocks, len(s.ops), s.num_cells, s.out_filters) == (5, 5, 6, 20)
    assert set(s.ops) == {"sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3",
                          "identity"}
    assert (s.use_aux_head, s.drop_path_keep_prob, s.dense_dropout_keep_prob) == (True, 0.6, 0.9)
    assert s.weight_decay == 2 * 1e-4      # ENAS's 1e-4 x sum(w^2) in slim's wd/2 convention
    assert (c.data.dataset, c.data.batch_size, t.epochs) == ("cifar10", 160, 150)
    assert (t.learning_rate_max, t.learning_rate_min) == (0.05, 0.0005)
    assert (t.restart_period_epochs, t.restart_multiplier) == (10, 2.0)
    assert (k.strategy, k.strategy_options) == ("rl", {"preset": "enas", "batch_size": 10})
    assert (k.steps_per_epoch, k.architectures_per_step, k.reward_batch_size) == (30, 10, 160)
    assert c.space().num_blocks == 5
    assert c.retrain == child_config.NASNET_SEARCH     # the project's search child
    # 10 + 20 + 40 + 80 = 150: the run ends at the end of the fourth cosine period.
    assert sum(10 * 2 ** i for i in range(4)) == t.epochs


def test_the_quickstart_is_offline_and_small():
    c = config_lib.get("enas_quickstart")
    assert c.data.dataset == "digits" and c.space().num_blocks == 3
    assert c.supernet.num_cells_per_stack == 1 and c.supernet.out_filters == 8
    # Retrained on the searched data; only the derivation's validation batch differs (one
    # batch of all 150 images: the supernet's batch norm uses the batch's statistics).
    assert c.retrain == child_config.TINY
    assert dataclasses.replace(c.data, eval_batch_size=None) == c.retrain.data
    assert c.data.eval_batch_size == 150


def test_the_retraining_recipe_is_a_child_config_a_preset_name_or_none():
    c = config_lib.get("enas_quickstart")
    assert config_lib.override(c, {"retrain": "small"}).retrain == child_config.SMALL
    assert config_lib.override(c, {"retrain": None}).retrain is None
    longer = config_lib.override(c, {"retrain.epochs": 5})
    assert longer.retrain.epochs == 5
    assert WeightSharingConfig.from_dict(json.loads(json.dumps(longer.to_dict()))) == longer
    with pytest.raises(ValueError, match="unknown child preset 'huge'"):
        config_lib.override(c, {"retrain": "huge"})
    with pytest.raises(ValueError, match="retrain must be a ChildConfig, a child preset name "
                                         "or None, got 3"):
        config_lib.override(c, {"retrain": 3})
    with pytest.raises(ValueError, match="unknown config key 'retrain.network.cells'"):
        config_lib.override(c, {"retrain": {"network": {"cells": 2}}})


def test_overrides_are_strict_and_configs_round_trip_through_json():
    c = config_lib.override(config_lib.get("enas_quickstart"),
                            {"training.epochs": 2, "controller.strategy_options": {}})
    assert c.training.epochs == 2 and c.controller.strategy_options == {}
    again = WeightSharingConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c
    with pytest.raises(ValueError, match="unknown config key 'training.epoch'"):
        config_lib.override(c, {"training.epoch": 3})
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['bogus'\]"):
        WeightSharingConfig.from_dict({**c.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="config must be a JSON object"):
        WeightSharingConfig.from_dict([1])
    with pytest.raises(ValueError, match="unknown weight-sharing preset 'enas'"):
        config_lib.get("enas")
    assert config_lib.names() == ["enas_cifar10", "enas_quickstart"]


def test_identity_diff_ignores_execution_fields():
    c = config_lib.get("enas_quickstart")
    saved = c.to_dict()
    changed = config_lib.override(c, {"tensorboard": False, "training.checkpoint_every_steps": 5,
                                      "controller.checkpoint_every_steps": 2,
                                      "data.data_dir": "/data"})
    assert config_lib.identity_diff(saved, changed) == []
    other = config_lib.override(c, {"supernet.out_filters": 16, "seed": 3})
    assert config_lib.identity_diff(saved, other) == ["seed", "supernet.out_filters"]
    # XLA may be switched on a resume; the precision may not (the optimizer's state differs).
    assert config_lib.identity_diff(saved, config_lib.override(
        c, {"training.jit_compile": True})) == []
    assert config_lib.identity_diff(saved, config_lib.override(
        c, {"training.mixed_precision": "mixed_float16"})) == ["training.mixed_precision"]


def test_a_config_written_before_the_precision_fields_still_resumes():
    c = config_lib.get("enas_quickstart")
    old = c.to_dict()
    for key in config_lib.ADDED_FIELDS:
        del old["training"][key.split(".")[1]]
    assert config_lib.identity_diff(old, c) == []
    assert "training" in old and "mixed_precision" not in old["training"]   # not modified
    assert config_lib.identity_diff(old, config_lib.override(
        c, {"training.mixed_precision": "mixed_bfloat16"})) == ["training.mixed_precision"]


@pytest.mark.parametrize("overrides, message", [
    ({"supernet.num_cells_per_stack": 0}, "supernet.num_cells_per_stack must be an int >= 1"),
    ({"supernet.out_filters": 1}, "supernet.out_filters must be an int >= 2"),
    ({"supernet.stem_multiplier": 0}, r"supernet.stem_multiplier must be a number in \(0"),
    ({"supernet.use_aux_head": "yes"}, "supernet.use_aux_head must be true or false"),
    ({"supernet.aux_loss_weight": -1}, r"supernet.aux_loss_weight must be a number in \[0"),
    ({"supernet.drop_path_keep_prob": 0.0}, "supernet.drop_path_keep_prob must be a number in"),
    ({"supernet.dense_dropout_keep_prob": 1.5}, "supernet.dense_dropout_keep_prob must be"),
    ({"supernet.weight_decay": -1.0}, "weight_decay must be >= 0"),
    ({"supernet.ops": "identity"}, "supernet.ops must be a list of op names"),
    ({"supernet.ops": ["identity", "sep_conv_9x9"]}, "unknown op 'sep_conv_9x9'"),
    ({"training.epochs": 0}, "training.epochs must be an int >= 1"),
    ({"training.steps_per_epoch": 0}, "training.steps_per_epoch must be an int >= 1"),
    ({"training.learning_rate_max": 0}, "training.learning_rate_max must be a number"),
    ({"training.learning_rate_min": 1.0}, r"training.learning_rate_min must be a number in \[0, 0.05\]"),
    ({"training.restart_period_epochs": 0}, "training.restart_period_epochs must be an int >= 1"),
    ({"training.restart_multiplier": 0.5}, "training.restart_multiplier must be a number in"),
    ({"training.momentum": 1.0}, "training.momentum must be < 1"),
    ({"training.momentum": 2.0}, r"training.momentum must be a number in \[0, 1\]"),
    ({"training.nesterov": 1}, "training.nesterov must be true or false"),
    ({"training.clip_norm": 0}, "training.clip_norm must be a number"),
    ({"training.mixed_precision": "auto"},
     r"training.mixed_precision must be one of float32, mixed_float16, mixed_bfloat16 \(name "
     r"the policy: a resumed run must train with the same one\), got 'auto'"),
    ({"training.jit_compile": "yes"}, "training.jit_compile must be true or false, got 'yes'"),
    ({"controller.strategy": "ppo"}, "unknown strategy 'ppo'"),
    ({"controller.strategy_options": [1]}, "controller.strategy_options must be a dict"),
    ({"controller.steps_per_epoch": -1}, "controller.steps_per_epoch must be an int >= 0"),
    ({"controller.architectures_per_step": 0}, "controller.architectures_per_step must be"),
    ({"controller.reward_batch_size": 0}, "controller.reward_batch_size must be an int >= 1"),
    ({"controller.checkpoint_every_steps": 0},
     "controller.checkpoint_every_steps must be an int >= 1"),
    ({"derive.num_candidates": 0}, "derive.num_candidates must be an int >= 1"),
    ({"derive.validation_batches": 0}, "derive.validation_batches must be an int >= 1"),
    ({"name": ""}, "name must be letters, digits"),
    ({"name": "my search"}, r"name must be letters, digits, '.', '_' or '-' \(it names the "
                            r"derived genotype and its network\), got 'my search'"),
    ({"space_ops": "identity"}, "space_ops must be a list of op names"),
    ({"space_num_blocks": 0}, "space_num_blocks must be an int >= 1"),
    ({"distribute_strategy": "tpu"}, "distribute_strategy must be one of"),
    ({"seed": -1}, "seed must be an int >= 0"),
    ({"deterministic": "no"}, "deterministic must be true or false"),
    ({"supernet": 3}, "supernet must be a SupernetConfig"),
])
def test_bad_values_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        config_lib.override(config_lib.get("enas_cifar10"), overrides)
