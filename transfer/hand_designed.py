"""Hand-designed classifiers from ``tf_keras.applications``, trained by the same harness.

The NASNet comparison is searched cells against the best hand-designed
networks at equal compute. These networks are built by the library that
already has them, never rewritten here: the body is
``tf_keras.applications.<Network>(include_top=False, weights=None,
pooling="avg")``, the head the one every classifier of this project has
(dropout with ``model.dense_dropout_keep_prob``, a dense layer ``logits`` with
L2 weight decay, float32 logits), so the parameter count equals the
application's own ``include_top=True`` model with the same classes (Keras's
top is the same average pool and dense layer, without the dropout).

* ``resnet50``: ResNet-50 v1 (He et al. 2016), ``tf_keras.applications.ResNet50``;
  inputs of at least 32 px.
* ``inception_resnet_v2``: Inception-ResNet-v2 (Szegedy et al. 2017), the
  hand-designed network the NASNet paper compares against,
  ``tf_keras.applications.InceptionResNetV2``; inputs of at least 75 px.

What is the same as for a genotype (``transfer.config.TrainConfig`` with
``hand_designed`` set and ``genotype`` null): the presets (data, optimizer,
schedule, label smoothing), the distribution strategies, mixed precision, the
checkpoints, the export signatures and the zoo manifest. What differs: there
is no auxiliary head (``model.use_aux_head`` must be false) and no genotype
(the export has no ``genotype.json`` and its ``export_info`` records no
fingerprint); weight decay (``model.backbone.layer.weight_decay``, slim's
``weight_decay * sum(w**2) / 2``) is added as a loss on every convolution and
dense kernel, since the applications build their layers without regularizers;
their batch norm keeps the applications' own settings. The networks are
trained from scratch on this project's input pipeline (images in [-1, 1],
``transfer.data``), so the applications' ``preprocess_input`` (meant for
their ImageNet weights, which are never loaded: ``weights=None``) is not
applied.

Example:
    >>> config = networks.ClassifierConfig(num_classes=10, image_size=32, use_aux_head=False)
    >>> model = build_classifier("resnet50", config)
    >>> model(images)["logits"].shape          # images: [B, 32, 32, 3]
    TensorShape([B, 10])
"""

from __future__ import annotations

import dataclasses

from nasnet import networks


@dataclasses.dataclass(frozen=True)
class HandDesigned:
    """A hand-designed network: its ``tf_keras.applications`` constructor and limits."""

    name: str
    application: str
    min_image_size: int
    description: str


NETWORKS: dict[str, HandDesigned] = {n.name: n for n in (
    HandDesigned("resnet50", "ResNet50", 32, "ResNet-50 v1 (He et al. 2016)"),
    HandDesigned("inception_resnet_v2", "InceptionResNetV2", 75,
                 "Inception-ResNet-v2 (Szegedy et al. 2017)"),
)}


def get(name: str) -> HandDesigned:
    """The hand-designed network called ``name``; ValueError listing the known ones."""
    if not isinstance(name, str) or name not in NETWORKS:
        raise ValueError(f"unknown hand-designed network {name!r}; known: {sorted(NETWORKS)}")
    return NETWORKS[name]


def check(name: str, model: networks.ClassifierConfig) -> HandDesigned:
    """ValueError unless ``model`` fits the network: a known name, no auxiliary head,
    an input at least the application's minimum. Pure Python (no TensorFlow op)."""
    spec = get(name)
    if model.use_aux_head:
        raise ValueError(f"the hand-designed network {name!r} has no auxiliary head: set "
                         f"model.use_aux_head=false")
    if model.image_size < spec.min_image_size:
        raise ValueError(f"model.image_size {model.image_size} is below {name}'s minimum of "
                         f"{spec.min_image_size} px (tf_keras.applications.{spec.application})"
                         f": use image_size >= {spec.min_image_size}")
    return spec


def build_classifier(name: str, model: networks.ClassifierConfig,
                     model_name: str | None = None):
    """``images [B, S, S, 3] -> {"logits": [B, classes]}`` (see the module docstring)."""
    import tensorflow as tf
    import tf_keras

    spec = check(name, model)
    size = model.image_size
    layer = model.backbone.layer
    inputs = tf_keras.Input(shape=(size, size, 3), name="images")
    body = getattr(tf_keras.applications, spec.application)(
        include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
    x = body(inputs)
    if model.dense_dropout_keep_prob < 1.0:
        x = tf_keras.layers.Dropout(1.0 - model.dense_dropout_keep_prob, name="dropout")(x)
    logits = tf_keras.layers.Dense(model.num_classes, kernel_regularizer=layer.regularizer(),
                                   name="logits")(x)
    outputs = {"logits": tf_keras.layers.Activation("linear", dtype="float32",
                                                    name="logits_fp32")(logits)}
    classifier = tf_keras.Model(inputs, outputs,
                                name=networks.model_name(model_name or f"{name}_{size}px"))
    if layer.weight_decay:
        scale = layer.weight_decay / 2.0
        kernels = [w for w in body.trainable_weights
                   if w.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel")]
        for kernel in kernels:
            classifier.add_loss(lambda w=kernel: scale * tf.reduce_sum(
                tf.square(tf.cast(w, tf.float32))))
    return classifier
