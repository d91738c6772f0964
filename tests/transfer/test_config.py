"""TrainConfig: the cited recipes, learning-rate scaling, strict overrides, every error."""

import dataclasses
import json

import pytest

from nasnet import networks
from transfer import config


def test_mobile_preset_carries_the_slim_recipe():
    cfg = config.NASNET_A_MOBILE
    assert cfg.model == networks.MOBILE and cfg.model.backbone.size == "4@1056"
    assert cfg.model.image_size == 224 and cfg.genotype == "nasnet_a"
    assert cfg.per_replica_batch_size == 32
    opt = cfg.optimizer
    assert (opt.base_learning_rate, opt.base_batch_size) == (0.04, 32)
    assert (opt.decay_rate, opt.epochs_per_decay) == (0.97, 2.4)
    assert (opt.rmsprop_decay, opt.momentum, opt.epsilon) == (0.9, 0.9, 1.0)
    assert opt.clip_global_norm == 10.0
    assert (cfg.label_smoothing, cfg.aux_loss_weight) == (0.1, 0.4)
    assert cfg.model.dense_dropout_keep_prob == 0.5
    assert cfg.model.backbone.layer.weight_decay == 4e-5
    assert cfg.data.dataset == "imagenet2012" and cfg.data.preprocessing == "inception"
    # slim: 0.04 per replica x 50 replicas at 32 images each.
    assert cfg.optimizer.learning_rate(50 * 32) == pytest.approx(2.0)


@pytest.mark.parametrize("name", ["nasnet_a_mobile", "nasnet_a_large"])
def test_accelerator_presets_run_many_steps_per_execution(name):
    cfg = config.preset(name)
    assert cfg.steps_per_execution == config.ACCELERATOR_STEPS_PER_EXECUTION == 100
    for interval in (cfg.steps_per_loop, cfg.checkpoint_every_steps, cfg.log_every_steps):
        assert interval % cfg.steps_per_execution == 0


def test_large_preset_carries_the_slim_recipe():
    cfg = config.NASNET_A_LARGE
    assert cfg.model == networks.LARGE and cfg.model.backbone.size == "6@4032"
    assert cfg.model.image_size == 331 and cfg.per_replica_batch_size == 16
    assert cfg.model.backbone.drop_path_keep_prob == 0.7
    assert cfg.model.backbone.layer.weight_decay == 5e-5
    assert cfg.optimizer.learning_rate(100 * 16) == pytest.approx(1.5)   # 0.015 x 100


def test_learning_rate_scales_linearly_with_the_global_batch():
    opt = config.OptimizerConfig(base_learning_rate=0.04, base_batch_size=32)
    assert opt.learning_rate(32) == pytest.approx(0.04)
    assert opt.learning_rate(256) == pytest.approx(0.32)
    # 2.4 epochs of ImageNet at a global batch of 1600 (slim: int(N * 2.4 / batch)).
    assert opt.decay_steps(config.IMAGENET_TRAIN_EXAMPLES, 1600) == 1921
    assert opt.decay_steps(10, 1000) == 1


def test_overrides_are_strict_and_revalidated():
    cfg = config.preset("nasnet_a_mobile", {"data.dataset": "cifar10", "train_steps": 2000,
                                            "model.backbone.drop_path_keep_prob": 0.8})
    assert cfg.data.dataset == "cifar10" and cfg.train_steps == 2000
    assert cfg.model.backbone.drop_path_keep_prob == 0.8
    with pytest.raises(ValueError, match="unknown config key 'data.datset'"):
        config.preset("nasnet_a_mobile", {"data.datset": "cifar10"})
    with pytest.raises(ValueError, match="unknown training preset 'mobile'"):
        config.preset("mobile")


def test_with_size_sets_n_and_p():
    cfg = config.with_size(config.DIGITS_TINY, "2@96")
    assert cfg.model.backbone.size == "2@96"
    with pytest.raises(ValueError, match="N@P"):
        config.with_size(config.DIGITS_TINY, "2x96")


def test_parse_override():
    assert config.parse_override("train_steps=100") == ("train_steps", 100)
    assert config.parse_override("data.dataset=cifar10") == ("data.dataset", "cifar10")
    assert config.parse_override("xla=true") == ("xla", True)
    assert config.parse_override("eval_steps=null") == ("eval_steps", None)
    with pytest.raises(ValueError, match="key=value"):
        config.parse_override("train_steps")


def test_json_round_trip(tmp_path):
    cfg = config.preset("digits_tiny", {"train_steps": 600})
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json())
    assert config.TrainConfig.load(str(path)) == cfg
    assert config.TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg


@pytest.mark.parametrize("overrides, message", [
    ({"strategy": "horovod"}, "strategy must be one of"),
    ({"mixed_precision": "half"}, "mixed_precision must be one of"),
    ({"per_replica_batch_size": 0}, "per_replica_batch_size must be a positive int"),
    ({"eval_steps": 0}, "eval_steps must be a positive int"),
    ({"label_smoothing": 1.0}, "label_smoothing must be in"),
    ({"aux_loss_weight": -1.0}, "aux_loss_weight must be >= 0"),
    ({"xla": "yes"}, "xla must be true or false"),
    ({"train_steps": 301}, "must be a multiple of steps_per_loop"),
    ({"steps_per_execution": 3}, "must be a multiple of steps_per_execution"),
    ({"genotype": ""}, "genotype must be a non-empty string"),
    ({"data.dataset": " "}, "data.dataset must be a non-empty string"),
    ({"data.preprocessing": "vgg"}, "data.preprocessing must be one of"),
    ({"data.shuffle_buffer": 0}, "data.shuffle_buffer must be a positive int"),
    ({"data.eval_split": ""}, "data.eval_split must be a non-empty split name"),
    ({"optimizer.base_learning_rate": 0.0}, "base_learning_rate must be > 0"),
    ({"optimizer.base_batch_size": 0}, "base_batch_size must be a positive int"),
    ({"optimizer.decay_rate": 1.5}, "decay_rate must be in"),
    ({"optimizer.epochs_per_decay": 0.0}, "epochs_per_decay must be > 0"),
    ({"optimizer.rmsprop_decay": 1.0}, "rmsprop_decay must be in"),
    ({"optimizer.momentum": -0.1}, "momentum must be in"),
    ({"optimizer.epsilon": 0.0}, "epsilon must be > 0"),
    ({"optimizer.clip_global_norm": 0.0}, "clip_global_norm must be > 0 or None"),
    ({"model.image_size": 8}, r"too small for the auxiliary head.*image_size >= 9 with the cifar"),
])
def test_invalid_values_are_refused_with_the_field_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        config.preset("digits_tiny", overrides)


def test_aux_head_map_size_matches_the_networks():
    # 224 px: stem 111 -> 56 -> 28, first reduction 14 (slim's aux head reads 14x14).
    assert config.aux_head_map_size(networks.MOBILE) == 14
    assert config.aux_head_map_size(networks.LARGE) == 21               # 331 px
    assert config.aux_head_map_size(config.DIGITS_TINY.model) == 8      # CIFAR stem, 16 px
    with pytest.raises(ValueError, match=r"a 4x4 map.*image_size >= 67 with the imagenet stem"):
        config.preset("nasnet_a_mobile", {"model.image_size": 64})
    assert config.preset("nasnet_a_mobile", {"model.image_size": 64,
                                             "model.use_aux_head": False}).model.image_size == 64


def test_nested_configs_must_have_the_right_type():
    with pytest.raises(ValueError, match="data must be a DataConfig"):
        dataclasses.replace(config.DIGITS_TINY, data=42)


def test_bad_config_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="train config '.*missing.json' does not exist"):
        config.TrainConfig.load(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        config.TrainConfig.load(str(bad))
    with pytest.raises(ValueError, match="unknown key"):
        config.TrainConfig.from_dict({"trian_steps": 3})
    with pytest.raises(ValueError, match="must be a JSON object"):
        config.TrainConfig.from_dict([1, 2])
    with pytest.raises(ValueError, match="bad train config"):
        config.TrainConfig.from_dict({"data": {"datset": "x"}})
    binary = tmp_path / "config.json"
    binary.write_bytes(b"\x1f\x8b\x08\x00")                # a gzipped file, say
    with pytest.raises(ValueError, match="train config '.*config.json' is not a text file"):
        config.TrainConfig.load(str(binary))
