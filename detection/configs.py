"""Faster R-CNN + FPN experiments with the NASNet backbone (official.vision configs).

Faster R-CNN is official.vision's Mask R-CNN with ``include_mask=False`` (as
in its ``fasterrcnn_resnetfpn_coco`` experiment). ``NasnetMaskRCNN`` is that
model config with a backbone OneOfConfig that knows ``nasnet``;
``NasnetFasterRCNNTask`` is ``MaskRCNNTask``'s config with that model (the task
class is ``detection.task.NasnetFasterRCNNTask``). Importing this module
registers these experiments with ``official.core.exp_factory``:

=================================  =========================================================
``fasterrcnn_nasnet_fpn_coco``      paper-like: NASNet-A Large (6 @ 4032, stem x3, drop path
                                    0.7) + FPN, 1024 px, COCO 2017, the Model Garden's
                                    Faster R-CNN schedule (22.5k steps of 64, SGD 0.12,
                                    steps at 15k / 20k, 500 warm-up steps)
``fasterrcnn_nasnet_fpn_coco_gpu``  the same on one host of 8 GPUs: ``mirrored``,
                                    mixed_float16, batch 16 (2 per GPU), learning rates
                                    scaled linearly (x 16 / 64), 4x the steps
``fasterrcnn_nasnet_fpn_coco_tpu``  the same on a TPU slice: ``tpu``, bfloat16, batch 64
``fasterrcnn_nasnet_mobile_fpn_coco``  NASNet-A Mobile (4 @ 1056) + FPN at 640 px (ours)
``fasterrcnn_nasnet_fpn_shapes``    the synthetic shapes set (``detection.shapes``): a
                                    small NASNet-A (1 @ 384, F = 16) + thin FPN at 128 px, 3 classes,
                                    trainable on 2 CPU cores in under 30 minutes
=================================  =========================================================

Sources: Zoph et al. 2018 (Sec. 4.3) put NASNet-A Large into Faster R-CNN and
reached 43.1 COCO mAP; the TF1 detection zoo's ``faster_rcnn_nas`` used
1200 px inputs without FPN [unverified]. Here the detector is the Model
Garden's FPN Faster R-CNN, so its recipe (``fasterrcnn_resnetfpn_coco``: 1024 px,
batch 64, SGD momentum 0.9, weight decay 4e-5, hflip + scale 0.8-1.25) is kept
and only the backbone changes. Initialise the backbone from an ImageNet
classifier with ``task.init_checkpoint=<transfer run / export / zoo:NAME>``
(``init_checkpoint_modules='backbone'``, see ``detection.weights``).

Data paths are relative to a data directory (``with_data_dir``): TFRecords
``train*`` / ``val*`` and the validation annotations, as written by
``detection.tfrecords`` (shapes, or COCO through the Model Garden's converter).
COCO can also come from tfds: ``task.train_data.tfds_name=coco/2017``.

Example:
    >>> from official.core import exp_factory
    >>> from detection import configs
    >>> params = exp_factory.get_exp_config("fasterrcnn_nasnet_fpn_shapes")
    >>> params = configs.with_data_dir(params, "/data/shapes")
    >>> params.task.model.backbone.nasnet.size
    '1@384'
"""

from __future__ import annotations

import dataclasses
import os

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import optimization
from official.vision.configs import common, decoders
from official.vision.configs import maskrcnn as maskrcnn_cfg

from detection import backbone as nasnet_backbone

COCO_TRAIN_EXAMPLES = 118_287
COCO_VAL_EXAMPLES = 5_000
COCO_NUM_CLASSES = 91  # category ids 1..90 plus background, as official.vision.
#: File names inside a data directory (see ``with_data_dir``).
TRAIN_PATTERN = "train*"
VAL_PATTERN = "val*"
COCO_VAL_ANNOTATIONS = "instances_val2017.json"
SHAPES_VAL_ANNOTATIONS = "instances_val.json"
#: The placeholder data directory of the registered experiments.
DEFAULT_COCO_DIR = "coco"
DEFAULT_SHAPES_DIR = "shapes"


@dataclasses.dataclass
class NasnetMaskRCNN(maskrcnn_cfg.MaskRCNN):
    """official.vision's (Mask / Faster) R-CNN model config; backbone may be ``nasnet``."""

    backbone: nasnet_backbone.Backbone = dataclasses.field(
        default_factory=lambda: nasnet_backbone.Backbone(
            type="nasnet", nasnet=nasnet_backbone.NasnetBackboneConfig()))


@dataclasses.dataclass
class NasnetFasterRCNNTask(maskrcnn_cfg.MaskRCNNTask):
    """``MaskRCNNTask`` with ``NasnetMaskRCNN``; run by ``detection.task``."""

    model: NasnetMaskRCNN = dataclasses.field(default_factory=NasnetMaskRCNN)


_RESTRICTIONS = [
    "task.train_data.is_training != None",
    "task.validation_data.is_training != None",
    "task.model.min_level == task.model.backbone.nasnet.min_level",
]


def _sgd_schedule(boundaries, values, warmup_steps, warmup_lr) -> optimization.OptimizationConfig:
    return optimization.OptimizationConfig({
        "optimizer": {"type": "sgd", "sgd": {"momentum": 0.9}},
        "learning_rate": {"type": "stepwise",
                          "stepwise": {"boundaries": list(boundaries), "values": list(values)}},
        "warmup": {"type": "linear", "linear": {"warmup_steps": warmup_steps,
                                                "warmup_learning_rate": warmup_lr}},
    })


def _coco_task(backbone_cfg: nasnet_backbone.NasnetBackboneConfig, input_size: int,
               train_batch: int, eval_batch: int) -> NasnetFasterRCNNTask:
    return NasnetFasterRCNNTask(
        init_checkpoint_modules="backbone",
        annotation_file=os.path.join(DEFAULT_COCO_DIR, COCO_VAL_ANNOTATIONS),
        model=NasnetMaskRCNN(
            num_classes=COCO_NUM_CLASSES,
            input_size=[input_size, input_size, 3],
            min_level=backbone_cfg.min_level, max_level=6,
            backbone=nasnet_backbone.Backbone(type="nasnet", nasnet=backbone_cfg),
            decoder=decoders.Decoder(type="fpn", fpn=decoders.FPN()),
            norm_activation=common.NormActivation(norm_momentum=0.997, norm_epsilon=1e-4,
                                                  use_sync_bn=True),
            include_mask=False, mask_head=None, mask_sampler=None, mask_roi_aligner=None),
        losses=maskrcnn_cfg.Losses(l2_weight_decay=4e-5),
        train_data=maskrcnn_cfg.DataConfig(
            input_path=os.path.join(DEFAULT_COCO_DIR, TRAIN_PATTERN), is_training=True,
            global_batch_size=train_batch,
            parser=maskrcnn_cfg.Parser(aug_rand_hflip=True, aug_scale_min=0.8,
                                       aug_scale_max=1.25)),
        validation_data=maskrcnn_cfg.DataConfig(
            input_path=os.path.join(DEFAULT_COCO_DIR, VAL_PATTERN), is_training=False,
            global_batch_size=eval_batch, drop_remainder=False))


#: NASNet-A Large, slim ``large_imagenet_config`` (tensorflow/models
#: research/slim/nets/nasnet/nasnet.py).
NASNET_A_LARGE = nasnet_backbone.NasnetBackboneConfig(
    genotype="nasnet_a", size="6@4032", stem="imagenet", stem_multiplier=3.0,
    skip_reduction_layer_input=True, drop_path_keep_prob=0.7,
    total_training_steps=22_500, min_level=2)
#: NASNet-A Mobile, slim ``mobile_imagenet_config``.
NASNET_A_MOBILE = nasnet_backbone.NasnetBackboneConfig(
    genotype="nasnet_a", size="4@1056", stem="imagenet", stem_multiplier=1.0,
    drop_path_keep_prob=1.0, min_level=3)


def _coco_experiment(backbone_cfg, input_size, train_batch, train_steps, lr_scale,
                     strategy, precision) -> cfg.ExperimentConfig:
    steps_per_epoch = max(1, COCO_TRAIN_EXAMPLES // train_batch)
    eval_batch = 8
    boundaries = [int(train_steps * 2 / 3), int(train_steps * 8 / 9)]  # 15k, 20k of 22.5k
    backbone_cfg = backbone_cfg.replace(total_training_steps=train_steps)
    return cfg.ExperimentConfig(
        runtime=cfg.RuntimeConfig(distribution_strategy=strategy,
                                  mixed_precision_dtype=precision),
        task=_coco_task(backbone_cfg, input_size, train_batch, eval_batch),
        trainer=cfg.TrainerConfig(
            train_steps=train_steps,
            validation_steps=COCO_VAL_EXAMPLES // eval_batch,
            validation_interval=steps_per_epoch, steps_per_loop=min(500, steps_per_epoch),
            summary_interval=min(500, steps_per_epoch),
            checkpoint_interval=min(500, steps_per_epoch),
            optimizer_config=_sgd_schedule(
                boundaries, [0.12 * lr_scale, 0.012 * lr_scale, 0.0012 * lr_scale],
                warmup_steps=int(500 / lr_scale), warmup_lr=0.0067 * lr_scale)),
        restrictions=list(_RESTRICTIONS))


@exp_factory.register_config_factory("fasterrcnn_nasnet_fpn_coco")
def fasterrcnn_nasnet_fpn_coco() -> cfg.ExperimentConfig:
    """Paper-like: NASNet-A Large + FPN at 1024 px, the Model Garden's 12-epoch schedule."""
    return _coco_experiment(NASNET_A_LARGE, 1024, train_batch=64, train_steps=22_500,
                            lr_scale=1.0, strategy="mirrored", precision="float32")


@exp_factory.register_config_factory("fasterrcnn_nasnet_fpn_coco_gpu")
def fasterrcnn_nasnet_fpn_coco_gpu() -> cfg.ExperimentConfig:
    """8 GPUs on one host: batch 16, linear learning-rate scaling, same epochs."""
    params = _coco_experiment(NASNET_A_LARGE, 1024, train_batch=16, train_steps=90_000,
                              lr_scale=16 / 64, strategy="mirrored",
                              precision="mixed_float16")
    params.runtime.num_gpus = 8
    return params


@exp_factory.register_config_factory("fasterrcnn_nasnet_fpn_coco_tpu")
def fasterrcnn_nasnet_fpn_coco_tpu() -> cfg.ExperimentConfig:
    """A TPU slice (v3-32 or larger): batch 64, bfloat16."""
    return _coco_experiment(NASNET_A_LARGE, 1024, train_batch=64, train_steps=22_500,
                            lr_scale=1.0, strategy="tpu", precision="bfloat16")


@exp_factory.register_config_factory("fasterrcnn_nasnet_mobile_fpn_coco")
def fasterrcnn_nasnet_mobile_fpn_coco() -> cfg.ExperimentConfig:
    """NASNet-A Mobile + FPN (levels 3..6) at 640 px; otherwise the COCO recipe (ours)."""
    params = _coco_experiment(NASNET_A_MOBILE, 640, train_batch=64, train_steps=22_500,
                              lr_scale=1.0, strategy="mirrored", precision="float32")
    params.task.model.min_level = 3
    return params


#: The shapes set's classes (``detection.shapes.CATEGORIES``), plus background.
SHAPES_NUM_CLASSES = 4


@exp_factory.register_config_factory("fasterrcnn_nasnet_fpn_shapes")
def fasterrcnn_nasnet_fpn_shapes() -> cfg.ExperimentConfig:
    """The synthetic shapes set on a CPU: a small detector, 128 px, batch 8.

    Our choice, sized for the README's offline demo (2 CPU cores, < 30 min):
    NASNet-A 1 @ 384 (F = 16) with a half-width mobile ImageNet stem (levels 3..5), FPN of 64
    filters, anchors of 16 / 32 / 64 px (objects are 14..56 px), 64 RPN anchors
    and 64 RoIs per image, one 256-unit fully connected box head, Adam with a
    cosine decay. Weight decay is off (from-scratch training for ~1,000 steps).
    """
    train_steps = 1_000
    train_batch, eval_batch = 8, 8
    backbone_cfg = nasnet_backbone.NasnetBackboneConfig(
        genotype="nasnet_a", size="1@384", stem="imagenet",
        stem_multiplier=0.5, min_level=3, total_training_steps=train_steps)
    task = NasnetFasterRCNNTask(
        annotation_file=os.path.join(DEFAULT_SHAPES_DIR, SHAPES_VAL_ANNOTATIONS),
        model=NasnetMaskRCNN(
            num_classes=SHAPES_NUM_CLASSES, input_size=[128, 128, 3], min_level=3,
            max_level=5,
            anchor=maskrcnn_cfg.Anchor(num_scales=1, aspect_ratios=[0.5, 1.0, 2.0],
                                       anchor_size=2.0),
            backbone=nasnet_backbone.Backbone(type="nasnet", nasnet=backbone_cfg),
            decoder=decoders.Decoder(type="fpn", fpn=decoders.FPN(num_filters=64)),
            rpn_head=maskrcnn_cfg.RPNHead(num_convs=1, num_filters=64),
            detection_head=maskrcnn_cfg.DetectionHead(num_convs=0, num_filters=64, num_fcs=1,
                                                      fc_dims=256),
            roi_generator=maskrcnn_cfg.ROIGenerator(
                pre_nms_top_k=600, num_proposals=128, test_pre_nms_top_k=600,
                test_num_proposals=100),
            roi_sampler=maskrcnn_cfg.ROISampler(num_sampled_rois=64),
            detection_generator=maskrcnn_cfg.DetectionGenerator(
                pre_nms_top_k=500, max_num_detections=20),
            norm_activation=common.NormActivation(norm_momentum=0.99, norm_epsilon=1e-3,
                                                  use_sync_bn=False),
            include_mask=False, mask_head=None, mask_sampler=None, mask_roi_aligner=None),
        losses=maskrcnn_cfg.Losses(l2_weight_decay=0.0),
        train_data=maskrcnn_cfg.DataConfig(
            input_path=os.path.join(DEFAULT_SHAPES_DIR, TRAIN_PATTERN), is_training=True,
            global_batch_size=train_batch, dtype="float32", shuffle_buffer_size=1000,
            parser=maskrcnn_cfg.Parser(aug_rand_hflip=True, max_num_instances=16,
                                       rpn_batch_size_per_im=64)),
        validation_data=maskrcnn_cfg.DataConfig(
            input_path=os.path.join(DEFAULT_SHAPES_DIR, VAL_PATTERN), is_training=False,
            global_batch_size=eval_batch, dtype="float32", drop_remainder=False,
            parser=maskrcnn_cfg.Parser(max_num_instances=16)))
    return cfg.ExperimentConfig(
        runtime=cfg.RuntimeConfig(distribution_strategy="one_device", num_gpus=0,
                                  mixed_precision_dtype="float32"),
        task=task,
        trainer=cfg.TrainerConfig(
            train_steps=train_steps, validation_steps=-1, validation_interval=train_steps,
            steps_per_loop=50, summary_interval=50, checkpoint_interval=250, max_to_keep=5,
            optimizer_config=optimization.OptimizationConfig({
                "optimizer": {"type": "adam", "adam": {"global_clipnorm": 10.0}},
                "learning_rate": {"type": "cosine",
                                  "cosine": {"initial_learning_rate": 2e-3,
                                             "decay_steps": train_steps, "alpha": 0.02}},
                "warmup": {"type": "linear", "linear": {"warmup_steps": 50,
                                                        "warmup_learning_rate": 1e-4}},
            })),
        restrictions=list(_RESTRICTIONS))


EXPERIMENTS = ("fasterrcnn_nasnet_fpn_coco", "fasterrcnn_nasnet_fpn_coco_gpu",
               "fasterrcnn_nasnet_fpn_coco_tpu", "fasterrcnn_nasnet_mobile_fpn_coco",
               "fasterrcnn_nasnet_fpn_shapes")


def with_data_dir(params: cfg.ExperimentConfig, data_dir: str) -> cfg.ExperimentConfig:
    """``params`` reading its TFRecords and annotation file from ``data_dir``.

    Keeps each path's file name (``train*``, ``val*``, ``instances_val*.json``)
    and replaces its directory; tfds inputs are left alone.
    """
    task = params.task
    for data in (task.train_data, task.validation_data):
        if data.input_path and not data.tfds_name:
            data.input_path = ",".join(os.path.join(data_dir, os.path.basename(p))
                                       for p in str(data.input_path).split(","))
    if task.annotation_file:
        task.annotation_file = os.path.join(data_dir, os.path.basename(task.annotation_file))
    return params


#: Written by the train binary beside official.vision's params.yaml.
EXPERIMENT_FILE = "experiment.json"
PARAMS_FILE = "params.yaml"


def load_experiment(experiment: str | None = None, *, model_dir: str | None = None,
                    config_files: tuple[str, ...] | list[str] = (), params_override: str = "",
                    data_dir: str | None = None, strategy: str | None = None,
                    validate: bool = True) -> cfg.ExperimentConfig:
    """An experiment config: registered defaults, then a training run's params.yaml,
    then YAML files, then ``params_override``, then ``data_dir`` and ``strategy``.

    Overrides are strict (official.vision's ``override(is_strict=True)``): a
    misspelt key raises. ``experiment`` may be omitted when ``model_dir`` was
    written by the train binary. Raises ValueError for an unknown experiment,
    a model_dir without its files, or a bad override.
    """
    from official.modeling import hyperparams
    import json

    if model_dir and experiment is None:
        path = os.path.join(model_dir, EXPERIMENT_FILE)
        if not os.path.isfile(path):
            raise ValueError(f"{model_dir!r} has no {EXPERIMENT_FILE}: pass --experiment "
                             f"(known: {sorted(EXPERIMENTS)})")
        with open(path, encoding="utf-8") as f:
            experiment = json.load(f)["experiment"]
    if not experiment:
        raise ValueError(f"no experiment given (known: {sorted(EXPERIMENTS)})")
    try:
        params = exp_factory.get_exp_config(experiment)
    except LookupError:
        raise ValueError(f"unknown experiment {experiment!r}; this project registers "
                         f"{sorted(EXPERIMENTS)}") from None
    files = list(config_files)
    if model_dir and os.path.isfile(os.path.join(model_dir, PARAMS_FILE)):
        files.insert(0, os.path.join(model_dir, PARAMS_FILE))
    try:
        for path in files:
            if not os.path.isfile(path):
                raise ValueError(f"config file {path!r} does not exist")
            params = hyperparams.override_params_dict(params, path, is_strict=True)
        if params_override:
            params = hyperparams.override_params_dict(params, params_override, is_strict=True)
    except KeyError as e:
        raise ValueError(f"bad override: {e.args[0] if e.args else e}") from None
    if data_dir:
        params = with_data_dir(params, data_dir)
    if strategy:
        params.runtime.distribution_strategy = strategy
    if validate:
        check(params)
    return params


def check(params: cfg.ExperimentConfig) -> cfg.ExperimentConfig:
    """``params.validate()`` (the restrictions) with a ValueError when one fails."""
    try:
        params.validate()
    except KeyError as e:
        raise ValueError(
            f"inconsistent experiment config: {e.args[0] if e.args else e} (restrictions: "
            f"{list(getattr(params, '_restrictions', []))})") from None
    return params


def describe_backbone(params: cfg.ExperimentConfig) -> str:
    """``nasnet nasnet_a 1@384 (imagenet stem)`` or the backbone type."""
    backbone = params.task.model.backbone
    if backbone.type != "nasnet":
        return str(backbone.type)
    nas = backbone.nasnet
    filters = f", F={nas.num_conv_filters}" if nas.num_conv_filters else ""
    return f"nasnet {nas.genotype} {nas.size}{filters} ({nas.stem} stem)"
