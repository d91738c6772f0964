"""official.vision's Mask R-CNN task, for configs whose backbone may be ``nasnet``.

``NasnetFasterRCNNTask`` is registered with ``official.core.task_factory`` for
``detection.configs.NasnetFasterRCNNTask``; training, evaluation, losses and
metrics are ``official.vision.tasks.maskrcnn.MaskRCNNTask``'s own. It adds:

* **Fast, clear data errors** (``check_data``): TFRecord patterns that match
  no file, a missing annotation file or an unprepared tfds dataset raise
  ``ValueError`` naming the path and how to make the data, before any model
  is built.
* **tfds inputs** (``tfds_name``, e.g. ``coco/2017``), decoded by the Model
  Garden's tfds detection decoders (its Mask R-CNN task reads TFRecords only).
* **Backbone initialisation from a classifier** (``init_checkpoint_modules:
  backbone``): ``init_checkpoint`` may be a transfer training run, its
  checkpoint, an export, a zoo entry (``zoo:NAME``) or a detection checkpoint
  (``detection.weights``).

Example:
    >>> from official.core import exp_factory, task_factory
    >>> import detection.task  # registers configs and the task
    >>> params = exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_shapes")
    >>> task = task_factory.get_task(params.task)
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from absl import logging
from official.common import dataset_fn as dataset_fn_lib
from official.core import task_factory
from official.vision.dataloaders import input_reader, input_reader_factory, maskrcnn_input
from official.vision.dataloaders import tfds_factory
from official.vision.tasks import maskrcnn as maskrcnn_task

from detection import configs, weights
from nasnet import cell as nas_cell

SHAPES_HINT = ("make the shapes set with `bazel run //detection:data -- shapes "
               "--output_dir=DIR` and pass --data_dir=DIR")
COCO_HINT = ("convert COCO 2017 with `bazel run //detection:data -- coco ...` (the Model "
             "Garden's converter), or read it through tfds with "
             "task.train_data.tfds_name=coco/2017")


def check_data(data: configs.maskrcnn_cfg.DataConfig, what: str) -> None:
    """Raises ValueError when ``data`` names TFRecords or a tfds set that is not there."""
    if data.tfds_name:
        import tensorflow_datasets as tfds
        try:
            builder = tfds.builder(data.tfds_name, data_dir=data.tfds_data_dir or None,
                                   try_gcs=False)
            prepared = builder.is_prepared()
        except Exception as e:  # tfds raises many types for unknown / broken sets.
            raise ValueError(f"{what}: cannot open tfds dataset {data.tfds_name!r}: "
                             f"{str(e).splitlines()[0]}") from None
        if not prepared:
            raise ValueError(
                f"{what}: tfds dataset {data.tfds_name!r} is not prepared in "
                f"{builder.data_dir!r} (nothing is downloaded here: run "
                f"`tfds build {data.tfds_name}` where COCO is reachable, or set "
                f"tfds_data_dir); or {COCO_HINT}")
        return
    patterns = [p for p in str(data.input_path or "").split(",") if p]
    if not patterns:
        raise ValueError(f"{what}: no input_path and no tfds_name; {COCO_HINT}, or "
                         f"{SHAPES_HINT}")
    for pattern in patterns:
        if not tf.io.gfile.glob(pattern):
            raise ValueError(f"{what}: no file matches input_path {pattern!r}; {SHAPES_HINT}; "
                             f"or {COCO_HINT}")


def check_annotation_file(path: str | None) -> None:
    if path and not tf.io.gfile.exists(path):
        raise ValueError(f"annotation file {path!r} does not exist (COCO: "
                         f"annotations/instances_val2017.json; shapes: instances_val.json)")


@task_factory.register_task_cls(configs.NasnetFasterRCNNTask)
class NasnetFasterRCNNTask(maskrcnn_task.MaskRCNNTask):
    """``MaskRCNNTask`` + data checks, tfds inputs and classifier-backbone init."""

    def initialize(self, model: tf_keras.Model):
        """Backbone weights from a classifier, export, zoo entry or detector; else Model Garden's."""
        source = self.task_config.init_checkpoint
        modules = self.task_config.init_checkpoint_modules
        if isinstance(modules, str):
            modules = [m.strip() for m in modules.split(",") if m.strip()]
        if not source or list(modules) != ["backbone"]:
            return super().initialize(model)
        restored = weights.restore_backbone(model.backbone, source)
        logging.info("Backbone initialised from %s (%s)", source, restored)

    def build_inputs(self, params, input_context: tf.distribute.InputContext | None = None,
                     dataset_fn=None) -> tf.data.Dataset:
        what = "train_data" if params.is_training else "validation_data"
        check_data(params, what)
        if not params.is_training:
            check_annotation_file(self.task_config.annotation_file)
        if not params.tfds_name:
            return super().build_inputs(params, input_context, dataset_fn)
        decoder = tfds_factory.get_detection_decoder(params.tfds_name)
        model = self.task_config.model
        parser_cfg = params.parser
        parser = maskrcnn_input.Parser(
            output_size=model.input_size[:2], min_level=model.min_level,
            max_level=model.max_level, num_scales=model.anchor.num_scales,
            aspect_ratios=model.anchor.aspect_ratios, anchor_size=model.anchor.anchor_size,
            rpn_match_threshold=parser_cfg.rpn_match_threshold,
            rpn_unmatched_threshold=parser_cfg.rpn_unmatched_threshold,
            rpn_batch_size_per_im=parser_cfg.rpn_batch_size_per_im,
            rpn_fg_fraction=parser_cfg.rpn_fg_fraction,
            aug_rand_hflip=parser_cfg.aug_rand_hflip, aug_rand_vflip=parser_cfg.aug_rand_vflip,
            aug_scale_min=parser_cfg.aug_scale_min, aug_scale_max=parser_cfg.aug_scale_max,
            aug_type=parser_cfg.aug_type,
            skip_crowd_during_training=parser_cfg.skip_crowd_during_training,
            max_num_instances=parser_cfg.max_num_instances, include_mask=model.include_mask,
            outer_boxes_scale=model.outer_boxes_scale, mask_crop_size=parser_cfg.mask_crop_size,
            dtype=params.dtype)
        reader = input_reader_factory.input_reader_generator(
            params, dataset_fn=dataset_fn or dataset_fn_lib.pick_dataset_fn(params.file_type),
            decoder_fn=decoder.decode, combine_fn=input_reader.create_combine_fn(params),
            parser_fn=parser.parse_fn(params.is_training))
        return reader.read(input_context=input_context)


def update_drop_path(model: tf_keras.Model, step: int, total_steps: int) -> float:
    """Sets every NASNet cell's ScheduledDropPath progress to ``step / total_steps``."""
    progress = min(1.0, max(0.0, step / float(max(1, total_steps))))
    nas_cell.set_drop_path_progress(model, progress)
    return progress

