"""The NASNet backbone in official.vision's backbone factory (type ``nasnet``).

``NasnetBackboneConfig`` is a Model Garden config (``hyperparams.Config``) and
``Backbone`` is official.vision's ``backbones.Backbone`` OneOfConfig with one
more field, ``nasnet``. Importing this module registers the builder
``build_nasnet`` under the key ``'nasnet'`` with
``official.vision.modeling.backbones.factory``, so any official.vision model
config whose ``backbone.type == 'nasnet'`` (Faster / Mask R-CNN, RetinaNet, ...)
builds it through ``factory.build_backbone``.

The network itself is ``nasnet.networks.NasnetBackbone`` (the same builder as
the CIFAR and ImageNet classifiers; nothing is copied here). It returns
``{str(level): [B, H / 2**level, W / 2**level, C]}``; the levels are the
backbone's own structure (the last cell at each resolution: ImageNet stem
levels 1..5, CIFAR stem 0..2), not cell numbers. ``NasnetFpnBackbone`` wraps it
and keeps the levels ``>= min_level``, which is what official.vision's FPN
reads (string keys, ``output_specs``).

Batch norm momentum, epsilon and ``use_sync_bn`` come from the model's
``norm_activation`` config, weight decay from the ``l2_regularizer`` the task
builds (as for official.vision's ResNet). With ``use_sync_bn`` every batch
norm of the stem and the cells is ``tf_keras.layers.BatchNormalization(
synchronized=True)`` (``nasnet.layers.LayerConfig.sync_batch_norm``), like
the FPN's and the heads': with 2 images per replica, per-replica statistics
would be computed over 2 images.

Example:
    >>> from detection import backbone          # registers 'nasnet'
    >>> from official.vision.modeling.backbones import factory
    >>> cfg = backbone.Backbone(type='nasnet', nasnet=backbone.NasnetBackboneConfig(
    ...     genotype='pnasnet_5', size='1@240', min_level=3))
    >>> model = factory.build_backbone(tf_keras.layers.InputSpec(shape=[None, 128, 128, 3]),
    ...                                cfg, common.NormActivation())
    >>> {k: v.as_list() for k, v in model.output_specs.items()}
    {'3': [None, 16, 16, 60], '4': [None, 8, 8, 120], '5': [None, 4, 4, 240]}
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf
import tf_keras
from official.modeling import hyperparams
from official.vision.configs import backbones as mg_backbones
from official.vision.modeling.backbones import factory

from nasnet import genotype_source, networks
from nasnet.genotype import Genotype
from nasnet.layers import LayerConfig

BACKBONE_TYPE = "nasnet"


@dataclasses.dataclass
class NasnetBackboneConfig(hyperparams.Config):
    """A NASNet backbone: which cell, how big, which stem, which levels.

    Defaults are NASNet-A Mobile (4 @ 1056, slim ``mobile_imagenet_config``);
    NASNet-A Large is ``size='6@4032', stem_multiplier=3.0,
    skip_reduction_layer_input=True, drop_path_keep_prob=0.7``.

    Attributes:
      genotype: a published name (``nasnet_a``, ``pnasnet_5``, ``amoebanet_a``),
        a genotype JSON file, a search / training work directory, an export
        directory or ``zoo:NAME`` (anything ``nasnet.genotype_source.resolve``
        accepts).
      size: ``"N@P"``: N normal cells per stack, P filters in the penultimate layer.
      num_conv_filters: when > 0, the first stack's filters F (P is then ignored).
      stem: ``'imagenet'`` (3x3/2 conv and two reduction cells; mobile or large
        with ``stem_multiplier``) or ``'cifar'`` (3x3 conv, stride 1).
      stem_multiplier: stem filters = 32 x this (ImageNet stem); 1.0 mobile, 3.0 large.
      filter_scaling_rate: filters multiply by this at each reduction.
      skip_reduction_layer_input: slim's Large setting.
      drop_path_keep_prob: ScheduledDropPath keep probability (1.0 = off).
      total_training_steps: the drop-path schedule's horizon.
      skeleton: how the cells are stacked (``nasnet.skeletons``): ``nasnet``,
        ``pnasnet`` (PNASNet-5's own: strided cells, no reduction cells) or
        ``amoebanet``.
      min_level: lowest level returned (FPN's ``min_level``); the highest is
        the backbone's top level.
    """

    genotype: str = "nasnet_a"
    size: str = "4@1056"
    num_conv_filters: int = 0
    stem: str = "imagenet"
    stem_multiplier: float = 1.0
    filter_scaling_rate: float = 2.0
    skip_reduction_layer_input: bool = False
    drop_path_keep_prob: float = 1.0
    total_training_steps: int = 250_000
    min_level: int = 2
    skeleton: str = "nasnet"


@dataclasses.dataclass
class Backbone(mg_backbones.Backbone):
    """official.vision's backbone OneOfConfig plus ``nasnet``."""

    nasnet: NasnetBackboneConfig = dataclasses.field(default_factory=NasnetBackboneConfig)


def resolve_genotype(spec: str) -> Genotype:
    """The genotype named by ``spec`` (see ``NasnetBackboneConfig.genotype``)."""
    return genotype_source.resolve(spec)


def kernel_config(config: NasnetBackboneConfig, norm_momentum: float = 0.9997,
                  norm_epsilon: float = 1e-3,
                  l2_regularizer: tf_keras.regularizers.Regularizer | None = None,
                  use_sync_bn: bool = False) -> networks.BackboneConfig:
    """The ``nasnet.networks.BackboneConfig`` of a Model Garden config.

    Raises ValueError for a bad size or a regularizer that is not L2 (the
    NASNet layers take an L2 weight decay).
    """
    num_cells, penultimate = networks.parse_size(config.size)
    weight_decay = 0.0
    if l2_regularizer is not None:
        l2 = getattr(l2_regularizer, "l2", None)
        if l2 is None or getattr(l2_regularizer, "l1", 0.0):
            raise ValueError(
                f"the nasnet backbone supports only an L2 regularizer, got {l2_regularizer!r}")
        weight_decay = 2.0 * float(l2)  # LayerConfig halves it again (tf.nn.l2_loss).
    if config.num_conv_filters < 0:
        raise ValueError(f"num_conv_filters must be >= 0 (0: from size), "
                         f"got {config.num_conv_filters}")
    return networks.BackboneConfig(
        stem=config.stem,
        num_cells_per_stack=num_cells,
        penultimate_filters=penultimate,
        stem_multiplier=config.stem_multiplier,
        filter_scaling_rate=config.filter_scaling_rate,
        skip_reduction_layer_input=config.skip_reduction_layer_input,
        drop_path_keep_prob=config.drop_path_keep_prob,
        total_training_steps=config.total_training_steps,
        layer=LayerConfig(bn_momentum=norm_momentum, bn_epsilon=norm_epsilon,
                          weight_decay=weight_decay, sync_batch_norm=bool(use_sync_bn)),
        num_conv_filters=config.num_conv_filters or None,
        skeleton=config.skeleton)


class NasnetFpnBackbone(tf_keras.Model):
    """``NasnetBackbone`` restricted to the levels ``>= min_level``.

    Inputs ``[B, H, W, 3]`` (H and W multiples of ``2**top_level``); outputs
    ``{str(level): [B, H / 2**level, W / 2**level, C_level]}``. The nested
    ``nasnet`` layer is the kernel's ``NasnetBackbone``: its weights are the
    ones a classifier trained in ``transfer/`` holds.
    """

    def __init__(self, genotype: Genotype | dict, config: networks.BackboneConfig | dict,
                 input_shape=(None, None, 3), min_level: int = 2, **kwargs):
        genotype = Genotype.from_dict(genotype) if isinstance(genotype, dict) else genotype
        if isinstance(config, dict):
            config = dict(config)
            if isinstance(config.get("layer"), dict):
                config["layer"] = LayerConfig.from_dict(config["layer"])
            config = networks.BackboneConfig(**config)
        input_shape = tuple(input_shape)
        nasnet = networks.NasnetBackbone(genotype, config, input_shape, name="nasnet")
        levels = sorted(int(k) for k in nasnet.output_specs)
        kept = [level for level in levels if level >= min_level]
        if min_level not in levels:
            raise ValueError(
                f"min_level {min_level} is not a level of this NASNet backbone "
                f"({config.stem} stem: levels {levels})")
        _check_sizes(nasnet.output_specs, kept, input_shape)
        inputs = tf_keras.Input(shape=input_shape, name="images")
        endpoints = nasnet(inputs)
        outputs = {str(level): endpoints[str(level)] for level in kept}
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.nasnet = nasnet
        self.genotype = genotype
        self.backbone_config = config
        self.min_level = min_level
        self._input_shape_arg = input_shape
        self._output_specs = {k: v.shape for k, v in outputs.items()}

    @property
    def output_specs(self) -> dict[str, tf.TensorShape]:
        return self._output_specs

    def get_config(self) -> dict[str, Any]:
        return {"genotype": self.genotype.to_dict(),
                "config": dataclasses.asdict(self.backbone_config),
                "input_shape": list(self._input_shape_arg), "min_level": self.min_level,
                "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(config["genotype"], config["config"], tuple(config["input_shape"]),
                   config["min_level"], name=config.get("name"))


def _check_sizes(specs: dict[str, tf.TensorShape], levels: list[int], input_shape) -> None:
    """FPN adds a 2x-upsampled level to the one below: sizes must halve exactly."""
    for low, high in zip(levels, levels[1:]):
        for axis in (1, 2):
            small, big = specs[str(high)][axis], specs[str(low)][axis]
            if small is not None and big is not None and 2 * small != big:
                raise ValueError(
                    f"input size {list(input_shape[:2])} gives level {low} size {big} and "
                    f"level {high} size {small}; FPN needs each level to be exactly twice "
                    f"the next: use a height and width divisible by {2 ** levels[-1]}, or a "
                    f"min_level above {low}")


@factory.register_backbone_builder(BACKBONE_TYPE)
def build_nasnet(input_specs: tf_keras.layers.InputSpec,
                 backbone_config: hyperparams.Config,
                 norm_activation_config: hyperparams.Config,
                 l2_regularizer: tf_keras.regularizers.Regularizer | None = None,
                 **kwargs) -> NasnetFpnBackbone:
    """official.vision builder: ``Backbone(type='nasnet')`` -> ``NasnetFpnBackbone``."""
    del kwargs
    if backbone_config.type != BACKBONE_TYPE:
        raise ValueError(f"build_nasnet got a backbone config of type {backbone_config.type!r}")
    cfg = backbone_config.get()
    if norm_activation_config.activation != "relu":
        raise ValueError(
            f"the nasnet backbone uses ReLU (as published); norm_activation.activation is "
            f"{norm_activation_config.activation!r}")
    genotype = resolve_genotype(cfg.genotype)
    kernel = kernel_config(cfg, norm_activation_config.norm_momentum,
                           norm_activation_config.norm_epsilon, l2_regularizer,
                           use_sync_bn=norm_activation_config.use_sync_bn)
    shape = tuple(input_specs.shape[1:]) if input_specs.shape else (None, None, 3)
    return NasnetFpnBackbone(genotype, kernel, shape, cfg.min_level,
                             name=f"nasnet_fpn_backbone_{kernel.size.replace('@', '_')}")


CUSTOM_OBJECTS: dict[str, Any] = {"NasnetFpnBackbone": NasnetFpnBackbone,
                                  **networks.CUSTOM_OBJECTS}
