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
                                    steps at 15k / 20k, 500 warm-up steps), on one host of
                                    8 large GPUs (8 images each), float16
``fasterrcnn_nasnet_fpn_coco_gpu``  the same on one host of 8 GPUs: ``mirrored``,
                                    float16 with dynamic loss scaling, batch 16 (2 per
                                    GPU), learning rates scaled linearly (x 16 / 64), 4x
                                    the steps
``fasterrcnn_nasnet_fpn_coco_tpu``  the same on a TPU v3-32 slice (32 cores): ``tpu``,
                                    bfloat16, batch 64 (2 per core), eval batch 32
``fasterrcnn_nasnet_mobile_fpn_coco``  NASNet-A Mobile (4 @ 1056) + FPN at 640 px (ours), 8 GPUs
``fasterrcnn_nasnet_fpn_shapes``    the synthetic shapes set (``detection.shapes``): a
                                    small NASNet-A (1 @ 384, F = 16) + thin FPN at 128 px, 3 classes,
                                    trainable on 2 CPU cores in under 30 minutes
``fasterrcnn_resnet50_fpn_shapes``  the same detector, data and schedule with the Model
                                    Garden's ResNet-50 backbone (``backbone.type: resnet``,
                                    levels 3..5): the hand-designed baseline, trained and
                                    evaluated by the same commands
=================================  =========================================================

Any backbone registered with official.vision's backbone factory can replace
the NASNet one (``--params_override=task.model.backbone.type=...``); one that
is not registered, or whose config the experiment lacks, is refused by
``check`` (and ``load_experiment``) with the list of registered backbones,
before anything is written.

Sources: Zoph et al. 2018 (Sec. 4.3) put NASNet-A Large into Faster R-CNN and
reached 43.1 COCO mAP; the TF1 detection zoo's ``faster_rcnn_nas`` used
1200 px inputs without FPN [unverified]. Here the detector is the Model
Garden's FPN Faster R-CNN, so its recipe (``fasterrcnn_resnetfpn_coco``: 1024 px,
batch 64, SGD momentum 0.9, weight decay 4e-5, hflip + scale 0.8-1.25) is kept
and only the backbone changes. Initialise the backbone from an ImageNet
classifier with ``task.init_checkpoint=<transfer run / export / zoo:NAME>``
(``init_checkpoint_modules='backbone'``, see ``detection.weights``).

Hardware: ``HARDWARE`` names what each experiment is sized for (replicas,
hosts); ``check_runtime`` refuses a runtime the Model Garden would reject or
misuse (Keras policy names as ``mixed_precision_dtype``, ``mirrored`` without
GPUs, batches that do not split over the replicas) and runs before training
(``detection.train_lib.run``). GPU experiments train in float16: the Model
Garden's ``base_task.create_optimizer`` then wraps the optimizer in a
dynamic ``LossScaleOptimizer``. All COCO experiments use synchronized batch
norm (``norm_activation.use_sync_bn``), in the NASNet cells too
(``detection.backbone``).

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

import tensorflow as tf
from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import optimization
from official.vision.configs import common, decoders
from official.vision.configs import maskrcnn as maskrcnn_cfg

from official.vision.configs import backbones as mg_backbones
from official.vision.modeling.backbones import factory as backbone_factory

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


_DATA_RESTRICTIONS = [
    "task.train_data.is_training != None",
    "task.validation_data.is_training != None",
]
_RESTRICTIONS = _DATA_RESTRICTIONS + [
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


ACCELERATORS = ("cpu", "gpu", "tpu")


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What an experiment is sized for: its batches split evenly over ``replicas``.

    ``accelerator`` is ``gpu``, ``tpu`` or ``cpu``; ``hosts`` the machines
    that each read a share of the input (``tf.distribute.InputContext``'s
    ``num_input_pipelines``).
    """

    accelerator: str
    replicas: int
    hosts: int = 1
    description: str = ""

    def __post_init__(self):
        if self.accelerator not in ACCELERATORS:
            raise ValueError(f"accelerator must be one of {ACCELERATORS}, got "
                             f"{self.accelerator!r}")
        for name in ("replicas", "hosts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.replicas % self.hosts:
            raise ValueError(f"{self.replicas} replicas cannot be spread evenly over "
                             f"{self.hosts} hosts")


#: The Model Garden's names for ``runtime.mixed_precision_dtype`` (its
#: ``performance.set_mixed_precision_policy`` takes these, not Keras's policy
#: names such as ``mixed_float16``).
PRECISIONS = ("float32", "float16", "bfloat16")


def _coco_experiment(backbone_cfg, input_size, train_batch, eval_batch, train_steps, lr_scale,
                     runtime: cfg.RuntimeConfig) -> cfg.ExperimentConfig:
    steps_per_epoch = max(1, COCO_TRAIN_EXAMPLES // train_batch)
    boundaries = [int(train_steps * 2 / 3), int(train_steps * 8 / 9)]  # 15k, 20k of 22.5k
    backbone_cfg = backbone_cfg.replace(total_training_steps=train_steps)
    return cfg.ExperimentConfig(
        runtime=runtime,
        task=_coco_task(backbone_cfg, input_size, train_batch, eval_batch),
        trainer=cfg.TrainerConfig(
            train_steps=train_steps,
            # Every validation image once; the last batch may be partial.
            validation_steps=-(-COCO_VAL_EXAMPLES // eval_batch),
            validation_interval=steps_per_epoch, steps_per_loop=min(500, steps_per_epoch),
            summary_interval=min(500, steps_per_epoch),
            checkpoint_interval=min(500, steps_per_epoch),
            optimizer_config=_sgd_schedule(
                boundaries, [0.12 * lr_scale, 0.012 * lr_scale, 0.0012 * lr_scale],
                warmup_steps=int(500 / lr_scale), warmup_lr=0.0067 * lr_scale)),
        restrictions=list(_RESTRICTIONS))


def _gpu_runtime(num_gpus: int) -> cfg.RuntimeConfig:
    """``mirrored`` over ``num_gpus`` GPUs in float16 with dynamic loss scaling
    (``base_task.create_optimizer`` wraps the optimizer in a ``LossScaleOptimizer``)."""
    return cfg.RuntimeConfig(distribution_strategy="mirrored", num_gpus=num_gpus,
                             mixed_precision_dtype="float16", loss_scale="dynamic")


@exp_factory.register_config_factory("fasterrcnn_nasnet_fpn_coco")
def fasterrcnn_nasnet_fpn_coco() -> cfg.ExperimentConfig:
    """Paper-like: NASNet-A Large + FPN at 1024 px, the Model Garden's 12-epoch schedule
    at its batch of 64, on one host of 8 large GPUs (8 images each)."""
    return _coco_experiment(NASNET_A_LARGE, 1024, train_batch=64, eval_batch=8,
                            train_steps=22_500, lr_scale=1.0, runtime=_gpu_runtime(8))


@exp_factory.register_config_factory("fasterrcnn_nasnet_fpn_coco_gpu")
def fasterrcnn_nasnet_fpn_coco_gpu() -> cfg.ExperimentConfig:
    """8 GPUs on one host: batch 16, linear learning-rate scaling, same epochs."""
    return _coco_experiment(NASNET_A_LARGE, 1024, train_batch=16, eval_batch=8,
                            train_steps=90_000, lr_scale=16 / 64, runtime=_gpu_runtime(8))


@exp_factory.register_config_factory("fasterrcnn_nasnet_fpn_coco_tpu")
def fasterrcnn_nasnet_fpn_coco_tpu() -> cfg.ExperimentConfig:
    """A TPU v3-32 slice (32 cores on 4 hosts): batch 64 (2 per core), eval 32, bfloat16.

    Another slice needs batches divisible by its core count
    (``task.train_data.global_batch_size``, ``task.validation_data.global_batch_size``)
    and, for a larger train batch, the learning rates scaled with it.
    """
    return _coco_experiment(NASNET_A_LARGE, 1024, train_batch=64, eval_batch=32,
                            train_steps=22_500, lr_scale=1.0,
                            runtime=cfg.RuntimeConfig(distribution_strategy="tpu",
                                                      mixed_precision_dtype="bfloat16"))


@exp_factory.register_config_factory("fasterrcnn_nasnet_mobile_fpn_coco")
def fasterrcnn_nasnet_mobile_fpn_coco() -> cfg.ExperimentConfig:
    """NASNet-A Mobile + FPN (levels 3..6) at 640 px; otherwise the COCO recipe (ours),
    on one host of 8 GPUs (8 images each)."""
    params = _coco_experiment(NASNET_A_MOBILE, 640, train_batch=64, eval_batch=8,
                              train_steps=22_500, lr_scale=1.0, runtime=_gpu_runtime(8))
    params.task.model.min_level = 3
    return params


#: The shapes set's classes (``detection.shapes.CATEGORIES``), plus background.
SHAPES_NUM_CLASSES = 4


def _shapes_experiment(backbone: nasnet_backbone.Backbone,
                       restrictions: list[str]) -> cfg.ExperimentConfig:
    """The shapes detector, data and schedule around ``backbone`` (levels 3..5)."""
    train_steps = 1_000
    train_batch, eval_batch = 8, 8
    if backbone.type == nasnet_backbone.BACKBONE_TYPE:
        backbone.nasnet.total_training_steps = train_steps
    task = NasnetFasterRCNNTask(
        annotation_file=os.path.join(DEFAULT_SHAPES_DIR, SHAPES_VAL_ANNOTATIONS),
        model=NasnetMaskRCNN(
            num_classes=SHAPES_NUM_CLASSES, input_size=[128, 128, 3], min_level=3,
            max_level=5,
            anchor=maskrcnn_cfg.Anchor(num_scales=1, aspect_ratios=[0.5, 1.0, 2.0],
                                       anchor_size=2.0),
            backbone=backbone,
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
        restrictions=list(restrictions))


@exp_factory.register_config_factory("fasterrcnn_nasnet_fpn_shapes")
def fasterrcnn_nasnet_fpn_shapes() -> cfg.ExperimentConfig:
    """The synthetic shapes set on a CPU: a small detector, 128 px, batch 8.

    Our choice, sized for the README's offline demo (2 CPU cores, < 30 min):
    NASNet-A 1 @ 384 (F = 16) with a half-width mobile ImageNet stem (levels 3..5), FPN of 64
    filters, anchors of 16 / 32 / 64 px (objects are 14..56 px), 64 RPN anchors
    and 64 RoIs per image, one 256-unit fully connected box head, Adam with a
    cosine decay. Weight decay is off (from-scratch training for ~1,000 steps).
    """
    backbone_cfg = nasnet_backbone.NasnetBackboneConfig(
        genotype="nasnet_a", size="1@384", stem="imagenet", stem_multiplier=0.5, min_level=3)
    return _shapes_experiment(nasnet_backbone.Backbone(type="nasnet", nasnet=backbone_cfg),
                              _RESTRICTIONS)


@exp_factory.register_config_factory("fasterrcnn_resnet50_fpn_shapes")
def fasterrcnn_resnet50_fpn_shapes() -> cfg.ExperimentConfig:
    """``fasterrcnn_nasnet_fpn_shapes`` with the Model Garden's ResNet-50 (v1, its own
    builder: ``official.vision.modeling.backbones.resnet``) in place of NASNet-A."""
    return _shapes_experiment(
        nasnet_backbone.Backbone(type="resnet", resnet=mg_backbones.ResNet(model_id=50)),
        _DATA_RESTRICTIONS)


EXPERIMENTS = ("fasterrcnn_nasnet_fpn_coco", "fasterrcnn_nasnet_fpn_coco_gpu",
               "fasterrcnn_nasnet_fpn_coco_tpu", "fasterrcnn_nasnet_mobile_fpn_coco",
               "fasterrcnn_nasnet_fpn_shapes", "fasterrcnn_resnet50_fpn_shapes")

#: The hardware each registered experiment is sized for.
HARDWARE: dict[str, Hardware] = {
    "fasterrcnn_nasnet_fpn_coco": Hardware(
        "gpu", 8, description="one host of 8 GPUs with room for 8 images of 1024 px each"),
    "fasterrcnn_nasnet_fpn_coco_gpu": Hardware("gpu", 8, description="one host of 8 GPUs"),
    "fasterrcnn_nasnet_fpn_coco_tpu": Hardware("tpu", 32, hosts=4,
                                               description="a TPU v3-32 slice"),
    "fasterrcnn_nasnet_mobile_fpn_coco": Hardware("gpu", 8, description="one host of 8 GPUs"),
    "fasterrcnn_nasnet_fpn_shapes": Hardware("cpu", 1, description="a CPU"),
    "fasterrcnn_resnet50_fpn_shapes": Hardware("cpu", 1, description="a CPU"),
}


def check_runtime(params: cfg.ExperimentConfig, replicas: int | None = None,
                  hosts: int = 1) -> None:
    """Raises ValueError for a runtime the Model Garden would reject or misuse.

    Always: ``mixed_precision_dtype`` must be one of ``PRECISIONS`` (the Model
    Garden raises "Unexpected dtype" for anything else, before the first
    step), float16 is for GPUs (TPUs compute in bfloat16), and ``mirrored``
    needs ``num_gpus`` (with 0 the Model Garden mirrors over the CPU alone).
    With ``replicas``: the train and eval batches split evenly over them, as
    the Model Garden's input reader asks of
    ``tf.distribute.InputContext.get_per_replica_batch_size``.
    """
    runtime = params.runtime
    precision = runtime.mixed_precision_dtype
    if precision and precision not in PRECISIONS:
        hint = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(precision)
        raise ValueError(
            f"runtime.mixed_precision_dtype {precision!r} is not a Model Garden dtype: use one "
            f"of {PRECISIONS}" + (f" ({hint!r} for {precision!r})" if hint else ""))
    if precision == "float16" and runtime.distribution_strategy == "tpu":
        raise ValueError("runtime.mixed_precision_dtype 'float16' on a TPU: TPUs compute in "
                         "'bfloat16'")
    if runtime.distribution_strategy == "mirrored" and not runtime.num_gpus:
        raise ValueError(
            f"runtime.distribution_strategy 'mirrored' with runtime.num_gpus={runtime.num_gpus} "
            f"would train on the CPU alone: set runtime.num_gpus (--num_gpus) to the GPUs to "
            f"use, or use 'one_device' on a CPU")
    if replicas is None:
        return
    context = tf.distribute.InputContext(num_input_pipelines=hosts, input_pipeline_id=0,
                                         num_replicas_in_sync=replicas)
    for name in ("train_data", "validation_data"):
        batch = getattr(params.task, name).global_batch_size
        try:
            context.get_per_replica_batch_size(batch)
        except ValueError:
            raise ValueError(
                f"task.{name}.global_batch_size {batch} cannot be split over {replicas} "
                f"replicas: use a multiple of {replicas}") from None


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


def registered_backbones() -> list[str]:
    """The backbone types official.vision's factory can build (``nasnet`` included)."""
    return sorted(backbone_factory._REGISTERED_BACKBONE_CLS)  # pylint: disable=protected-access


def check_backbone(params: cfg.ExperimentConfig) -> None:
    """ValueError unless the experiment's backbone type is registered with the factory
    and the experiment's backbone config has a section for it."""
    backbone = params.task.model.backbone
    known = registered_backbones()
    if backbone.type not in known:
        raise ValueError(f"task.model.backbone.type {backbone.type!r} is not a registered "
                         f"backbone; registered: {known}")
    if getattr(backbone, backbone.type, None) is None:
        raise ValueError(f"task.model.backbone.type {backbone.type!r} is registered but this "
                         f"experiment's backbone config has no {backbone.type!r} section; "
                         f"backbones it can configure: "
                         f"{sorted(k for k in known if getattr(backbone, k, None) is not None)}")


def check(params: cfg.ExperimentConfig) -> cfg.ExperimentConfig:
    """``params.validate()`` (the restrictions) with a ValueError when one fails, and a
    registered backbone (``check_backbone``)."""
    check_backbone(params)
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
    if backbone.type == "resnet":
        return f"resnet {backbone.resnet.model_id} (official.vision)"
    if backbone.type != "nasnet":
        return str(backbone.type)
    nas = backbone.nasnet
    filters = f", F={nas.num_conv_filters}" if nas.num_conv_filters else ""
    return f"nasnet {nas.genotype} {nas.size}{filters} ({nas.stem} stem)"
