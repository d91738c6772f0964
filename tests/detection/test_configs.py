"""Experiment configs, strict overrides, data checks: no model is built here."""

import json
import os
import time

import pytest
from official.core import exp_factory, train_utils

from detection import configs, task, train_lib


@pytest.mark.parametrize("name", configs.EXPERIMENTS)
def test_experiments_are_registered_and_valid(name):
    params = exp_factory.get_exp_config(name)
    params.validate()
    configs.check(params)
    model = params.task.model
    assert isinstance(params.task, configs.NasnetFasterRCNNTask)
    assert model.include_mask is False
    assert model.decoder.type == "fpn"
    if name == "fasterrcnn_resnet50_fpn_shapes":   # the hand-designed baseline
        assert model.backbone.type == "resnet" and model.backbone.resnet.model_id == 50
    else:
        assert model.backbone.type == "nasnet"
        assert model.min_level == model.backbone.nasnet.min_level
    assert params.runtime.distribution_strategy in train_lib.STRATEGIES


def test_resnet50_shapes_experiment_differs_from_nasnet_only_in_the_backbone():
    nasnet = exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_shapes").as_dict()
    resnet = exp_factory.get_exp_config("fasterrcnn_resnet50_fpn_shapes").as_dict()
    nasnet_backbone, resnet_backbone = (d["task"]["model"].pop("backbone") for d in (nasnet, resnet))
    assert nasnet == resnet
    assert (nasnet_backbone["type"], resnet_backbone["type"]) == ("nasnet", "resnet")
    params = configs.load_experiment("fasterrcnn_resnet50_fpn_shapes", data_dir="/data/s")
    assert configs.describe_backbone(params) == "resnet 50 (official.vision)"


def test_a_backbone_that_is_not_registered_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"backbone.type 'inception_resnet_v2' is not a "
                                         r"registered backbone; registered: \[.*'nasnet', "
                                         r"'resnet'"):
        configs.load_experiment("fasterrcnn_resnet50_fpn_shapes", params_override=(
            "task.model.backbone.type=inception_resnet_v2"))
    with pytest.raises(ValueError, match=r"'resnet_unet' is registered but this experiment's "
                                         r"backbone config has no 'resnet_unet' section; "
                                         r"backbones it can configure: \[.*'resnet'"):
        configs.load_experiment("fasterrcnn_nasnet_fpn_shapes",
                                params_override="task.model.backbone.type=resnet_unet")


def test_paper_like_and_hardware_variants():
    coco = exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_coco")
    gpu = exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_coco_gpu")
    tpu = exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_coco_tpu")
    large = coco.task.model.backbone.nasnet
    assert (large.genotype, large.size, large.stem_multiplier,
            large.skip_reduction_layer_input, large.drop_path_keep_prob) == (
        "nasnet_a", "6@4032", 3.0, True, 0.7)
    assert coco.task.model.num_classes == 91 and coco.task.model.input_size == [1024, 1024, 3]
    assert coco.task.init_checkpoint_modules == "backbone"
    assert gpu.runtime.distribution_strategy == "mirrored" and gpu.runtime.num_gpus == 8
    # The Model Garden's spelling (its set_mixed_precision_policy rejects "mixed_float16").
    assert gpu.runtime.mixed_precision_dtype == "float16"
    assert gpu.runtime.loss_scale == "dynamic"
    assert tpu.runtime.distribution_strategy == "tpu"
    assert tpu.runtime.mixed_precision_dtype == "bfloat16"
    assert tpu.task.validation_data.global_batch_size == 32       # 1 per v3-32 core
    # Linear scaling: batch x lr constant across variants; same number of epochs.
    def lr(p):
        return p.trainer.optimizer_config.learning_rate.stepwise.values[0]
    assert lr(gpu) / gpu.task.train_data.global_batch_size == pytest.approx(
        lr(tpu) / tpu.task.train_data.global_batch_size)
    assert (gpu.trainer.train_steps * gpu.task.train_data.global_batch_size ==
            tpu.trainer.train_steps * tpu.task.train_data.global_batch_size)
    assert large.total_training_steps == coco.trainer.train_steps


@pytest.mark.parametrize("name", configs.EXPERIMENTS)
def test_every_experiment_builds_its_runtime_as_the_model_garden_would(name):
    """Policy, optimizer and per-replica batches on the hardware the experiment names."""
    import tensorflow as tf
    import tf_keras
    from official.modeling import performance
    params = exp_factory.get_exp_config(name)
    hardware = configs.HARDWARE[name]
    configs.check_runtime(params, hardware.replicas, hardware.hosts)
    runtime = params.runtime
    expected_strategy = {"gpu": "mirrored", "tpu": "tpu", "cpu": "one_device"}
    assert runtime.distribution_strategy == expected_strategy[hardware.accelerator]
    if runtime.distribution_strategy == "mirrored":
        assert runtime.num_gpus == hardware.replicas
    previous = tf_keras.mixed_precision.global_policy()
    try:
        # official/vision/train.py, then base_task.create_optimizer (Orbit trainer).
        performance.set_mixed_precision_policy(runtime.mixed_precision_dtype)
        policy = tf_keras.mixed_precision.global_policy().name
        optimizer = task.NasnetFasterRCNNTask.create_optimizer(
            params.trainer.optimizer_config, runtime)
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)
    expected_policy = {"gpu": "mixed_float16", "tpu": "mixed_bfloat16", "cpu": "float32"}
    assert policy == expected_policy[hardware.accelerator]
    scaled = isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")
    if scaled:
        assert optimizer.dynamic
    # The Model Garden's input reader: per-replica batch from each host's InputContext.
    for data in (params.task.train_data, params.task.validation_data):
        context = tf.distribute.InputContext(num_input_pipelines=hardware.hosts,
                                             input_pipeline_id=0,
                                             num_replicas_in_sync=hardware.replicas)
        per_replica = context.get_per_replica_batch_size(data.global_batch_size)
        assert per_replica * hardware.replicas == data.global_batch_size
    if "coco" in name:    # every validation image is evaluated
        assert (params.trainer.validation_steps * params.task.validation_data.global_batch_size
                >= configs.COCO_VAL_EXAMPLES)


def test_runtime_defects_are_refused_before_training():
    def gpu():
        return exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_coco_gpu")

    params = gpu()
    params.runtime.mixed_precision_dtype = "mixed_float16"
    with pytest.raises(ValueError, match=r"'mixed_float16' is not a Model Garden dtype.*"
                                         r"'float16' for 'mixed_float16'"):
        configs.check_runtime(params)
    with pytest.raises(ValueError, match="'mixed_float16' is not a Model Garden dtype"):
        train_lib.strategy_for(params)
    params = exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_coco_tpu")
    params.runtime.mixed_precision_dtype = "float16"
    with pytest.raises(ValueError, match="TPUs compute in 'bfloat16'"):
        configs.check_runtime(params)
    params = gpu()
    params.runtime.num_gpus = 0
    with pytest.raises(ValueError, match="'mirrored' with runtime.num_gpus=0 would train on "
                                         "the CPU alone"):
        configs.check_runtime(params)
    params = exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_coco_tpu")
    params.task.validation_data.global_batch_size = 8
    with pytest.raises(ValueError, match="validation_data.global_batch_size 8 cannot be split "
                                         "over 32 replicas"):
        configs.check_runtime(params, 32)
    configs.check_runtime(exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_coco_tpu"), 32)
    with pytest.raises(ValueError, match="train_data.global_batch_size 64 cannot be split over "
                                         "128 replicas"):
        configs.check_runtime(exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_coco_tpu"), 128)
    params = gpu()
    params.runtime.num_gpus = 2        # this machine has none
    with pytest.raises(ValueError, match="runtime.num_gpus=2 but this machine shows 0 GPU"):
        train_lib.strategy_for(params)


@pytest.mark.parametrize("kwargs, message", [
    ({"accelerator": "ipu"}, "accelerator must be one of"),
    ({"replicas": 0}, "replicas must be a positive int, got 0"),
    ({"hosts": 0}, "hosts must be a positive int, got 0"),
    ({"replicas": 6, "hosts": 4}, "6 replicas cannot be spread evenly over 4 hosts"),
])
def test_hardware_is_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        configs.Hardware(**{"accelerator": "gpu", "replicas": 8, **kwargs})


def test_shapes_experiment_is_small():
    params = exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_shapes")
    assert params.runtime.distribution_strategy == "one_device"
    assert params.task.model.input_size == [128, 128, 3]
    assert params.task.model.num_classes == configs.SHAPES_NUM_CLASSES == 4


def test_with_data_dir_and_describe():
    params = configs.with_data_dir(exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_shapes"),
                                   "/data/s")
    assert params.task.train_data.input_path == "/data/s/train*"
    assert params.task.validation_data.input_path == "/data/s/val*"
    assert params.task.annotation_file == "/data/s/instances_val.json"
    assert configs.describe_backbone(params) == "nasnet nasnet_a 1@384 (imagenet stem)"


def test_load_experiment_overrides_are_strict(tmp_path):
    params = configs.load_experiment(
        "fasterrcnn_nasnet_fpn_shapes",
        params_override="task.model.backbone.nasnet.genotype=pnasnet_5,trainer.train_steps=7",
        data_dir=str(tmp_path), strategy="mirrored")
    assert params.task.model.backbone.nasnet.genotype == "pnasnet_5"
    assert params.trainer.train_steps == 7
    assert params.runtime.distribution_strategy == "mirrored"
    with pytest.raises(ValueError, match="bad override"):
        configs.load_experiment("fasterrcnn_nasnet_fpn_shapes",
                                params_override="task.model.backbone.nasnet.genotpye=x")
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        configs.load_experiment("nope")
    with pytest.raises(ValueError, match="no experiment given"):
        configs.load_experiment(None)
    with pytest.raises(ValueError, match="config file .* does not exist"):
        configs.load_experiment("fasterrcnn_nasnet_fpn_shapes",
                                config_files=[str(tmp_path / "x.yaml")])
    with pytest.raises(ValueError, match="inconsistent experiment config"):
        configs.load_experiment("fasterrcnn_nasnet_fpn_shapes",
                                params_override="task.model.min_level=2")


def test_load_experiment_from_a_run_directory(tmp_path):
    with pytest.raises(ValueError, match="has no experiment.json"):
        configs.load_experiment(model_dir=str(tmp_path))
    params = configs.load_experiment("fasterrcnn_nasnet_fpn_shapes",
                                     params_override="trainer.train_steps=9")
    train_utils.serialize_config(params, str(tmp_path))
    (tmp_path / configs.EXPERIMENT_FILE).write_text(
        json.dumps({"experiment": "fasterrcnn_nasnet_fpn_shapes"}))
    again = configs.load_experiment(model_dir=str(tmp_path))
    assert again.trainer.train_steps == 9


def test_missing_data_fails_fast(tmp_path):
    params = configs.load_experiment("fasterrcnn_nasnet_fpn_shapes", data_dir=str(tmp_path))
    start = time.time()
    with pytest.raises(ValueError, match="train_data: no file matches input_path"):
        train_lib.check_inputs(params, "train")
    assert time.time() - start < 1.0
    (tmp_path / "train-00000-of-00001.tfrecord").write_bytes(b"")
    train_lib.check_inputs(params, "train")
    with pytest.raises(ValueError, match="validation_data: no file matches"):
        train_lib.check_inputs(params, "train_and_eval")
    (tmp_path / "val-00000-of-00001.tfrecord").write_bytes(b"")
    with pytest.raises(ValueError, match="annotation file .* does not exist"):
        train_lib.check_inputs(params, "eval")
    with pytest.raises(ValueError, match="mode must be one of"):
        train_lib.check_inputs(params, "fit")
    params.task.train_data.input_path = ""
    with pytest.raises(ValueError, match="no input_path and no tfds_name"):
        task.check_data(params.task.train_data, "train_data")


def test_unprepared_tfds_coco_fails_fast(tmp_path):
    params = configs.load_experiment(
        "fasterrcnn_nasnet_fpn_coco",
        params_override={"task": {"train_data": {"tfds_name": "coco/2017",
                                                 "tfds_data_dir": str(tmp_path)}}})
    start = time.time()
    with pytest.raises(ValueError, match="tfds dataset 'coco/2017' is not prepared"):
        train_lib.check_inputs(params, "train")
    assert time.time() - start < 10.0
    params.task.train_data.tfds_name = "no_such_dataset_xyz"
    with pytest.raises(ValueError, match="cannot open tfds dataset"):
        train_lib.check_inputs(params, "train")


def test_strategy_names_are_checked():
    params = configs.load_experiment("fasterrcnn_nasnet_fpn_shapes")
    params.runtime.distribution_strategy = "parameter_server"
    with pytest.raises(ValueError, match="distribution strategy must be one of"):
        train_lib.strategy_for(params)
    assert os.path.basename(configs.PARAMS_FILE) == "params.yaml"
