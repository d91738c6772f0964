"""Export a trained detector: a SavedModel (the Model Garden's export library) and its records.

Layout of an export directory (written to a temporary sibling, then renamed)::

    saved_model/        official.vision export (``export_saved_model_lib``)
    params.yaml         the experiment config (written by that library)
    config.json         the same config as JSON
    genotype.json       the backbone's architecture (``nasnet.genotype``)
    label_map.json      {category id: name} when an annotation file was given
    metrics.json        the COCO metrics of the evaluation job ({} when unknown)
    export_info.json    what the model zoo records (task "detection", input size,
                        classes, parameters, signature, outputs, source)

Signature ``serving_default``: ``inputs`` uint8 ``[B, H, W, 3]`` (any size; the
images are resized and padded as in evaluation) ->

* ``detection_boxes`` float32 ``[B, K, 4]``: (ymin, xmin, ymax, xmax) in the
  input image's pixels (official.vision's module returns them in the resized
  model input's pixels; ``DetectionServing`` divides by the resize scale and
  clips to the image);
* ``detection_classes`` ``[B, K]`` (COCO category ids), ``detection_scores``
  float32 ``[B, K]``, ``num_detections`` int32 ``[B]``, ``image_info``
  ``[B, 4, 2]``; K = ``detection_generator.max_num_detections``.

Example:
    >>> params = configs.load_experiment(model_dir="/runs/shapes")
    >>> export_detector(params, "/runs/shapes/ckpt-1200", "/runs/shapes/export",
    ...                 metrics_file="/runs/shapes/eval/metrics.json")
    >>> register("/runs/shapes/export", "shapes_nasnet_fpn")   # the model zoo
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from typing import Any

import tensorflow as tf
import tf_keras
from official.vision.serving import detection as mg_detection
from official.vision.serving import export_saved_model_lib

from detection import backbone as nasnet_backbone
from detection import configs
from nasnet import io_utils

SAVED_MODEL_DIR = "saved_model"
EXPORT_INFO_FILE = "export_info.json"
GENOTYPE_FILE = "genotype.json"
CONFIG_FILE = "config.json"
LABEL_MAP_FILE = "label_map.json"
METRICS_FILE = "metrics.json"
TASK = "detection"
OUTPUTS = ("detection_boxes", "detection_classes", "detection_scores", "num_detections",
           "image_info")


class DetectionServing(mg_detection.DetectionModule):
    """official.vision's detection module with boxes in input-image pixels."""

    def serve(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = super().serve(images)
        info = outputs["image_info"]  # [B, 4, 2]: original, scaled, scale, offset (y, x)
        scale = tf.tile(info[:, 2:3, :], [1, 1, 2])
        limit = tf.tile(info[:, 0:1, :], [1, 1, 2])
        boxes = tf.cast(outputs["detection_boxes"], tf.float32) / scale
        outputs["detection_boxes"] = tf.minimum(tf.maximum(boxes, 0.0), limit)
        outputs["num_detections"] = tf.cast(outputs["num_detections"], tf.int32)
        return outputs


def serving_module(params, batch_size: int | None = None,
                   model: tf_keras.Model | None = None) -> DetectionServing:
    """The serving module of an experiment, its model fully built (heads included)."""
    size = list(params.task.model.input_size[:2])
    module = DetectionServing(params=params, batch_size=batch_size, input_image_size=size,
                              input_type="image_tensor", num_channels=3, model=model)
    if model is None:
        _build_heads(module)
    return module


def _build_heads(module: DetectionServing) -> None:
    """Creates every variable (heads are built lazily) so restores check all of them."""
    shape = list(module._padded_size) + [3]  # pylint: disable=protected-access
    images = tf_keras.Input(shape)
    image_shape = tf_keras.Input([2])
    module.model(images, image_shape=image_shape, training=False)


def restore(model: tf_keras.Model, checkpoint: str, params) -> str:
    """Loads a training checkpoint (prefix or directory) into ``model``.

    Raises ValueError naming the checkpoint and this model when it does not
    hold this detector (another backbone, size or number of classes).
    """
    prefix = checkpoint
    if tf.io.gfile.isdir(checkpoint):
        prefix = tf.train.latest_checkpoint(checkpoint)
        if prefix is None:
            raise ValueError(f"no checkpoint in directory {checkpoint!r}")
    elif not tf.io.gfile.exists(checkpoint + ".index"):
        raise ValueError(f"no checkpoint at {checkpoint!r} (expected {checkpoint}.index)")
    try:
        status = tf.train.Checkpoint(model=model).read(prefix)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise ValueError(
            f"checkpoint {prefix!r} does not hold this detector "
            f"({configs.describe_backbone(params)}, {params.task.model.num_classes} classes, "
            f"input {list(params.task.model.input_size)}): "
            f"{str(e).splitlines()[0][:300]}") from None
    return prefix


def _label_map(annotation_file: str | None) -> dict[str, str] | None:
    if not annotation_file:
        return None
    from detection import evaluate_lib
    coco = evaluate_lib.load_ground_truth(annotation_file)
    return {str(c["id"]): c["name"] for c in coco.dataset["categories"]}


def _read_metrics(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    if not os.path.isfile(path):
        raise ValueError(f"metrics file {path!r} does not exist (run the evaluation job)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def export_detector(params, checkpoint: str, export_dir: str, *,
                    annotation_file: str | None = None, metrics_file: str | None = None,
                    source_run: str | None = None, overwrite: bool = False) -> str:
    """Writes the export directory of a trained detector; returns its absolute path.

    Everything is checked (checkpoint, metrics file, annotation file) before
    anything is written; the directory appears whole or not at all.
    """
    export_dir = os.path.abspath(export_dir)
    if os.path.exists(export_dir) and not overwrite:
        raise ValueError(f"export directory {export_dir!r} already exists "
                         f"(pass --overwrite to replace it)")
    if params.task.model.backbone.type != nasnet_backbone.BACKBONE_TYPE:
        raise ValueError(f"export_detector exports NASNet detectors; this experiment's "
                         f"backbone is {params.task.model.backbone.type!r}")
    metrics = _read_metrics(metrics_file)
    labels = _label_map(annotation_file)
    module = serving_module(params)
    prefix = restore(module.model, checkpoint, params)
    backbone = module.model.backbone
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(export_dir)}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        export_saved_model_lib.export_inference_graph(
            input_type="image_tensor", batch_size=None,
            input_image_size=list(params.task.model.input_size[:2]), params=params,
            checkpoint_path=None, export_dir=tmp, export_module=module,
            export_saved_model_subdir=SAVED_MODEL_DIR)
        genotype = backbone.genotype
        genotype.save(os.path.join(tmp, GENOTYPE_FILE))
        io_utils.atomic_write_json(os.path.join(tmp, CONFIG_FILE), params.as_dict())
        io_utils.atomic_write_json(os.path.join(tmp, METRICS_FILE), metrics)
        if labels is not None:
            io_utils.atomic_write_json(os.path.join(tmp, LABEL_MAP_FILE), labels)
        model_cfg = params.task.model
        info = {
            "task": TASK,
            "architecture": genotype.name or "custom",
            "genotype_fingerprint": genotype.fingerprint(),
            "size": backbone.backbone_config.size,
            "backbone": configs.describe_backbone(params),
            "detector": "Faster R-CNN + FPN (official.vision MaskRCNNModel, no mask head)",
            "input_size": [int(d) for d in model_cfg.input_size],
            "num_classes": int(model_cfg.num_classes),
            "categories": labels,
            "parameters": int(module.model.count_params()),
            "backbone_parameters": int(backbone.count_params()),
            "mult_adds": None,
            "signatures": {"serving_default": "inputs: uint8 [B, H, W, 3]"},
            "outputs": list(OUTPUTS),
            "box_format": "ymin, xmin, ymax, xmax in input-image pixels",
            "dataset": str(params.task.validation_data.tfds_name
                           or params.task.validation_data.input_path),
            "source_run": source_run,
            "checkpoint": os.path.abspath(prefix),
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
        }
        io_utils.atomic_write_json(os.path.join(tmp, EXPORT_INFO_FILE), info)
        old = None
        if os.path.exists(export_dir):
            old = os.path.join(parent, f".{os.path.basename(export_dir)}.old-{os.getpid()}")
            os.replace(export_dir, old)
        os.replace(tmp, export_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return export_dir


def register(export_dir: str, name: str, zoo_dir: str | None = None,
             overwrite: bool = False):
    """Adds an export to the model zoo (``model_zoo.registry.Zoo.add``); returns its manifest."""
    from model_zoo import registry
    return registry.Zoo(zoo_dir).add(export_dir, name, overwrite=overwrite)
