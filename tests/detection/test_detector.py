"""Faster R-CNN + FPN with a non-default NASNet genotype, through official.vision's task.

One tiny detector (AmoebaNet-A cells, 1 @ F4, 64 px, batch 2) is built once
for the module: a training step and an inference step on a synthetic shapes
batch, a checkpoint, its export (SavedModel) compared with the in-memory
model and added to the model zoo, and a checkpoint of another backbone
refused by the evaluation job without a metrics file.
"""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from official.core import task_factory

from detection import (backbone, configs, evaluate_lib, export_lib, serving, shapes, tfrecords,
                       weights)
from detection import task as detection_task  # noqa: F401  (registers the task)
from model_zoo import registry
from nasnet.export_info import ExportInfo

OVERRIDES = {
    "task": {
        "model": {
            "input_size": [64, 64, 3],
            "backbone": {"nasnet": {"genotype": "amoebanet_a", "num_conv_filters": 4}},
            "decoder": {"fpn": {"num_filters": 16}},
            "rpn_head": {"num_filters": 16},
            "detection_head": {"num_filters": 16, "fc_dims": 32},
            "roi_generator": {"pre_nms_top_k": 64, "num_proposals": 16,
                              "test_pre_nms_top_k": 64, "test_num_proposals": 16},
            "roi_sampler": {"num_sampled_rois": 8},
            "detection_generator": {"pre_nms_top_k": 32, "max_num_detections": 5},
        },
        "train_data": {"global_batch_size": 2, "shuffle_buffer_size": 4,
                       "parser": {"rpn_batch_size_per_im": 16, "aug_rand_hflip": False}},
        "validation_data": {"global_batch_size": 2},
    },
    "trainer": {"train_steps": 2},
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("detector")
    data_dir = str(root / "shapes")
    tfrecords.make_shapes(data_dir, num_train=4, num_val=2, seed=3, num_shards=1,
                          config=shapes.ShapesConfig(image_size=64, min_size=12, max_size=30,
                                                     max_objects=3))
    params = configs.load_experiment("fasterrcnn_nasnet_fpn_shapes", params_override=OVERRIDES,
                                     data_dir=data_dir)
    task = task_factory.get_task(params.task, logging_dir=str(root / "logs"))
    model = task.build_model()
    return {"root": root, "data_dir": data_dir, "params": params, "task": task, "model": model}


def test_train_step_and_inference_step(setup):
    params, task, model = setup["params"], setup["task"], setup["model"]
    assert isinstance(model.backbone, backbone.NasnetFpnBackbone)
    assert model.backbone.genotype.name == "amoebanet_a"  # not the default nasnet_a
    assert sorted(model.backbone.output_specs) == ["3", "4", "5"]

    batch = next(iter(task.build_inputs(params.task.train_data)))
    images, labels = batch
    assert images.shape == (2, 64, 64, 3)
    optimizer = task.create_optimizer(params.trainer.optimizer_config, params.runtime)
    before = [w.numpy().copy() for w in model.backbone.trainable_weights[:3]]
    logs = task.train_step(batch, model, optimizer)
    assert np.isfinite(float(logs["loss"]))
    after = [w.numpy() for w in model.backbone.trainable_weights[:3]]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))

    module = serving.serving_module(params, model=model)
    pixels = tf.cast(tf.random.uniform([2, 48, 80, 3], 0, 255), tf.uint8)
    out = module.serve(pixels)
    assert out["detection_boxes"].shape == (2, 5, 4)
    assert out["num_detections"].dtype == tf.int32
    boxes = out["detection_boxes"].numpy()
    assert boxes.min() >= 0 and boxes[..., 0::2].max() <= 48 and boxes[..., 1::2].max() <= 80

    # official.vision's validation step on the validation TFRecords, with its COCO evaluator.
    val = next(iter(task.build_inputs(params.task.validation_data)))
    task.build_metrics(training=False)
    step = task.validation_step(val, model)
    assert "coco_metric" in step
    tf.train.Checkpoint(model=model).write(str(setup["root"] / "run" / "ckpt-1"))


def test_export_matches_the_model_and_enters_the_zoo(setup):
    params, model, root = setup["params"], setup["model"], setup["root"]
    checkpoint = str(root / "run" / "ckpt-1")
    metrics_file = str(root / "metrics.json")
    evaluate_lib.write_metrics(str(root), {"AP": 0.25, "AP50": 0.5})
    export_dir = export_lib.export_detector(
        params, checkpoint, str(root / "export"), metrics_file=metrics_file,
        annotation_file=os.path.join(setup["data_dir"], "instances_val.json"))
    info = json.load(open(os.path.join(export_dir, "export_info.json")))
    assert info["task"] == "detection" and info["architecture"] == "amoebanet_a"
    assert info["detection"]["categories"] == {"1": "rectangle", "2": "ellipse", "3": "triangle"}
    typed = ExportInfo.load(os.path.join(export_dir, "export_info.json"))
    assert typed.genotype_fingerprint == model.backbone.genotype.fingerprint()
    assert typed.input_size == (64, 64, 3) and typed.outputs == serving.OUTPUTS
    assert typed.parameters == model.count_params()
    assert typed.num_classes == params.task.model.num_classes
    assert typed.framework_versions["tensorflow"] == tf.__version__
    assert sorted(os.listdir(export_dir)) == ["config.json", "export_info.json", "genotype.json",
                                              "label_map.json", "metrics.json", "params.yaml",
                                              "saved_model"]
    assert json.load(open(os.path.join(export_dir, "metrics.json")))["AP50"] == 0.5

    saved = serving.saved_model_detector(export_dir)
    memory = serving.serving_module(params, model=model)
    pixels = np.random.default_rng(0).integers(0, 255, (1, 64, 64, 3)).astype(np.uint8)
    expected = memory.serve(tf.constant(pixels))
    got = saved(pixels)
    np.testing.assert_allclose(got["detection_scores"], expected["detection_scores"].numpy(),
                               atol=1e-4)
    np.testing.assert_allclose(got["detection_boxes"], expected["detection_boxes"].numpy(),
                               atol=1e-2)

    with pytest.raises(ValueError, match="already exists"):
        export_lib.export_detector(params, checkpoint, export_dir)
    manifest = registry.Zoo(str(root / "zoo")).add(export_dir, "tiny_amoeba_fpn")
    assert manifest.task == "detection" and manifest.metrics["AP50"] == 0.5

    # The zoo entry initialises a backbone (weights only), through the task's initialize.
    params.task.init_checkpoint = "zoo:tiny_amoeba_fpn"
    params.task.init_checkpoint_modules = "backbone"
    os.environ["NASNET_ZOO_DIR"] = str(root / "zoo")
    try:
        fresh = setup["task"].build_model()
        setup["task"].initialize(fresh)
    finally:
        del os.environ["NASNET_ZOO_DIR"]
        params.task.init_checkpoint = None
    for a, b in zip(model.backbone.weights, fresh.backbone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert "model/backbone/" in weights.restore_backbone(
        fresh.backbone, "zoo:tiny_amoeba_fpn", str(root / "zoo"))


def test_export_refuses_bad_input_before_building(setup, tmp_path):
    params = setup["params"]
    with pytest.raises(ValueError, match="metrics file .* does not exist"):
        export_lib.export_detector(params, "unused", str(tmp_path / "e"),
                                   metrics_file=str(tmp_path / "none.json"))
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ValueError, match="metrics file .*list.json' must hold a JSON object"):
        export_lib.export_detector(params, "unused", str(tmp_path / "e"),
                                   metrics_file=str(tmp_path / "list.json"))
    (tmp_path / "binary.json").write_bytes(b"\x00\xff\xfe")
    with pytest.raises(ValueError, match="metrics file .*binary.json' is not a text file"):
        export_lib.export_detector(params, "unused", str(tmp_path / "e"),
                                   metrics_file=str(tmp_path / "binary.json"))
    other = configs.load_experiment("fasterrcnn_nasnet_fpn_shapes", validate=False,
                                    params_override="task.model.backbone.type=resnet")
    with pytest.raises(ValueError, match="exports NASNet detectors; .* 'resnet'"):
        export_lib.export_detector(other, "unused", str(tmp_path / "e"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no checkpoint in directory"):
        serving.restore(setup["model"], str(tmp_path / "empty"), params)
    assert not (tmp_path / "e").exists()


def test_checkpoint_of_another_backbone_is_refused_without_metrics(setup):
    from official.vision.modeling.backbones import resnet
    params, model, root = setup["params"], setup["model"], setup["root"]
    other = resnet.ResNet(model_id=18,
                          input_specs=tf_keras.layers.InputSpec(shape=[None, 64, 64, 3]))
    bad_dir = root / "resnet_run"
    tf.train.Checkpoint(model=tf.train.Checkpoint(backbone=other)).write(
        str(bad_dir / "ckpt-3"))
    with open(bad_dir / "checkpoint", "w") as f:
        f.write('model_checkpoint_path: "ckpt-3"\n')
    out = root / "eval_bad"
    detector = serving.CheckpointDetector(params, model=model)
    with pytest.raises(ValueError, match="load.checkpoint. first"):
        detector(np.zeros((1, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="no checkpoint in"):
        evaluate_lib.evaluate_checkpoints(
            params, str(root / "logs"), os.path.join(setup["data_dir"], "instances_val.json"),
            "unused", str(out), detector=detector)
    with pytest.raises(ValueError, match="does not hold this detector .nasnet amoebanet_a"):
        evaluate_lib.evaluate_checkpoints(
            params, str(bad_dir), os.path.join(setup["data_dir"], "instances_val.json"),
            os.path.join(setup["data_dir"], "images", "val"), str(out), detector=detector)
    assert not out.exists()
    with pytest.raises(ValueError, match="no checkpoint at"):
        serving.restore(model, str(root / "nothing" / "ckpt-1"), params)


def _resnet50_params(data_dir: str):
    """The ResNet-50 baseline experiment, made as small as the NASNet one above."""
    import copy
    overrides = copy.deepcopy(OVERRIDES)
    del overrides["task"]["model"]["backbone"]
    return configs.load_experiment("fasterrcnn_resnet50_fpn_shapes", params_override=overrides,
                                   data_dir=data_dir)


def test_the_resnet50_baseline_is_the_model_gardens_backbone(setup):
    from official.vision.modeling.backbones import resnet
    params = _resnet50_params(setup["data_dir"])
    model = task_factory.get_task(params.task, logging_dir=str(setup["root"] / "r")).build_model()
    assert isinstance(model.backbone, resnet.ResNet)
    assert {"3", "4", "5"} <= set(model.backbone.output_specs)
    assert model.backbone.count_params() > 23_000_000           # ResNet-50, not a stand-in


@pytest.mark.slow
def test_the_resnet50_baseline_trains_and_evaluates_through_the_same_commands(setup):
    from detection import train_lib
    params = _resnet50_params(setup["data_dir"])
    model_dir = str(setup["root"] / "resnet50_run")
    train_lib.run(params, model_dir, "train", experiment="fasterrcnn_resnet50_fpn_shapes")
    results = evaluate_lib.evaluate_checkpoints(
        configs.load_experiment(model_dir=model_dir), model_dir,
        os.path.join(setup["data_dir"], "instances_val.json"),
        os.path.join(setup["data_dir"], "images", "val"), str(setup["root"] / "resnet50_eval"))
    assert results[0]["step"] == 2
    assert 0.0 <= results[0]["AP"] <= 1.0 or results[0]["AP"] == -1
