"""A detector's serving graph and the detectors the evaluation job runs.

* ``DetectionServing`` / ``serving_module``: official.vision's detection
  module with boxes in input-image pixels; ``detection.export_lib`` saves it
  as the SavedModel's ``serving_default``, ``CheckpointDetector`` runs the
  same graph on training checkpoints.
* ``restore``: a training checkpoint (prefix or directory) into a detector,
  refusing one of another backbone, size or number of classes.
* ``saved_model_detector`` and ``CheckpointDetector``: ``coco_data.Detector``
  callables (uint8 ``[B, H, W, 3]`` -> outputs) from an export and from
  checkpoints, for ``detection.evaluate_lib`` and ``detection.visualize``.

``serving_default``: ``inputs`` uint8 ``[B, H, W, 3]`` (any size; resized and
padded as in evaluation) ->

* ``detection_boxes`` float32 ``[B, K, 4]``: (ymin, xmin, ymax, xmax) in the
  input image's pixels (official.vision's module returns them in the resized
  model input's pixels; ``DetectionServing`` divides by the resize scale and
  clips to the image);
* ``detection_classes`` ``[B, K]`` (COCO category ids), ``detection_scores``
  float32 ``[B, K]``, ``num_detections`` int32 ``[B]``, ``image_info``
  ``[B, 4, 2]``; K = ``detection_generator.max_num_detections``.

Example:
    >>> detector = CheckpointDetector(params).load("/runs/shapes")   # latest checkpoint
    >>> detector(images)["detection_boxes"].shape                     # [B, K, 4]
    >>> saved_model_detector("out/zoo/shapes_nasnet_fpn")(images)["num_detections"]
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tf_keras
from official.vision.serving import detection as mg_detection

from detection import configs
from detection.coco_data import Detector
from nasnet.artifacts import SAVED_MODEL_DIR

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


# -- detectors -------------------------------------------------------------------
def saved_model_detector(saved_model_dir: str) -> Detector:
    """A detector from an exported SavedModel (an export or zoo entry, or its
    ``saved_model/`` directory): ``serving_default`` on uint8 images."""
    path = saved_model_dir
    if os.path.isdir(os.path.join(path, SAVED_MODEL_DIR)):
        path = os.path.join(path, SAVED_MODEL_DIR)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"{saved_model_dir!r} is not a SavedModel (no saved_model.pb)")
    loaded = tf.saved_model.load(path)
    if "serving_default" not in loaded.signatures:
        raise ValueError(f"SavedModel {path!r} has no serving_default signature")
    fn = loaded.signatures["serving_default"]
    (input_name, spec), = fn.structured_input_signature[1].items()
    if spec.dtype != tf.uint8 or spec.shape.rank != 4:
        raise ValueError(f"SavedModel {path!r}: serving_default takes {spec}, not an "
                         f"image batch (uint8 [B, H, W, 3])")
    needed = {"detection_boxes", "detection_classes", "detection_scores", "num_detections"}

    def detect(images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = fn(**{input_name: tf.constant(images, tf.uint8)})
        if not needed <= set(outputs):
            raise ValueError(f"SavedModel {path!r} is not a detector: its outputs are "
                             f"{sorted(outputs)}")
        return {k: v.numpy() for k, v in outputs.items()}

    detect.model = loaded  # keeps the SavedModel's variables alive
    return detect


class CheckpointDetector:
    """A detector from an experiment config and training checkpoints.

    Builds the serving module once (``serving_module``: the same graph as the
    exported SavedModel), or wraps ``model`` (a built detector of
    ``params``); ``load(checkpoint)`` restores weights into it (ValueError when
    the checkpoint does not hold this model).
    """

    def __init__(self, params, model=None):
        self.params = params
        self.module = serving_module(params, model=model)
        self._fn = self.module.inference_from_image_tensors.get_concrete_function(
            tf.TensorSpec([None, None, None, 3], tf.uint8))
        self.checkpoint = None

    def load(self, checkpoint: str) -> "CheckpointDetector":
        self.checkpoint = restore(self.module.model, checkpoint, self.params)
        return self

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        if self.checkpoint is None:
            raise ValueError("CheckpointDetector: load(checkpoint) first")
        return {k: v.numpy() for k, v in self._fn(tf.constant(images, tf.uint8)).items()}
