"""Networks from any Genotype, all built from the one ``NasCell`` layer.

* ``NasnetBackbone``: stem + 3 stacks of N cells with 2 reductions between
  them, stacked as the config's skeleton says (``nasnet.skeletons``: NASNet's
  and AmoebaNet's insert a reduction cell, PNASNet's strides the stack's first
  cell); a Keras model returning ``{level: tensor}`` (level = log2(stride),
  keys are strings as in official.vision) and exposing ``output_specs``.
  CIFAR stem: 3x3 conv-BN; ImageNet stem: 3x3 stride-2 VALID conv-BN then two
  reduction cells at filter scaling 1/4 and 1/2.
* ``build_classifier``: the backbone, then ReLU, global average pooling,
  dropout and a dense layer (logits); optionally the auxiliary head on the
  last cell before the second reduction.
* ``PRESETS``: NASNet-A's CIFAR, Mobile and Large networks and the published
  PNASNet-5 and AmoebaNet-A networks (``nasnet.published`` holds their
  published sizes and where each figure comes from).

Structure and hyperparameters follow the slim reference
(tensorflow/models research/slim/nets/nasnet/nasnet.py: ``_build_nasnet_base``,
``_imagenet_stem``, ``_cifar_stem``, ``_build_aux_head``, the three configs;
pnasnet.py: ``_build_pnasnet_base`` and its two configs; tensorflow/tpu
models/official/amoeba_net: ``model_builder.py`` and the flag defaults of
``amoeba_net.py``).
"N @ P" means N cells per stack (normal cells; PNASNet's strided cell counts
as one of its stack's N) and P filters in the penultimate layer; the cell's
base filter count is ``P / (4 * width)`` where width is the number of
concatenated states (6 for NASNet-A, so 1056 -> 44 and 4032 -> 168; 5 for
PNASNet-5, so 1080 -> 54; 4 for AmoebaNet-A, so 800 -> 50).

Example:
    >>> from nasnet import known_genotypes, networks
    >>> model = networks.build_classifier(known_genotypes.NASNET_A, networks.MOBILE)
    >>> model(images)["logits"].shape    # images: [B, 224, 224, 3]
    TensorShape([B, 1000])
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import tensorflow as tf
import tf_keras

from nasnet import skeletons
from nasnet.cell import NasCell, output_width
from nasnet.genotype import Genotype
from nasnet.layers import LayerConfig

STEMS = ("cifar", "imagenet")


@dataclasses.dataclass(frozen=True)
class BackboneConfig:
    """The cell stack. Defaults are NASNet-A Mobile's (slim ``mobile_imagenet_config``)."""

    stem: str = "imagenet"
    num_cells_per_stack: int = 4          # N; slim num_cells = 3 N
    penultimate_filters: int = 1056       # P
    stem_multiplier: float = 1.0
    filter_scaling_rate: float = 2.0
    skip_reduction_layer_input: bool = False
    drop_path_keep_prob: float = 1.0
    total_training_steps: int = 250_000   # ScheduledDropPath horizon
    layer: LayerConfig = LayerConfig(bn_momentum=0.9997, bn_epsilon=1e-3, weight_decay=4e-5)
    # Base filters F of the first stack; when set, P is ignored. Search-time
    # children are sized this way (their P depends on the cell's concat width).
    num_conv_filters: int | None = None
    # How cells are stacked (nasnet.skeletons): "nasnet", "pnasnet", "amoebanet".
    skeleton: str = "nasnet"

    def __post_init__(self):
        skeletons.get(self.skeleton)  # ValueError listing the known skeletons
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {self.stem!r}")
        if self.num_cells_per_stack < 1:
            raise ValueError(f"num_cells_per_stack must be >= 1, got {self.num_cells_per_stack}")
        if self.penultimate_filters < 1:
            raise ValueError(f"penultimate_filters must be >= 1, got {self.penultimate_filters}")
        if self.stem_multiplier <= 0:
            raise ValueError(f"stem_multiplier must be > 0, got {self.stem_multiplier}")
        if self.filter_scaling_rate <= 0:
            raise ValueError(f"filter_scaling_rate must be > 0, got {self.filter_scaling_rate}")
        if not 0.0 < self.drop_path_keep_prob <= 1.0:
            raise ValueError(f"drop_path_keep_prob must be in (0, 1], got {self.drop_path_keep_prob}")
        if self.total_training_steps < 1:
            raise ValueError(f"total_training_steps must be >= 1, got {self.total_training_steps}")
        if isinstance(self.layer, dict):
            object.__setattr__(self, "layer", LayerConfig.from_dict(self.layer))
        if self.num_conv_filters is not None and self.num_conv_filters < 1:
            raise ValueError(f"num_conv_filters must be >= 1 or None, got {self.num_conv_filters}")

    def filters_for(self, genotype: Genotype) -> int:
        """F of the first stack: ``num_conv_filters``, else derived from P."""
        if self.num_conv_filters is not None:
            return self.num_conv_filters
        return base_filters(genotype, self.penultimate_filters)

    @property
    def num_cells(self) -> int:
        """Cells in the stacks, reductions excluded for NASNet's skeleton (slim
        ``num_cells``: normal cells in nasnet.py, all cells in pnasnet.py)."""
        return 3 * self.num_cells_per_stack

    @property
    def total_cells(self) -> int:
        """Every cell of the network, stem and reduction cells included."""
        return skeletons.get(self.skeleton).num_cells(self.num_cells_per_stack, self.stem)

    @property
    def size(self) -> str:
        """``"N@P"``, or ``"N@F<filters>"`` when sized by base filters."""
        if self.num_conv_filters is not None:
            return f"{self.num_cells_per_stack}@F{self.num_conv_filters}"
        return f"{self.num_cells_per_stack}@{self.penultimate_filters}"


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """A backbone plus the classification head."""

    backbone: BackboneConfig = BackboneConfig()
    num_classes: int = 1000
    image_size: int = 224
    dense_dropout_keep_prob: float = 0.5
    use_aux_head: bool = True

    def __post_init__(self):
        if isinstance(self.backbone, dict):
            object.__setattr__(self, "backbone", BackboneConfig(**self.backbone))
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {self.image_size}")
        if not 0.0 < self.dense_dropout_keep_prob <= 1.0:
            raise ValueError(
                f"dense_dropout_keep_prob must be in (0, 1], got {self.dense_dropout_keep_prob}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClassifierConfig":
        data = dict(data)
        backbone = dict(data.pop("backbone", {}))
        if "layer" in backbone:
            backbone["layer"] = LayerConfig.from_dict(backbone["layer"])
        return cls(backbone=BackboneConfig(**backbone), **data)


#: CIFAR-10 NASNet-A 6 @ 768 (slim ``cifar_config``; Zoph et al. 2018 Table 1).
CIFAR = ClassifierConfig(
    backbone=BackboneConfig(stem="cifar", num_cells_per_stack=6, penultimate_filters=768,
                            stem_multiplier=3.0, drop_path_keep_prob=0.6,
                            total_training_steps=937_500,
                            layer=LayerConfig(bn_momentum=0.9, bn_epsilon=1e-5, weight_decay=5e-4)),
    num_classes=10, image_size=32, dense_dropout_keep_prob=1.0, use_aux_head=True)

#: NASNet-A Mobile 4 @ 1056, 224 px (slim ``mobile_imagenet_config``).
MOBILE = ClassifierConfig(
    backbone=BackboneConfig(stem="imagenet", num_cells_per_stack=4, penultimate_filters=1056,
                            stem_multiplier=1.0, drop_path_keep_prob=1.0,
                            total_training_steps=250_000,
                            layer=LayerConfig(bn_momentum=0.9997, bn_epsilon=1e-3, weight_decay=4e-5)),
    num_classes=1000, image_size=224, dense_dropout_keep_prob=0.5, use_aux_head=True)

#: NASNet-A Large 6 @ 4032, 331 px (slim ``large_imagenet_config``).
LARGE = ClassifierConfig(
    backbone=BackboneConfig(stem="imagenet", num_cells_per_stack=6, penultimate_filters=4032,
                            stem_multiplier=3.0, skip_reduction_layer_input=True,
                            drop_path_keep_prob=0.7, total_training_steps=250_000,
                            layer=LayerConfig(bn_momentum=0.9997, bn_epsilon=1e-3, weight_decay=5e-5)),
    num_classes=1000, image_size=331, dense_dropout_keep_prob=0.5, use_aux_head=True)

#: PNASNet-5 Mobile, N = 3, F = 54 (3 @ 1080), 224 px (slim pnasnet.py
#: ``mobile_imagenet_config``: 9 cells, stem multiplier 1, skip_reduction_layer_input 1;
#: ``pnasnet_mobile_arg_scope``: weight decay 4e-5, BN 0.9997 / 1e-3).
PNASNET_MOBILE = ClassifierConfig(
    backbone=BackboneConfig(skeleton="pnasnet", stem="imagenet", num_cells_per_stack=3,
                            penultimate_filters=1080, stem_multiplier=1.0,
                            skip_reduction_layer_input=True, drop_path_keep_prob=1.0,
                            total_training_steps=250_000,
                            layer=LayerConfig(bn_momentum=0.9997, bn_epsilon=1e-3,
                                              weight_decay=4e-5)),
    num_classes=1000, image_size=224, dense_dropout_keep_prob=0.5, use_aux_head=True)

#: PNASNet-5 Large, N = 4, F = 216 (4 @ 4320), 331 px (slim pnasnet.py
#: ``large_imagenet_config``: 12 cells, stem multiplier 3, drop path keep 0.6;
#: ``pnasnet_large_arg_scope``: weight decay 4e-5, not NASNet Large's 5e-5).
PNASNET_LARGE = ClassifierConfig(
    backbone=BackboneConfig(skeleton="pnasnet", stem="imagenet", num_cells_per_stack=4,
                            penultimate_filters=4320, stem_multiplier=3.0,
                            skip_reduction_layer_input=True, drop_path_keep_prob=0.6,
                            total_training_steps=250_000,
                            layer=LayerConfig(bn_momentum=0.9997, bn_epsilon=1e-3,
                                              weight_decay=4e-5)),
    num_classes=1000, image_size=331, dense_dropout_keep_prob=0.5, use_aux_head=True)


def _amoebanet_a(n: int, f: int, image_size: int) -> ClassifierConfig:
    """AmoebaNet-A N @ F on the TPU reference's settings (tensorflow/tpu
    models/official/amoeba_net/amoeba_net.py flag defaults, which override
    ``imagenet_hparams``: stem conv of 32 filters, BN decay 0.9, epsilon 1e-5,
    weight decay 4e-5, drop path off, dense dropout keep 0.5, aux head 0.4)."""
    return ClassifierConfig(
        backbone=BackboneConfig(skeleton="amoebanet", stem="imagenet", num_cells_per_stack=n,
                                penultimate_filters=16 * f, stem_multiplier=1.0,
                                skip_reduction_layer_input=False, drop_path_keep_prob=1.0,
                                total_training_steps=250_000,
                                layer=LayerConfig(bn_momentum=0.9, bn_epsilon=1e-5,
                                                  weight_decay=4e-5)),
        num_classes=1000, image_size=image_size, dense_dropout_keep_prob=0.5,
        use_aux_head=True)


#: AmoebaNet-A, N = 4, F = 50 (4 @ 800), 224 px: Real et al. 2019's mobile model.
AMOEBANET_A_MOBILE = _amoebanet_a(4, 50, 224)
#: AmoebaNet-A, N = 6, F = 190 (6 @ 3040), 331 px: Real et al. 2019's large model.
AMOEBANET_A_LARGE = _amoebanet_a(6, 190, 331)

PRESETS: dict[str, ClassifierConfig] = {
    "cifar": CIFAR, "mobile": MOBILE, "large": LARGE,
    "pnasnet_mobile": PNASNET_MOBILE, "pnasnet_large": PNASNET_LARGE,
    "amoebanet_a_mobile": AMOEBANET_A_MOBILE, "amoebanet_a_large": AMOEBANET_A_LARGE,
}


def parse_size(size: str) -> tuple[int, int]:
    """``"4@1056"`` -> ``(4, 1056)``; ValueError naming the string otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*@\s*(\d+)\s*", size or "")
    if not match:
        raise ValueError(f"network size must look like 'N@P' (e.g. '4@1056'), got {size!r}")
    return int(match.group(1)), int(match.group(2))


def base_filters(genotype: Genotype, penultimate_filters: int) -> int:
    """The first stack's per-branch filters: ``P / (4 * width of the normal cell)``."""
    width = output_width(genotype.normal, 1)
    if penultimate_filters % (4 * width):
        raise ValueError(
            f"penultimate_filters {penultimate_filters} is not a multiple of "
            f"4 x {width} (the normal cell concatenates {width} states of equal width)")
    return penultimate_filters // (4 * width)


#: slim ``calc_reduction_layers`` (defined with the skeletons).
reduction_cell_indices = skeletons.reduction_cell_indices


class NasnetBackbone(tf_keras.Model):
    """Stem and cells; returns ``{str(level): [B, H/2^level, W/2^level, C]}``.

    The last cell at each resolution is that level's endpoint. The ImageNet
    stem gives levels 1..5 (stem conv, stem cell 0, then one per stack), the
    CIFAR stem levels 0..2. ``aux_level`` names the endpoint the auxiliary head
    reads (the last cell before the second reduction).
    """

    def __init__(self, genotype: Genotype | dict, config: BackboneConfig | dict,
                 input_shape: tuple[int | None, int | None, int] = (None, None, 3),
                 **kwargs):
        genotype = Genotype.from_dict(genotype) if isinstance(genotype, dict) else genotype
        if isinstance(config, dict):
            config = BackboneConfig(**config)
        inputs = tf_keras.Input(shape=tuple(input_shape), name="images")
        endpoints, aux_level = _build_cells(inputs, genotype, config)
        super().__init__(inputs=inputs, outputs=endpoints, **kwargs)
        self.genotype = genotype
        self.backbone_config = config
        self._input_shape_arg = tuple(input_shape)
        self.aux_level = aux_level
        self._output_specs = {level: t.shape for level, t in endpoints.items()}

    @property
    def output_specs(self) -> dict[str, tf.TensorShape]:
        return self._output_specs

    def get_config(self) -> dict[str, Any]:
        return {"genotype": self.genotype.to_dict(),
                "config": dataclasses.asdict(self.backbone_config),
                "input_shape": list(self._input_shape_arg), "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(config["genotype"], config["config"], tuple(config["input_shape"]),
                   name=config.get("name"))


def _build_cells(inputs: tf.Tensor, genotype: Genotype,
                 config: BackboneConfig) -> tuple[dict[str, tf.Tensor], str]:
    """The stem, then the cells of ``skeletons.stacking_plan`` (slim's
    ``_build_nasnet_base`` / ``_build_pnasnet_base`` loop, as data) as NasCell layers."""
    cfg = config.layer
    filters = config.filters_for(genotype)
    endpoints: dict[str, tf.Tensor] = {}
    total_cells = config.total_cells

    def record(x, stride):
        endpoints[str(int(math.log2(stride)))] = x

    if config.stem == "imagenet":
        stem_filters = int(32 * config.stem_multiplier)
        net = tf_keras.layers.Conv2D(stem_filters, 3, strides=2, padding="valid",
                                     use_bias=False, kernel_initializer="he_normal",
                                     kernel_regularizer=cfg.regularizer(), name="stem_conv")(inputs)
        stride = 2
    else:
        stem_filters = int(filters * config.stem_multiplier)
        net = tf_keras.layers.Conv2D(stem_filters, 3, padding="same", use_bias=False,
                                     kernel_initializer="he_normal",
                                     kernel_regularizer=cfg.regularizer(), name="stem_conv")(inputs)
        stride = 1
    net = cfg.batch_norm(name="stem_bn")(net)
    if config.stem == "imagenet":
        record(net, stride)

    outputs, strides = [net], [stride]  # per output: the tensor and its stride
    aux_level = None
    plan = skeletons.stacking_plan(config.skeleton, config.stem, config.num_cells_per_stack,
                                   config.filter_scaling_rate,
                                   config.skip_reduction_layer_input)
    for index, step in enumerate(plan):
        h = outputs[step.h]
        p = None if step.p is None else outputs[step.p]
        layer = NasCell(genotype.normal if step.kind == "normal" else genotype.reduction,
                        filters=int(filters * step.scaling), strides=step.strides,
                        cell_index=index, total_cells=total_cells,
                        drop_path_keep_prob=config.drop_path_keep_prob, layer_config=cfg,
                        reduce_prev=None if p is None else strides[step.p] != strides[step.h],
                        name=step.name)
        net = layer(h if p is None else [h, p])
        outputs.append(net)
        strides.append(strides[step.h] * step.strides)
        if step.endpoint:
            record(net, strides[-1])
        if step.aux:
            aux_level = str(int(math.log2(strides[-1])))
    return endpoints, aux_level


def build_backbone(genotype: Genotype, config: BackboneConfig,
                   image_size: int | None = None) -> NasnetBackbone:
    """A backbone for ``[B, image_size, image_size, 3]`` inputs (None: any size)."""
    return NasnetBackbone(genotype, config, (image_size, image_size, 3),
                          name=f"nasnet_backbone_{config.size.replace('@', '_')}")


def build_aux_head(x: tf.Tensor, num_classes: int, cfg: LayerConfig,
                   scaling: float = 1.0) -> tf.Tensor:
    """slim ``_build_aux_head``: ReLU, 5x5/3 avg pool, 1x1 conv 128-BN-ReLU,
    conv over the whole remaining map to 768-BN-ReLU, dense. ``x``: ``[B, H, W, C]``.
    ``scaling`` multiplies the 128 and 768 (the AmoebaNet reference's ``aux_scaling``)."""
    x = tf_keras.layers.ReLU(name="aux_relu")(x)
    x = tf_keras.layers.AveragePooling2D(5, strides=3, padding="valid", name="aux_pool")(x)
    x = cfg.conv(int(128 * scaling), 1, name="aux_proj")(x)
    x = tf_keras.layers.ReLU(name="aux_relu_0")(cfg.batch_norm(name="aux_bn_0")(x))
    kernel = tuple(int(d) for d in x.shape[1:3])
    x = tf_keras.layers.Conv2D(int(768 * scaling), kernel, padding="valid", use_bias=False,
                               kernel_initializer="he_normal",
                               kernel_regularizer=cfg.regularizer(), name="aux_conv")(x)
    x = tf_keras.layers.ReLU(name="aux_relu_1")(cfg.batch_norm(name="aux_bn_1")(x))
    x = tf_keras.layers.Flatten(name="aux_flatten")(x)
    return tf_keras.layers.Dense(num_classes, kernel_regularizer=cfg.regularizer(),
                                 name="aux_logits")(x)


def build_classifier(genotype: Genotype, config: ClassifierConfig,
                     name: str | None = None) -> tf_keras.Model:
    """Backbone + head. Outputs ``{"logits": [B, classes]}`` plus ``"aux_logits"``
    when ``config.use_aux_head`` (slim: aux head for training only; the
    serving model drops it, see ``inference_model``)."""
    size = config.image_size
    backbone = build_backbone(genotype, config.backbone, size)
    inputs = tf_keras.Input(shape=(size, size, 3), name="images")
    endpoints = backbone(inputs)
    top = endpoints[max(endpoints, key=int)]
    x = tf_keras.layers.ReLU(name="final_relu")(top)
    x = tf_keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    if config.dense_dropout_keep_prob < 1.0:
        x = tf_keras.layers.Dropout(1.0 - config.dense_dropout_keep_prob, name="dropout")(x)
    logits = tf_keras.layers.Dense(config.num_classes,
                                   kernel_regularizer=config.backbone.layer.regularizer(),
                                   name="logits")(x)
    outputs = {"logits": tf_keras.layers.Activation("linear", dtype="float32",
                                                    name="logits_fp32")(logits)}
    if config.use_aux_head:
        aux = build_aux_head(endpoints[backbone.aux_level], config.num_classes,
                             config.backbone.layer,
                             skeletons.get(config.backbone.skeleton).aux_head_scaling)
        outputs["aux_logits"] = tf_keras.layers.Activation("linear", dtype="float32",
                                                           name="aux_logits_fp32")(aux)
    default_name = f"{genotype.name or 'nasnet'}_{config.backbone.size.replace('@', '_')}"
    return tf_keras.Model(inputs, outputs, name=model_name(name or default_name))


def model_name(text: str) -> str:
    """``text`` as a Keras model name, which becomes a TensorFlow name scope when the
    model is traced: characters outside ``[A-Za-z0-9_.-]`` become ``_`` (a genotype
    named "quickstart trial 5" builds "quickstart_trial_5_1_F8")."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", text)
    return name if name[:1].isalnum() else "n" + name


def inference_model(classifier: tf_keras.Model) -> tf_keras.Model:
    """The same weights without the auxiliary head: ``images -> logits``."""
    return tf_keras.Model(classifier.input, classifier.output["logits"],
                          name=classifier.name + "_inference")


CUSTOM_OBJECTS: dict[str, Any] = {"NasnetBackbone": NasnetBackbone, "NasCell": NasCell}
