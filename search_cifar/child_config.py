"""How a child network of the search is sized, trained and scored: ``ChildConfig`` and presets.

``ChildConfig`` composes the configs of the pieces it uses instead of copying
their fields: ``data`` is the pipeline's ``data.DataConfig``, ``network`` is
the network's own ``nasnet.networks.ClassifierConfig`` (its ``backbone``, a
``BackboneConfig`` with the cifar stem, holds N, F, drop path and the layers'
``nasnet.layers.LayerConfig``: batch norm and weight decay). The rest is the
training and the scoring. Overrides address the composed path, e.g.
``child.network.backbone.num_cells_per_stack=1``,
``child.network.backbone.layer.weight_decay=1e-4``, ``child.epochs=3``.

Three fields of ``network`` are not the config's to choose; the child's data
and schedule decide them (``DERIVED_NETWORK_FIELDS``):

* ``image_size`` is ``data.image_size``: set on construction, so a saved
  config reads true;
* ``num_classes`` is the dataset's (``data.DataInfo.num_classes``: 10 for
  CIFAR-10 and digits, 100 for CIFAR-100), known once the data is loaded;
* ``backbone.total_training_steps`` (ScheduledDropPath's horizon) is
  ``epochs x steps per epoch`` of the child being trained.

``classifier_config(num_classes, total_training_steps)`` fills them in when a
child is built (``child_evaluator.ChildEvaluator.build``); the search's
overrides refuse them (``experiments.apply_overrides``).

Children are sized by their base filters F (``backbone.num_conv_filters``,
required here): the penultimate width P of a sampled cell depends on how many
states it concatenates, so a P would not divide for most cells.

Reward = validation accuracy of the final epoch (``reward="final"``, the
default: with a cosine schedule that decays to 0 the last epoch is the trained
network, and it is what an early-stopping scheduler compares) or of the best
epoch (``reward="best"``), optionally cubed (``reward_transform="cube"``,
Zoph & Le 2017's reward).

Hyperparameters of the ``nasnet_search`` preset (the defaults), with their
sources (labels: [code] read in the named source file, [unverified] from the
paper as remembered, not checked):

=====================  ===========  ==================================================
N (cells per stack)    2            Zoph et al. 2018, search (Appendix A.1 [unverified])
F (base filters)       32           Zoph et al. 2018, search; slim cifar_config [code]
epochs                 20           Zoph et al. 2018, search
batch size             32           slim nasnet.py CIFAR training notes [code]
learning rate          0.025        slim nasnet.py CIFAR training notes [code]
schedule               cosine       slim notes "cosine (single period)" [code]; Zoph et al. 2018
                                    also used it in the 20-epoch search (App. A.1 [unverified])
momentum               0.9          Zoph et al. 2018, App. A.1 [unverified]
gradient clipping      5 (global)   slim nasnet.py CIFAR training notes [code]
aux head loss weight   0.4          slim nasnet.py CIFAR training notes [code]
weight decay           5e-4         slim nasnet_cifar_arg_scope [code]
BN momentum / eps      0.9 / 1e-5   slim nasnet_cifar_arg_scope [code]
stem multiplier        3.0          slim cifar_config [code]
dense dropout keep     1.0          slim cifar_config [code]
drop path keep prob    1.0 (off)    our choice: slim's 0.6 is for the 600-epoch final
                                    training; no source gives a value for 20-epoch children
validation split       45k / 5k     Zoph et al. 2018, search
=====================  ===========  ==================================================

(slim: tensorflow/models, research/slim/nets/nasnet/nasnet.py.)

Example:
    >>> config = config_utils.override(preset("tiny"), {"epochs": 2,
    ...                                "network.backbone.num_conv_filters": 16})
    >>> config.classifier_config(num_classes=10, total_training_steps=84).backbone.size
    '1@F16'
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from nasnet import networks
from nasnet.layers import LayerConfig
from search_cifar import data as data_lib

REWARDS = ("final", "best")
REWARD_TRANSFORMS = ("identity", "cube")
LR_SCHEDULES = ("cosine", "constant")
MIXED_PRECISION = (None, "mixed_float16", "mixed_bfloat16")

#: Fields of ``ChildConfig.network`` that the child's data and schedule decide
#: (dotted path under ``network`` -> where the value comes from).
DERIVED_NETWORK_FIELDS: dict[str, str] = {
    "image_size": "child.data.image_size",
    "num_classes": "the dataset's number of classes",
    "backbone.total_training_steps": "epochs x steps per epoch",
}

#: Zoph et al. 2018's search-time child network (sources in the module docstring).
#: ``num_classes``, ``image_size`` and ``total_training_steps`` are filled in per child.
SEARCH_NETWORK = networks.ClassifierConfig(
    backbone=networks.BackboneConfig(
        stem="cifar", num_cells_per_stack=2, num_conv_filters=32, stem_multiplier=3.0,
        drop_path_keep_prob=1.0, total_training_steps=1,
        layer=LayerConfig(bn_momentum=0.9, bn_epsilon=1e-5, weight_decay=5e-4)),
    num_classes=10, image_size=data_lib.CIFAR_SIZE, dense_dropout_keep_prob=1.0,
    use_aux_head=True)


def search_network(num_cells_per_stack: int, num_conv_filters: int) -> networks.ClassifierConfig:
    """``SEARCH_NETWORK`` with N cells per stack and F base filters."""
    return dataclasses.replace(SEARCH_NETWORK, backbone=dataclasses.replace(
        SEARCH_NETWORK.backbone, num_cells_per_stack=num_cells_per_stack,
        num_conv_filters=num_conv_filters))


def _positive(name: str, value: Any, integer: bool = False, allow_zero: bool = False) -> None:
    kind = int if integer else (int, float)
    ok = not isinstance(value, bool) and isinstance(value, kind)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {'an int' if integer else 'a number'} {bound}, "
                         f"got {value!r}")


def _strict(cls, data: Any, what: str):
    """``cls(**data)`` for a dataclass, nested dataclass fields included; ValueError
    naming an unknown key."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be a JSON object, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown {what} key(s) {unknown}; known: {sorted(fields)}")
    values = dict(data)
    for name, value in values.items():
        nested = getattr(cls, name, None)  # a dataclass default names the nested type
        if isinstance(value, Mapping) and dataclasses.is_dataclass(nested):
            values[name] = _strict(type(nested), value, f"{what}.{name}")
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class ChildConfig:
    """A child network, its data, its training and its reward (see the module docstring).

    Attributes:
        data: the training / validation pipeline.
        network: the network, but for ``DERIVED_NETWORK_FIELDS``.
        aux_loss_weight: weight of the auxiliary head's loss.
        epochs: training epochs (the cosine schedule spans them).
        steps_per_epoch: None: one pass over the training set.
        validation_steps: None: the whole validation set.
        learning_rate, lr_schedule, momentum, nesterov, clip_norm: SGD with
            momentum, ``cosine`` (to 0) or ``constant``, global-norm clipping.
        mixed_precision: None, ``mixed_float16`` or ``mixed_bfloat16``.
        jit_compile: XLA.
        reward, reward_transform: see the module docstring.
        seed: seeds the weights, the data order and the augmentation.
        verbose: Keras progress bars.
        tensorboard_dir: per-child TensorBoard logs under this directory.
        clear_session: clear the Keras session before each child.
    """

    data: data_lib.DataConfig = data_lib.DataConfig()
    network: networks.ClassifierConfig = SEARCH_NETWORK
    # Training.
    aux_loss_weight: float = 0.4
    epochs: int = 20
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    learning_rate: float = 0.025
    lr_schedule: str = "cosine"
    momentum: float = 0.9
    nesterov: bool = False
    clip_norm: float | None = 5.0
    mixed_precision: str | None = None
    jit_compile: bool = False
    # Scoring.
    reward: str = "final"
    reward_transform: str = "identity"
    # Bookkeeping.
    seed: int = 0
    verbose: bool = False
    tensorboard_dir: str | None = None
    clear_session: bool = True

    def __post_init__(self):
        if isinstance(self.data, Mapping):
            object.__setattr__(self, "data", _strict(data_lib.DataConfig, self.data, "data"))
        if isinstance(self.network, Mapping):
            object.__setattr__(self, "network",
                               _strict(networks.ClassifierConfig, self.network, "network"))
        if not isinstance(self.data, data_lib.DataConfig):
            raise ValueError(f"data must be a DataConfig, got {self.data!r}")
        if not isinstance(self.network, networks.ClassifierConfig):
            raise ValueError(f"network must be a ClassifierConfig, got {self.network!r}")
        filters = self.network.backbone.num_conv_filters
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"network.backbone.num_conv_filters must be an int >= 1 (children "
                             f"are sized by their base filters F), got {filters!r}")
        if self.network.image_size != self.data.image_size:
            object.__setattr__(self, "network", dataclasses.replace(
                self.network, image_size=self.data.image_size))
        _positive("aux_loss_weight", self.aux_loss_weight, allow_zero=True)
        _positive("epochs", self.epochs, integer=True)
        for name in ("steps_per_epoch", "validation_steps"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name), integer=True)
        _positive("learning_rate", self.learning_rate)
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.clip_norm is not None:
            _positive("clip_norm", self.clip_norm)
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, "
                             f"got {self.mixed_precision!r}")
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        if self.reward_transform not in REWARD_TRANSFORMS:
            raise ValueError(f"reward_transform must be one of {REWARD_TRANSFORMS}, "
                             f"got {self.reward_transform!r}")

    def classifier_config(self, num_classes: int,
                          total_training_steps: int = 1) -> networks.ClassifierConfig:
        """``network`` with the fields the data and the schedule decide filled in."""
        return dataclasses.replace(
            self.network, num_classes=num_classes, image_size=self.data.image_size,
            backbone=dataclasses.replace(self.network.backbone,
                                         total_training_steps=max(1, int(total_training_steps))))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChildConfig":
        """Strict: an unknown key, at any depth, is a ValueError naming it."""
        return _strict(cls, data, "child")


def reward_from_history(history: Sequence[Mapping[str, float]], reward: str = "final",
                        transform: str = "identity") -> tuple[float, float]:
    """``(accuracy, reward)`` from per-epoch metrics: the final or best epoch's
    ``val_accuracy``, and that accuracy transformed (``"cube"``: Zoph & Le 2017)."""
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
    if transform not in REWARD_TRANSFORMS:
        raise ValueError(f"reward_transform must be one of {REWARD_TRANSFORMS}, got {transform!r}")
    if not history:
        raise ValueError("no completed epoch to take a reward from")
    accuracies = [float(m["val_accuracy"]) for m in history]
    accuracy = accuracies[-1] if reward == "final" else max(accuracies)
    return accuracy, accuracy ** 3 if transform == "cube" else accuracy


#: Zoph et al. 2018's search-time child on CIFAR-10 (sources in the module docstring).
#: On 2 CPU cores this is hours per child; it is meant for accelerators.
NASNET_SEARCH = ChildConfig()

#: A cheaper CIFAR-10 child (our choice): N = 1, F = 16, 5 epochs, batch 64 with the
#: learning rate scaled linearly with the batch (Goyal et al. 2017), 0.025 x 2.
SMALL = ChildConfig(
    data=data_lib.DataConfig(dataset="cifar10", batch_size=64),
    network=search_network(num_cells_per_stack=1, num_conv_filters=16),
    epochs=5, learning_rate=0.05)

#: The quickstart and test child (our choice): digits at 16 px, N = 1, F = 8,
#: 3 epochs of batch 32 at learning rate 0.05; well under a minute on 2 CPU cores.
TINY = ChildConfig(
    data=data_lib.DataConfig(dataset="digits", image_size=16, batch_size=32),
    network=search_network(num_cells_per_stack=1, num_conv_filters=8),
    epochs=3, learning_rate=0.05)

PRESETS: dict[str, ChildConfig] = {"nasnet_search": NASNET_SEARCH, "small": SMALL, "tiny": TINY}


def preset(name: str) -> ChildConfig:
    """The ``ChildConfig`` preset called ``name``."""
    if name not in PRESETS:
        raise ValueError(f"unknown child preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]
