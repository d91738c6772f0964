"""Backbone weights only: from a classifier, an export, a zoo entry or a detector.

A NASNet backbone sits at different places in different checkpoints:

* a ``transfer/`` classifier (``tf.train.Checkpoint(model=classifier)``): the
  classifier's nested ``NasnetBackbone`` layer, ``model/layer_with_weights-0/``;
* an export (``<export>/saved_model``, a zoo entry): the same layer inside the
  serving module's model;
* an official.vision detection checkpoint: ``model/backbone/...``, and inside
  this project's ``NasnetFpnBackbone`` one level deeper.

``restore_backbone`` finds it without knowing which: it walks the checkpoint's
object graph, takes every place whose first convolution has the shape of this
backbone's stem convolution, and restores the backbone there, accepting the
first place where every backbone variable is matched with its shape. Nothing
else in the checkpoint is read (no classifier head, no detection heads).

Example:
    >>> restore_backbone(detector.backbone, "/runs/imagenet_mobile")   # transfer run
    'model/layer_with_weights-0/ (612 variables)'
"""

from __future__ import annotations

import os

import tensorflow as tf
import tf_keras

from nasnet import artifacts
from nasnet import cell as nas_cell
from nasnet import networks

#: The final weights of a transfer run (``transfer.trainer``).
_TRANSFER_FINAL = os.path.join(artifacts.FINAL_DIR, artifacts.FINAL_CHECKPOINT_PREFIX)
#: A SavedModel's variables (TensorFlow's SavedModel layout).
_SAVED_MODEL_VARIABLES = os.path.join("variables", "variables")


def checkpoint_prefix(source: str, zoo_dir: str | None = None) -> str:
    """The checkpoint prefix that ``source`` names.

    ``source``: a checkpoint prefix (``.../ckpt-1200``); a directory holding
    checkpoints (the latest is used); a transfer work directory (its final
    weights, else its latest backup); an export or zoo-entry directory (its
    ``saved_model``); a SavedModel directory; or ``zoo:NAME``.
    """
    if source.startswith(artifacts.ZOO_PREFIX):
        source = artifacts.zoo_entry_dir(zoo_dir, source[len(artifacts.ZOO_PREFIX):])
    if tf.io.gfile.exists(source + ".index"):
        return source
    if tf.io.gfile.isdir(source):
        for candidate in (os.path.join(source, _TRANSFER_FINAL),
                          os.path.join(source, artifacts.SAVED_MODEL_DIR,
                                       _SAVED_MODEL_VARIABLES),
                          os.path.join(source, _SAVED_MODEL_VARIABLES)):
            if tf.io.gfile.exists(candidate + ".index"):
                return candidate
        latest = tf.train.latest_checkpoint(source)
        if latest is None:
            for sub in (os.path.join(source, artifacts.CHIEF_CHECKPOINT_DIR),
                        os.path.join(source, artifacts.CHECKPOINT_DIR)):
                if tf.io.gfile.isdir(sub):
                    latest = tf.train.latest_checkpoint(sub)
                    if latest:
                        break
        if latest:
            return latest
        raise ValueError(f"directory {source!r} holds no checkpoint, final/ckpt, "
                         f"saved_model or SavedModel variables")
    raise ValueError(f"no checkpoint at {source!r} (neither {source}.index nor a directory)")


def _nasnet_of(model: tf_keras.Model) -> networks.NasnetBackbone:
    if isinstance(model, networks.NasnetBackbone):
        return model
    nested = getattr(model, "nasnet", None)
    if isinstance(nested, networks.NasnetBackbone):
        return nested
    raise ValueError(f"{type(model).__name__} is not a NASNet backbone (expected a "
                     f"NasnetBackbone or a NasnetFpnBackbone)")


def _candidates(prefix: str, stem_shape: list[int]) -> list[str]:
    """Object paths whose ``layer_with_weights-0/kernel`` has the stem's shape.

    Walks the checkpoint's object graph (not its variable keys: a SavedModel
    stores each variable under one of several paths, e.g. ``model/variables/0``).
    """
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    reader = tf.train.load_checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    shapes = reader.get_variable_to_shape_map()
    paths, queue = {0: ""}, [0]
    while queue:  # breadth first: shortest paths, shallowest first
        node = queue.pop(0)
        for child in graph.nodes[node].children:
            if child.node_id not in paths:
                paths[child.node_id] = paths[node] + child.local_name + "/"
                queue.append(child.node_id)

    def child(node: int, name: str) -> int | None:
        return next((c.node_id for c in graph.nodes[node].children if c.local_name == name),
                    None)

    found = []
    for node, path in sorted(paths.items(), key=lambda item: (item[1].count("/"), item[1])):
        first = child(node, "layer_with_weights-0")
        kernel = None if first is None else child(first, "kernel")
        if kernel is None:
            continue
        keys = [a.checkpoint_key for a in graph.nodes[kernel].attributes]
        if any(list(shapes.get(key, [])) == stem_shape for key in keys):
            found.append(path)
    return found


def _try_restore(target: tf_keras.Model, path: str, prefix: str) -> str | None:
    names = [n for n in path.split("/") if n]
    root: tf.train.Checkpoint | tf_keras.Model = target
    for name in reversed(names):
        root = tf.train.Checkpoint(**{name: root})
    try:
        status = root.read(prefix)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        return str(e).splitlines()[0][:300]
    return None


def restore_backbone(backbone: tf_keras.Model, source: str, zoo_dir: str | None = None) -> str:
    """Loads a NASNet backbone's weights (and batch-norm statistics) from ``source``.

    ``backbone``: a ``NasnetBackbone`` or a ``NasnetFpnBackbone`` (the
    detector's ``model.backbone``), built. ``source``: see
    ``checkpoint_prefix``. Returns where the weights were found. Raises
    ValueError when the checkpoint holds no backbone of this genotype and size
    (another architecture, another size, another backbone family).
    ScheduledDropPath progress is reset to 0 (the classifier's run is over).
    """
    nasnet = _nasnet_of(backbone)
    prefix = checkpoint_prefix(source, zoo_dir)
    stem = nasnet.get_layer("stem_conv").kernel
    paths = _candidates(prefix, stem.shape.as_list())
    errors = []
    for path in paths:
        error = _try_restore(nasnet, path, prefix)
        if error is None:
            nas_cell.set_drop_path_progress(nasnet, 0.0)
            return f"{path} ({len(nasnet.variables)} variables)"
        errors.append(f"{path}: {error}")
    genotype = nasnet.genotype.name or nasnet.genotype.fingerprint()
    detail = "; ".join(errors[:3]) if errors else (
        f"no convolution of the stem's shape {stem.shape.as_list()} in it")
    raise ValueError(
        f"checkpoint {prefix!r} holds no NASNet backbone matching {genotype} "
        f"{nasnet.backbone_config.size} ({nasnet.backbone_config.stem} stem): {detail}")
