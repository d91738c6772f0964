"""Training configs: frozen dataclasses, named presets with cited recipes, strict overrides.

A ``TrainConfig`` is everything a run needs besides its work directory: the
genotype source, the network (``nasnet.networks.ClassifierConfig``), the data,
the optimizer and the distribution. Instead of a genotype, ``hand_designed``
may name a network of ``transfer.hand_designed`` (``resnet50``,
``inception_resnet_v2``), trained with the same preset, strategies and export
(``with_hand_designed`` turns any preset into one: no genotype, no auxiliary
head). Presets:

* ``nasnet_a_mobile``: NASNet-A 4 @ 1056 at 224 px on ImageNet,
* ``nasnet_a_large``: NASNet-A 6 @ 4032 at 331 px on ImageNet,
* ``digits_tiny``: NASNet-A 1 @ 48 at 16 px on the embedded digits, for
  offline runs and tests (our choice, not a published recipe).

The two ImageNet recipes are the training notes written next to the configs
in tensorflow/models research/slim/nets/nasnet/nasnet.py (``mobile_imagenet_config``,
``large_imagenet_config`` and the notes above them) plus the optimizer defaults of slim's
``train_image_classifier.py``:

=====================  ==========================  ==========================
                       Mobile                      Large
=====================  ==========================  ==========================
per-replica batch      32                          16
learning rate          0.04 per replica (x 50)     0.015 per replica (x 100)
decay                  0.97 every 2.4 epochs       0.97 every 2.4 epochs
                       (staircase)                 (staircase)
optimizer              RMSProp decay 0.9, momentum 0.9, epsilon 1.0
                       (train_image_classifier.py ``rmsprop_decay``,
                       ``rmsprop_momentum``, ``opt_epsilon``)
label smoothing        0.1                         0.1
aux head loss weight   0.4                         0.4
gradient clipping      global norm 10              global norm 10
weight decay           4e-5 (the layers' L2)       5e-5 (the layers' L2)
dense dropout keep     0.5                         0.5
drop path keep         1.0 (none)                  0.7 (ScheduledDropPath)
steps                  250,000 (slim ``total_training_steps``, at 50 x 32)
=====================  ==========================  ==========================

Learning-rate scaling: slim multiplies the per-replica rate by the number of
synchronous replicas at a fixed per-replica batch, i.e. the linear scaling
rule ``lr = base_learning_rate * global_batch / base_batch_size`` (Goyal et al.
2017) with ``base_batch_size`` = the per-replica batch of the recipe
(``OptimizerConfig.learning_rate``).

Overrides are dotted keys checked against the dataclass fields
(``nasnet.config_utils.override``): a misspelt key is an error.

Example:
    >>> cfg = preset("nasnet_a_mobile", {"data.dataset": "imagenette",
    ...                                  "per_replica_batch_size": 64})
    >>> cfg.optimizer.learning_rate(global_batch=128)
    0.16
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from nasnet import config_utils, io_utils, json_types, networks
from nasnet.distribute import MIXED_PRECISION, STRATEGIES
from nasnet.layers import LayerConfig
from transfer import hand_designed as hand_designed_lib

PREPROCESSING = ("inception", "resize")

#: ImageNet ILSVRC-2012 training images (tfds ``imagenet2012`` train split).
IMAGENET_TRAIN_EXAMPLES = 1_281_167


#: The auxiliary head's average pool (slim ``_build_aux_head``: 5x5, stride 3, VALID).
AUX_POOL = 5


def aux_head_map_size(model: networks.ClassifierConfig) -> int:
    """Height of the map the auxiliary head reads (the second stack's resolution).

    ImageNet stem: 3x3 stride-2 VALID conv, then two stride-2 cells; CIFAR stem
    keeps the resolution. The first reduction cell halves it again (SAME, so
    rounding up).
    """
    size = model.image_size
    if model.backbone.stem == "imagenet":
        size = (size - 3) // 2 + 1
        for _ in range(2):
            size = -(-size // 2)
    return -(-size // 2)


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are prepared.

    ``dataset`` is a tfds image-classification name (``imagenet2012``,
    ``cifar10``, ...; read through ``nasnet.datasets.load_tfds``, never
    downloaded) or ``"digits"`` (embedded, offline). ``manual_dir`` is tfds's
    manual download directory: when set and the dataset is not yet prepared,
    it is prepared from the files there (ImageNet: ``ILSVRC2012_img_train.tar``
    and ``ILSVRC2012_img_val.tar``). ``preprocessing``: ``"inception"``
    (slim ``inception_preprocessing``: distorted crop, flip, colour for
    training; central 87.5 % crop for evaluation) or ``"resize"`` (resize
    only, for tiny images such as digits).
    """

    dataset: str = "imagenet2012"
    data_dir: str | None = None
    manual_dir: str | None = None
    train_split: str = "train"
    eval_split: str = "validation"
    preprocessing: str = "inception"
    shuffle_buffer: int = 10_000

    def __post_init__(self):
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise ValueError(f"data.dataset must be a non-empty string, got {self.dataset!r}")
        if self.preprocessing not in PREPROCESSING:
            raise ValueError(
                f"data.preprocessing must be one of {PREPROCESSING}, got {self.preprocessing!r}")
        _positive_int("data.shuffle_buffer", self.shuffle_buffer)
        for name in ("train_split", "eval_split"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"data.{name} must be a non-empty split name, got {value!r}")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """RMSProp with staircase exponential decay and global-norm clipping (slim)."""

    base_learning_rate: float = 0.04
    base_batch_size: int = 32
    decay_rate: float = 0.97
    epochs_per_decay: float = 2.4
    rmsprop_decay: float = 0.9
    momentum: float = 0.9
    epsilon: float = 1.0
    clip_global_norm: float | None = 10.0

    def __post_init__(self):
        if not self.base_learning_rate > 0:
            raise ValueError(
                f"optimizer.base_learning_rate must be > 0, got {self.base_learning_rate}")
        _positive_int("optimizer.base_batch_size", self.base_batch_size)
        if not 0 < self.decay_rate <= 1:
            raise ValueError(f"optimizer.decay_rate must be in (0, 1], got {self.decay_rate}")
        if not self.epochs_per_decay > 0:
            raise ValueError(
                f"optimizer.epochs_per_decay must be > 0, got {self.epochs_per_decay}")
        if not 0 <= self.rmsprop_decay < 1:
            raise ValueError(
                f"optimizer.rmsprop_decay must be in [0, 1), got {self.rmsprop_decay}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"optimizer.momentum must be in [0, 1), got {self.momentum}")
        if not self.epsilon > 0:
            raise ValueError(f"optimizer.epsilon must be > 0, got {self.epsilon}")
        if self.clip_global_norm is not None and not self.clip_global_norm > 0:
            raise ValueError(
                f"optimizer.clip_global_norm must be > 0 or None, got {self.clip_global_norm}")

    def learning_rate(self, global_batch: int) -> float:
        """The linear scaling rule: ``base_learning_rate * global_batch / base_batch_size``."""
        return self.base_learning_rate * global_batch / self.base_batch_size

    def decay_steps(self, train_examples: int, global_batch: int) -> int:
        """Steps between decays: ``epochs_per_decay`` epochs at ``global_batch``
        (slim ``_configure_learning_rate``), at least 1."""
        return max(1, int(train_examples * self.epochs_per_decay / global_batch))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run (see the module docstring for the presets' sources).

    ``steps_per_loop`` steps make one Keras "epoch": after each the run logs
    the mean loss and evaluates ``eval_steps`` batches (None: the whole eval
    split). ``checkpoint_every_steps`` is the preemption-safe checkpoint
    interval. ``mixed_precision="auto"`` is bfloat16 on TPU, float16 with
    loss scaling on GPU and float32 on CPU. ``xla`` compiles the train step
    (``jit_compile``). ``steps_per_execution`` train steps run per call into
    the device (Keras ``compile``); ``steps_per_loop`` and
    ``checkpoint_every_steps`` must be multiples of it. ``model.num_classes``
    is replaced by the dataset's.
    """

    genotype: str | None = "nasnet_a"
    model: networks.ClassifierConfig = networks.MOBILE
    data: DataConfig = DataConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    strategy: str = "one_device"
    tpu_address: str | None = None
    per_replica_batch_size: int = 32
    train_steps: int = 250_000
    steps_per_loop: int = 1000
    checkpoint_every_steps: int = 1000
    eval_steps: int | None = None
    eval_batch_size: int | None = None
    label_smoothing: float = 0.1
    aux_loss_weight: float = 0.4
    mixed_precision: str = "auto"
    xla: bool = False
    steps_per_execution: int = 1
    log_every_steps: int = 100
    seed: int = 0
    #: A ``transfer.hand_designed`` network trained instead of a genotype (``genotype``
    #: must then be null).
    hand_designed: str | None = None

    def __post_init__(self):
        for field, cls in (("model", networks.ClassifierConfig), ("data", DataConfig),
                           ("optimizer", OptimizerConfig)):
            value = getattr(self, field)
            if isinstance(value, Mapping):
                value = (networks.ClassifierConfig.from_dict(dict(value)) if cls is
                         networks.ClassifierConfig else cls(**value))
                object.__setattr__(self, field, value)
            if not isinstance(value, cls):
                raise ValueError(f"{field} must be a {cls.__name__}, got {value!r}")
        if self.hand_designed is not None:
            if self.genotype is not None:
                raise ValueError(
                    f"genotype {self.genotype!r} given together with the hand-designed "
                    f"network {self.hand_designed!r}: a hand-designed network has no "
                    f"genotype; give one of them (genotype=null with hand_designed)")
            hand_designed_lib.check(self.hand_designed, self.model)
        elif not isinstance(self.genotype, str) or not self.genotype.strip():
            raise ValueError(f"genotype must be a non-empty string (or null with "
                             f"hand_designed, one of {sorted(hand_designed_lib.NETWORKS)}), "
                             f"got {self.genotype!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        for name in ("per_replica_batch_size", "train_steps", "steps_per_loop",
                     "checkpoint_every_steps", "steps_per_execution", "log_every_steps"):
            _positive_int(name, getattr(self, name))
        for name in ("eval_steps", "eval_batch_size"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.aux_loss_weight < 0:
            raise ValueError(f"aux_loss_weight must be >= 0, got {self.aux_loss_weight}")
        if not isinstance(self.xla, bool):
            raise ValueError(f"xla must be true or false, got {self.xla!r}")
        if self.train_steps % self.steps_per_loop:
            raise ValueError(
                f"train_steps ({self.train_steps}) must be a multiple of steps_per_loop "
                f"({self.steps_per_loop})")
        if (self.hand_designed is None and self.model.use_aux_head
                and aux_head_map_size(self.model) < AUX_POOL):
            smallest = next(s for s in range(8, 1024)
                            if aux_head_map_size(dataclasses.replace(self.model, image_size=s))
                            >= AUX_POOL)
            raise ValueError(
                f"model.image_size {self.model.image_size} is too small for the auxiliary "
                f"head: it reads a {aux_head_map_size(self.model)}x"
                f"{aux_head_map_size(self.model)} map, and its {AUX_POOL}x{AUX_POOL} pool "
                f"needs at least {AUX_POOL}x{AUX_POOL}; use image_size >= {smallest} with "
                f"the {self.model.backbone.stem} stem, or model.use_aux_head=false")
        for name in ("steps_per_loop", "checkpoint_every_steps"):
            if getattr(self, name) % self.steps_per_execution:
                raise ValueError(
                    f"{name} ({getattr(self, name)}) must be a multiple of "
                    f"steps_per_execution ({self.steps_per_execution})")

    # -- serialisation ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        if not isinstance(data, Mapping):
            raise ValueError(f"a train config must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"train config has unknown key(s) {unknown}; known: {sorted(names)}")
        json_types.check(cls, data, "train config")  # booleans are not numbers, at any depth
        try:
            return cls(**dict(data))
        except TypeError as e:
            raise ValueError(f"bad train config: {e}") from None

    @classmethod
    def load(cls, path: str) -> "TrainConfig":
        """Reads ``path``; every error is one ValueError naming the file (missing, a
        binary file, not JSON, an unknown key, a value of the wrong type)."""
        data = io_utils.read_json(path, "train config")
        try:
            return cls.from_dict(data)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None


#: Train steps per call into the device in the ImageNet presets (ours): one
#: host round trip per 100 steps instead of per step keeps a GPU or TPU busy
#: between steps; it divides the loop, checkpoint and log intervals (1,000,
#: 1,000, 100), so every save and log line falls on an execution boundary.
ACCELERATOR_STEPS_PER_EXECUTION = 100


def _imagenet(model: networks.ClassifierConfig, per_replica: int, base_lr: float) -> TrainConfig:
    return TrainConfig(
        genotype="nasnet_a", model=model,
        data=DataConfig(dataset="imagenet2012", train_split="train", eval_split="validation",
                        preprocessing="inception"),
        optimizer=OptimizerConfig(base_learning_rate=base_lr, base_batch_size=per_replica,
                                  decay_rate=0.97, epochs_per_decay=2.4, rmsprop_decay=0.9,
                                  momentum=0.9, epsilon=1.0, clip_global_norm=10.0),
        per_replica_batch_size=per_replica, train_steps=250_000, steps_per_loop=1000,
        checkpoint_every_steps=1000, eval_steps=None, label_smoothing=0.1,
        aux_loss_weight=0.4, steps_per_execution=ACCELERATOR_STEPS_PER_EXECUTION)


#: NASNet-A Mobile 4 @ 1056, 224 px (slim nasnet.py ``mobile_imagenet_config`` and
#: its "Notes for training the mobile NASNet ImageNet model").
NASNET_A_MOBILE = _imagenet(networks.MOBILE, per_replica=32, base_lr=0.04)

#: NASNet-A Large 6 @ 4032, 331 px (slim ``large_imagenet_config`` and its notes).
NASNET_A_LARGE = _imagenet(networks.LARGE, per_replica=16, base_lr=0.015)

#: NASNet-A 1 @ 48 at 16 px on the embedded digits (8x8 originals): trains on two
#: CPU cores in a few minutes. CIFAR stem and CIFAR BN/weight-decay settings, the
#: aux head and ScheduledDropPath kept on so the whole recipe is exercised.
DIGITS_TINY = TrainConfig(
    genotype="nasnet_a",
    model=networks.ClassifierConfig(
        backbone=networks.BackboneConfig(
            stem="cifar", num_cells_per_stack=1, penultimate_filters=48, stem_multiplier=1.0,
            drop_path_keep_prob=0.9, total_training_steps=300,
            layer=LayerConfig(bn_momentum=0.9, bn_epsilon=1e-5, weight_decay=5e-4)),
        num_classes=10, image_size=16, dense_dropout_keep_prob=1.0, use_aux_head=True),
    data=DataConfig(dataset="digits", train_split="train", eval_split="validation",
                    preprocessing="resize", shuffle_buffer=2048),
    optimizer=OptimizerConfig(base_learning_rate=0.05, base_batch_size=32, decay_rate=0.97,
                              epochs_per_decay=2.4, clip_global_norm=10.0),
    per_replica_batch_size=32, train_steps=300, steps_per_loop=50, checkpoint_every_steps=50,
    eval_steps=None, label_smoothing=0.1, aux_loss_weight=0.4, mixed_precision="float32",
    log_every_steps=10)

PRESETS: dict[str, TrainConfig] = {
    "nasnet_a_mobile": NASNET_A_MOBILE,
    "nasnet_a_large": NASNET_A_LARGE,
    "digits_tiny": DIGITS_TINY,
}


def preset(name: str, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The named preset with dotted-key ``overrides`` applied strictly."""
    if name not in PRESETS:
        raise ValueError(f"unknown training preset {name!r}; known: {sorted(PRESETS)}")
    return apply_overrides(PRESETS[name], overrides or {})


def apply_overrides(config: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
    """``nasnet.config_utils.override`` (unknown keys are errors), re-validated."""
    return config_utils.override(config, dict(overrides))


def with_hand_designed(config: TrainConfig, name: str) -> TrainConfig:
    """``config`` (any preset) training the hand-designed network ``name`` instead of its
    genotype: the same data, optimizer, schedule and strategy; no genotype and no
    auxiliary head. ValueError for an unknown name or an input below its minimum size."""
    hand_designed_lib.get(name)
    return apply_overrides(config, {"genotype": None, "hand_designed": name,
                                    "model.use_aux_head": False})


def with_size(config: TrainConfig, size: str) -> TrainConfig:
    """Sets the network size from ``"N@P"`` (``nasnet.networks.parse_size``)."""
    if config.hand_designed is not None:
        raise ValueError(f"a size {size!r} sets the N@P of NASNet cells; the hand-designed "
                         f"network {config.hand_designed!r} has one size")
    n, p = networks.parse_size(size)
    return apply_overrides(config, {"model.backbone.num_cells_per_stack": n,
                                    "model.backbone.penultimate_filters": p,
                                    "model.backbone.num_conv_filters": None})


def parse_override(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, value)``; the value is JSON when it parses, else a string.

    ``"train_steps=100"`` -> ``("train_steps", 100)``;
    ``"data.dataset=cifar10"`` -> ``("data.dataset", "cifar10")``.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"an override must look like key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
