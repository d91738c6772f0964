"""Export a trained classifier: a SavedModel with two serving signatures, and its records.

Layout of an export directory (``nasnet.artifacts``; written whole through
``nasnet.io_utils.atomic_directory``, so a crash never leaves a half-written
export)::

    saved_model/        the SavedModel (no auxiliary head)
    genotype.json       the architecture (nasnet.genotype); absent for a hand-designed
                        network (``transfer.hand_designed``), whose export_info names it
                        and records no genotype fingerprint and no size
    config.json         the training config (transfer.config.TrainConfig)
    metrics.json        the run's final evaluation ({} when unknown)
    export_info.json    nasnet.export_info.ExportInfo: task "classification", input
                        size, classes, parameters, mult-adds, signatures, outputs,
                        top-k and preprocessing, provenance, framework versions

Signatures (``serving_default`` is ``serving_images``):

* ``serving_images``: ``images`` uint8 ``[B, H, W, 3]``, any H and W;
* ``serving_bytes``: ``images`` string ``[B]`` of encoded JPEG / PNG (GIF, BMP);

both preprocess exactly as the evaluation did (``transfer.data.preprocess_for_eval``)
and return ``probabilities`` float32 ``[B, classes]``, ``logits`` float32
``[B, classes]``, ``top_k_classes`` int32 ``[B, k]`` and
``top_k_probabilities`` float32 ``[B, k]`` with ``k = min(5, classes)``.

Example:
    >>> export_from_workdir("/tmp/run", "/tmp/run/export")
    >>> served = tf.saved_model.load("/tmp/run/export/saved_model")
    >>> served.signatures["serving_bytes"](images=tf.constant([png]))["top_k_classes"]
"""

from __future__ import annotations

import os

import tensorflow as tf
import tf_keras

from nasnet import distribute, filesystem, flops, io_utils, networks, paths
from nasnet.artifacts import (CHECKPOINT_DIR, CONFIG_FILE, EXPORT_INFO_FILE, FINAL_DIR,
                              GENOTYPE_FILE, METRICS_FILE, SAVED_MODEL_DIR)
from nasnet.export_info import (CLASSIFICATION, ClassificationDetails, ExportInfo,
                                framework_versions, utc_now)
from nasnet.genotype import Genotype
from transfer import data, trainer
from transfer.config import TrainConfig

SIGNATURES = {"serving_images": "images: uint8 [B, H, W, 3]",
              "serving_bytes": "images: string [B] (JPEG/PNG bytes)"}
OUTPUTS = ("probabilities", "logits", "top_k_classes", "top_k_probabilities")
MAX_TOP_K = 5
#: The packages whose versions an export records.
FRAMEWORKS = ("tensorflow", "tf-keras")


class ClassifierServing(tf.Module):
    """The serving graph: preprocessing, the inference model, softmax and top-k."""

    def __init__(self, model: tf_keras.Model, image_size: int, preprocessing: str,
                 num_classes: int):
        super().__init__(name="classifier_serving")
        # Only the variables are tracked: tracking the Keras model would make
        # tf.saved_model.save trace every layer's call for Keras' own metadata
        # (slow, and not needed to serve).
        object.__setattr__(self, "_model", model)
        self.model_variables = list(model.variables)
        self._image_size = int(image_size)
        self._preprocessing = preprocessing
        self._top_k = min(MAX_TOP_K, int(num_classes))

    def _outputs(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        logits = tf.cast(self._model(images, training=False), tf.float32)
        probabilities = tf.nn.softmax(logits, axis=-1)
        top = tf.math.top_k(probabilities, k=self._top_k)
        return {"probabilities": probabilities, "logits": logits,
                "top_k_classes": tf.cast(top.indices, tf.int32),
                "top_k_probabilities": top.values}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serving_images(self, images):
        return self._outputs(data.preprocess_for_eval(images, self._image_size,
                                                      self._preprocessing))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serving_bytes(self, images):
        size = self._image_size

        def one(encoded):
            return data.preprocess_for_eval(data.decode_image(encoded), size,
                                            self._preprocessing)

        batch = tf.map_fn(one, images,
                          fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        return self._outputs(batch)


def restore_classifier(genotype: Genotype | None, config: TrainConfig,
                       checkpoint: str) -> tf_keras.Model:
    """A float32 classifier with the weights of a training checkpoint (``genotype`` is
    None for a hand-designed network).

    Fails with a clear message when the checkpoint does not hold this model's
    weights (another architecture, size or number of classes).
    """
    if not tf.io.gfile.exists(checkpoint + ".index"):
        raise ValueError(f"no checkpoint at {checkpoint!r} (expected {checkpoint}.index)")
    with distribute.dtype_policy("float32"):
        model = trainer.build_model(config, genotype)
    try:
        status = tf.train.Checkpoint(model=model).read(checkpoint)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        what = (config.hand_designed if genotype is None else
                f"{genotype.name or genotype.fingerprint()}, {config.model.backbone.size}")
        raise ValueError(
            f"checkpoint {checkpoint!r} does not hold this model's weights "
            f"({what}, {config.model.num_classes} classes): "
            f"{str(e).splitlines()[0][:300]}") from None
    return model


def export_classifier(model: tf_keras.Model, genotype: Genotype | None, config: TrainConfig,
                      export_dir: str, *, metrics: dict | None = None,
                      source_run: str | None = None, checkpoint: str | None = None,
                      overwrite: bool = False, count_mult_adds: bool = True) -> str:
    """Writes the export directory for a float32 classifier (``build_classifier`` output).

    Returns the absolute export directory. Refuses an existing one unless
    ``overwrite``; the directory appears whole or not at all. ``genotype`` is None
    exactly when ``config.hand_designed`` names the network.
    """
    if (genotype is None) != (config.hand_designed is not None):
        raise ValueError(f"export_classifier needs a genotype for a cell network and none for "
                         f"a hand-designed one (hand_designed={config.hand_designed!r}, "
                         f"genotype={'none' if genotype is None else genotype.fingerprint()})")
    export_dir = paths.user_path(export_dir)  # a gs:// URL stays as it is
    if filesystem.exists(export_dir) and not overwrite:
        raise ValueError(f"export directory {export_dir!r} already exists "
                         f"(pass overwrite=True / --overwrite to replace it)")
    with io_utils.atomic_directory(export_dir, overwrite=overwrite) as tmp:
        inference = networks.inference_model(model)
        size = config.model.image_size
        module = ClassifierServing(inference, size, config.data.preprocessing,
                                   config.model.num_classes)
        signatures = {"serving_default": module.serving_images,
                      "serving_images": module.serving_images,
                      "serving_bytes": module.serving_bytes}
        tf.saved_model.save(module, os.path.join(tmp, SAVED_MODEL_DIR), signatures=signatures)
        if genotype is not None:
            genotype.save(os.path.join(tmp, GENOTYPE_FILE))
        io_utils.atomic_write_text(os.path.join(tmp, CONFIG_FILE), config.to_json() + "\n")
        io_utils.atomic_write_json(os.path.join(tmp, METRICS_FILE), metrics or {})
        info = ExportInfo(
            task=CLASSIFICATION,
            architecture=trainer.architecture_name(config, genotype),
            genotype_fingerprint=genotype.fingerprint() if genotype is not None else None,
            size=config.model.backbone.size if genotype is not None else None,
            input_size=(size, size, 3),
            num_classes=config.model.num_classes,
            parameters=int(inference.count_params()),
            mult_adds=(int(flops.count_mult_adds(inference, (size, size, 3)))
                       if count_mult_adds else None),
            signatures=SIGNATURES,
            outputs=OUTPUTS,
            dataset=config.data.dataset,
            source_run=source_run,
            checkpoint=checkpoint,
            created_at=utc_now(),
            framework_versions=framework_versions(FRAMEWORKS),
            classification=ClassificationDetails(
                top_k=min(MAX_TOP_K, config.model.num_classes),
                preprocessing=config.data.preprocessing))
        info.save(os.path.join(tmp, EXPORT_INFO_FILE))
    return export_dir


def _is_run_directory(directory: str) -> bool:
    """config.json and, unless that config names a hand-designed network, genotype.json."""
    config_path = os.path.join(directory, CONFIG_FILE)
    if not filesystem.isfile(config_path):
        return False
    if filesystem.isfile(os.path.join(directory, GENOTYPE_FILE)):
        return True
    try:
        return TrainConfig.load(config_path).hand_designed is not None
    except ValueError:
        return False


def find_run_files(checkpoint: str, max_levels: int = 3) -> str:
    """The training work directory of a checkpoint: the nearest ancestor (up to
    ``max_levels`` up) holding config.json and genotype.json (config.json alone for a
    hand-designed network)."""
    directory = os.path.dirname(paths.user_path(checkpoint))
    for _ in range(max_levels + 1):
        if _is_run_directory(directory):
            return directory
        directory = os.path.dirname(directory)
    raise ValueError(
        f"cannot find the training run of checkpoint {checkpoint!r}: no directory up to "
        f"{max_levels} levels above it holds {CONFIG_FILE} and {GENOTYPE_FILE} (pass the "
        f"work directory instead)")


def export_from_workdir(workdir: str, export_dir: str, *, checkpoint: str | None = None,
                        overwrite: bool = False, count_mult_adds: bool = True) -> str:
    """Exports a training run: its final weights, else its latest checkpoint
    (or ``checkpoint``), with its config, genotype and metrics."""
    workdir = paths.user_path(workdir)
    config_path = os.path.join(workdir, CONFIG_FILE)
    if not filesystem.isfile(config_path):
        raise ValueError(f"{workdir!r} is not a training work directory: it has no {CONFIG_FILE}")
    config = TrainConfig.load(config_path)
    genotype = (None if config.hand_designed is not None
                else Genotype.load(os.path.join(workdir, GENOTYPE_FILE)))
    if checkpoint is None:
        checkpoint = trainer.final_checkpoint(workdir) or trainer.latest_backup(workdir)
        if checkpoint is None:
            raise ValueError(f"work directory {workdir!r} has no checkpoint yet (neither "
                             f"{FINAL_DIR}/ nor {CHECKPOINT_DIR}/): train first")
    metrics = {}
    metrics_path = os.path.join(workdir, METRICS_FILE)
    if filesystem.isfile(metrics_path) and checkpoint == trainer.final_checkpoint(workdir):
        metrics = io_utils.read_json(metrics_path, "metrics file")
    model = restore_classifier(genotype, config, checkpoint)
    return export_classifier(model, genotype, config, export_dir, metrics=metrics,
                             source_run=workdir, checkpoint=paths.user_path(checkpoint),
                             overwrite=overwrite, count_mult_adds=count_mult_adds)


def export_from_checkpoint(checkpoint: str, export_dir: str, **kwargs) -> str:
    """Exports one checkpoint of a training run (its run files are found above it)."""
    return export_from_workdir(find_run_files(checkpoint), export_dir,
                               checkpoint=checkpoint, **kwargs)
