"""The published ImageNet models, as data: what each is, and its published figures.

Each ``PublishedModel`` names its architecture (a cell of
``nasnet.known_genotypes`` or a hand-designed network), the network preset
that builds it (``nasnet.networks.PRESETS``; None for hand-designed networks,
which ``transfer.hand_designed`` builds from ``tf_keras.applications``), its
input size and its published figures. Every ``Figure`` says where it comes
from and how sure it is, with the labels of the shared reference notes:

* ``code``: read in (or counted from) the named code or its README;
* ``2nd``: a secondary source (a library's documentation table);
* ``unverified``: from the paper as cited, not checked against the paper
  here.

Where our builder's count of the same network is known, ``ours`` records it
(measured with ``count_params`` and ``nasnet.flops.count_mult_adds``, 1000
classes, no auxiliary head); ``tests/nasnet/test_published.py`` rebuilds every
cell model and checks its count against ``ours`` and the published figure (the
full-size ones behind the slow marker).

These are ImageNet figures from the papers and their code: they are not ours,
and the comparison (``benchmarks/compare_models.py``) prints them beside its
own measurements, labelled as published.

Example:
    >>> from nasnet import published
    >>> model = published.get("pnasnet_5_mobile")
    >>> model.parameters.value, model.parameters.confidence
    (5100000.0, 'unverified')
    >>> model.preset, model.image_size
    ('pnasnet_mobile', 224)
"""

from __future__ import annotations

import dataclasses

CONFIDENCE = ("code", "2nd", "unverified")
#: Kinds of architecture.
CELL = "cell"
HAND_DESIGNED = "hand-designed"

_SLIM_README = "tensorflow/models research/slim/README.md (model table)"
_KERAS_TABLE = "keras.io Keras Applications table (Keras's own weights)"


@dataclasses.dataclass(frozen=True)
class Figure:
    """One published number: its value, where it comes from, how sure it is."""

    value: float
    source: str
    confidence: str

    def __post_init__(self):
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise ValueError(f"a published figure must be a number, got {self.value!r}")
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"a published figure needs its source, got {self.source!r}")
        if self.confidence not in CONFIDENCE:
            raise ValueError(f"figure confidence must be one of {CONFIDENCE}, "
                             f"got {self.confidence!r}")

    def label(self) -> str:
        return f"[{self.confidence}] {self.source}"


@dataclasses.dataclass(frozen=True)
class PublishedModel:
    """A published ImageNet model (see the module docstring).

    ``ours_parameters`` / ``ours_mult_adds``: our builder's exact counts of the
    same network (1000 classes, inference, no auxiliary head; parameters as
    ``count_params``, batch-norm statistics included), None when not measured.
    """

    name: str
    architecture: str
    kind: str
    preset: str | None
    image_size: int
    size: str
    parameters: Figure
    mult_adds: Figure
    imagenet_top1: Figure
    ours_parameters: int | None = None
    ours_mult_adds: int | None = None
    #: What the published parameter figure counts: ``"all"`` weights (Keras's
    #: ``count_params``, batch-norm statistics included, as the NASNet paper) or
    #: ``"trainable"`` ones (the PNAS and AmoebaNet papers).
    parameters_counted: str = "all"

    def __post_init__(self):
        if self.parameters_counted not in ("all", "trainable"):
            raise ValueError(f"parameters_counted must be 'all' or 'trainable', "
                             f"got {self.parameters_counted!r}")
        if self.kind not in (CELL, HAND_DESIGNED):
            raise ValueError(f"kind must be {CELL!r} or {HAND_DESIGNED!r}, got {self.kind!r}")
        if (self.kind == CELL) != (self.preset is not None):
            raise ValueError(f"{self.name}: a cell model names its network preset, a "
                             f"hand-designed one does not (preset={self.preset!r})")


def _figure(value: float, source: str, confidence: str) -> Figure:
    return Figure(float(value), source, confidence)


_PNAS = "Liu et al. 2018, Progressive Neural Architecture Search, ImageNet tables"
_AMOEBA = "Real et al. 2019, Regularized Evolution for Image Classifier Architecture Search"
_NASNET_PAPER = "Zoph et al. 2018, Table 2 (ImageNet)"

MODELS: dict[str, PublishedModel] = {m.name: m for m in (
    PublishedModel(
        name="nasnet_a_mobile", architecture="nasnet_a", kind=CELL, preset="mobile",
        image_size=224, size="N = 4, F = 44 (4 @ 1056)",
        parameters=_figure(5_326_716, "tf_keras.applications.NASNetMobile(weights=None)"
                           ".count_params()", "code"),
        mult_adds=_figure(564e6, _SLIM_README, "code"),
        imagenet_top1=_figure(0.740, _SLIM_README, "code"),
        ours_parameters=5_326_716, ours_mult_adds=563_638_816),
    PublishedModel(
        name="nasnet_a_large", architecture="nasnet_a", kind=CELL, preset="large",
        image_size=331, size="N = 6, F = 168 (6 @ 4032)",
        parameters=_figure(88_949_818, "tf_keras.applications.NASNetLarge(weights=None)"
                           ".count_params()", "code"),
        mult_adds=_figure(23.8e9, _SLIM_README, "code"),
        imagenet_top1=_figure(0.827, _SLIM_README, "code"),
        ours_parameters=88_949_818, ours_mult_adds=23_783_414_658),
    PublishedModel(
        name="pnasnet_5_mobile", architecture="pnasnet_5", kind=CELL, preset="pnasnet_mobile",
        image_size=224, size="N = 3, F = 54 (3 @ 1080)",
        parameters=_figure(5.1e6, _PNAS, "unverified"),
        mult_adds=_figure(588e6, _PNAS, "unverified"),
        imagenet_top1=_figure(0.742, _SLIM_README, "code"),
        ours_parameters=5_098_151, ours_mult_adds=587_293_200, parameters_counted="trainable"),
    PublishedModel(
        name="pnasnet_5_large", architecture="pnasnet_5", kind=CELL, preset="pnasnet_large",
        image_size=331, size="N = 4, F = 216 (4 @ 4320)",
        # timm's pnasnet5large is a port of slim's released checkpoint: its
        # trainable parameters plus its batch-norm statistics are the Keras count.
        parameters=_figure(86_234_656, "timm 1.0.31 pnasnet5large (a port of slim's "
                           "pnasnet-5_large_2017_12_13 checkpoint): 86,057,668 parameters "
                           "+ 176,988 batch-norm statistics; the paper: 86.1M", "code"),
        mult_adds=_figure(25.0e9, _PNAS, "unverified"),
        imagenet_top1=_figure(0.829, _SLIM_README, "code"),
        ours_parameters=86_234_656, ours_mult_adds=24_937_395_792),
    PublishedModel(
        name="amoebanet_a_mobile", architecture="amoebanet_a", kind=CELL,
        preset="amoebanet_a_mobile", image_size=224, size="N = 4, F = 50 (4 @ 800)",
        parameters=_figure(5.1e6, _AMOEBA, "unverified"),
        mult_adds=_figure(555e6, _AMOEBA, "unverified"),
        imagenet_top1=_figure(0.745, _AMOEBA, "unverified"),
        ours_parameters=5_122_936, ours_mult_adds=554_687_204, parameters_counted="trainable"),
    PublishedModel(
        name="amoebanet_a_large", architecture="amoebanet_a", kind=CELL,
        preset="amoebanet_a_large", image_size=331, size="N = 6, F = 190 (6 @ 3040)",
        parameters=_figure(86.7e6, _AMOEBA, "unverified"),
        mult_adds=_figure(23.1e9, _AMOEBA, "unverified"),
        imagenet_top1=_figure(0.828, _AMOEBA, "unverified"),
        ours_parameters=86_908_673, ours_mult_adds=23_133_663_507, parameters_counted="trainable"),
    PublishedModel(
        name="resnet50", architecture="resnet50", kind=HAND_DESIGNED, preset=None,
        image_size=224, size="ResNet-50 v1 (He et al. 2016)",
        parameters=_figure(25_636_712, "tf_keras.applications.ResNet50(weights=None)"
                           ".count_params()", "code"),
        mult_adds=_figure(3.8e9, "He et al. 2016, Table 1 (3.8 x 10^9 FLOPs, i.e. "
                          "mult-adds; later tables, e.g. EfficientNet's, cite 4.1B)",
                          "unverified"),
        imagenet_top1=_figure(0.749, _KERAS_TABLE, "2nd"),
        ours_parameters=25_636_712, ours_mult_adds=3_857_973_248),
    PublishedModel(
        name="inception_resnet_v2", architecture="inception_resnet_v2", kind=HAND_DESIGNED,
        preset=None, image_size=299, size="Inception-ResNet-v2 (Szegedy et al. 2017)",
        parameters=_figure(55_873_736, "tf_keras.applications.InceptionResNetV2("
                           "weights=None).count_params()", "code"),
        mult_adds=_figure(13.2e9, _NASNET_PAPER, "unverified"),
        imagenet_top1=_figure(0.804, _NASNET_PAPER, "unverified"),
        ours_parameters=55_873_736, ours_mult_adds=13_155_794_016),
)}


def get(name: str) -> PublishedModel:
    """The published model called ``name``; ValueError listing the known ones otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown published model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name]


def of_architecture(architecture: str) -> list[PublishedModel]:
    """The published models of one architecture (``nasnet_a``, ``resnet50``, ...)."""
    return [m for m in MODELS.values() if m.architecture == architecture]
