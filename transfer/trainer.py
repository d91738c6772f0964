"""Train a classifier from any genotype, or a hand-designed one, under any ``tf.distribute`` strategy.

``train(config, workdir)`` builds ``nasnet.networks.build_classifier`` (or,
when ``config.hand_designed`` names one, ``transfer.hand_designed``'s
network: ``build_model``) under the strategy's scope and runs Keras
``model.fit`` with:

* loss: softmax cross-entropy with label smoothing on the logits, plus
  ``aux_loss_weight`` x the same on the auxiliary head, plus the layers' L2
  regularisers (weight decay; Keras adds ``model.losses`` and scales them for
  the replicas) (slim ``train_image_classifier.py``: ``label_smoothing``,
  ``weights=0.4`` on ``AuxLogits``);
* optimizer: ``SlimRMSprop`` (Keras RMSprop with slim's slot initialisation)
  on a staircase exponential decay, gradients clipped to a global norm after
  the cross-replica sum (``global_clipnorm``);
* ScheduledDropPath advanced by ``nasnet.cell.DropPathSchedule`` over
  ``model.backbone.total_training_steps``;
* preemption safety: ``transfer.callbacks.PreemptionCheckpoint`` (Keras's
  ``BackupAndRestore``) saves the model, the optimizer and the position in the
  run at every multiple of ``checkpoint_every_steps`` optimizer steps, also
  with ``steps_per_execution > 1``, and logs each save as it happens; a
  restarted run with the same work directory restores the latest checkpoint
  and continues from the step after it. The shuffle seed moves with the
  resumed step, so a resumed run does not replay the same batches.
* ``steps_per_execution`` train steps per call into the device (Keras
  ``compile``); no callback reads the device per batch (``transfer.callbacks``),
  so host and device overlap;
* TensorBoard summaries, top-1 / top-5 accuracy on the evaluation split after
  every ``steps_per_loop`` steps and at the end.

Work directory (only the chief worker writes; other workers write to
temporary directories that they delete)::

    config.json      the TrainConfig (num_classes set from the dataset)
    genotype.json    the resolved genotype (none for a hand-designed network)
    events.jsonl     one JSON object per line: start, train_begin, checkpoint, loop, end
    checkpoints/     BackupAndRestore's checkpoints (kept after the run)
    final/ckpt*      the final weights (tf.train.Checkpoint(model=...)), written atomically
    metrics.json     final evaluation and run facts
    tensorboard/     summaries

Example:
    >>> from transfer import config, trainer
    >>> result = trainer.train(config.preset("digits_tiny"), "/tmp/run")
    >>> result.metrics["top1"], result.final_step
    (0.9..., 300)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from typing import Any, Iterable

import tensorflow as tf
import tf_keras

from nasnet import distribute, filesystem, genotype_source, io_utils, networks, paths
from nasnet.artifacts import (CHECKPOINT_DIR, CHIEF_CHECKPOINT_DIR, CONFIG_FILE, EVENTS_FILE,
                              FINAL_CHECKPOINT_PREFIX, FINAL_DIR, GENOTYPE_FILE, METRICS_FILE,
                              TENSORBOARD_DIR)
from nasnet.cell import DropPathSchedule
from nasnet.genotype import Genotype
from transfer import data, hand_designed
from transfer.callbacks import (EventLog, KillAtStep, PreemptionCheckpoint,  # noqa: F401
                                ProgressLog, StepSummaries, clean_logs)
from transfer.config import TrainConfig, apply_overrides

log = logging.getLogger(__name__)

#: Config fields that define the run's model and schedule; a work directory
#: refuses to resume with different values.
FIXED_ON_RESUME = ("model", "steps_per_loop", "hand_designed")


@tf_keras.saving.register_keras_serializable(package="transfer")
class SlimRMSprop(tf_keras.optimizers.RMSprop):
    """Keras RMSprop with the mean-square slot initialised to 1, as in TF1's
    ``tf.train.RMSPropOptimizer`` that slim trained with (Keras starts it at 0).

    The update is otherwise the same: ``ms = rho ms + (1 - rho) g^2``,
    ``mom = momentum mom + lr g / sqrt(ms + epsilon)``, ``w -= mom``.
    """

    def add_variable_from_reference(self, model_variable, variable_name, shape=None,
                                    initial_value=None):
        if variable_name == "velocity" and initial_value is None:
            dtype = getattr(model_variable, "true_dtype", model_variable.dtype)
            initial_value = tf.ones(model_variable.shape if shape is None else shape, dtype=dtype)
        return super().add_variable_from_reference(model_variable, variable_name, shape,
                                                   initial_value)


@dataclasses.dataclass
class TrainResult:
    """What ``train`` returns. ``model`` holds the final weights."""

    workdir: str
    config: TrainConfig
    genotype: Genotype | None      # None for a hand-designed network
    model: tf_keras.Model
    metrics: dict[str, Any]
    initial_step: int
    final_step: int
    strategy: tf.distribute.Strategy


# -- helpers --------------------------------------------------------------------

def build_model(config: TrainConfig, genotype: Genotype | None) -> tf_keras.Model:
    """The run's classifier: ``config.hand_designed``'s network, else the genotype's."""
    if config.hand_designed is not None:
        return hand_designed.build_classifier(config.hand_designed, config.model)
    if genotype is None:
        raise ValueError("a genotype is needed: the config names no hand-designed network")
    return networks.build_classifier(genotype, config.model)


def architecture_name(config: TrainConfig, genotype: Genotype | None) -> str:
    """``resnet50``, ``nasnet_a``, or ``custom`` for an unnamed genotype."""
    if config.hand_designed is not None:
        return config.hand_designed
    return (genotype.name if genotype is not None else None) or "custom"


def latest_backup(workdir: str) -> str | None:
    """The newest BackupAndRestore checkpoint prefix of a work directory, or None."""
    return tf.train.latest_checkpoint(os.path.join(workdir, CHIEF_CHECKPOINT_DIR))


def final_checkpoint(workdir: str) -> str | None:
    """The final-weights checkpoint prefix of a finished run, or None."""
    prefix = os.path.join(workdir, FINAL_DIR, FINAL_CHECKPOINT_PREFIX)
    return prefix if filesystem.exists(prefix + ".index") else None


def checkpoint_step(prefix: str) -> int:
    """The optimizer step stored in a training checkpoint (0 when it has none)."""
    reader = tf.train.load_checkpoint(prefix)
    keys = [k for k in reader.get_variable_to_shape_map()
            if k.startswith("model/optimizer/") and k.endswith(
                ("/_iterations/.ATTRIBUTES/VARIABLE_VALUE", "/iter/.ATTRIBUTES/VARIABLE_VALUE"))]
    # The outermost optimizer's counter (a LossScaleOptimizer wraps the inner one).
    return int(reader.get_tensor(min(keys, key=len))) if keys else 0


def learning_rate_schedule(config: TrainConfig, global_batch: int, train_examples: int):
    """``ExponentialDecay(lr(global_batch), decay_steps, decay_rate, staircase=True)``
    (slim ``_configure_learning_rate``, ``learning_rate_decay_type='exponential'``)."""
    opt = config.optimizer
    return tf_keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=opt.learning_rate(global_batch),
        decay_steps=opt.decay_steps(train_examples, global_batch),
        decay_rate=opt.decay_rate, staircase=True)


def make_optimizer(config: TrainConfig, global_batch: int, train_examples: int):
    """SlimRMSprop on ``learning_rate_schedule``, clipped to a global norm."""
    opt = config.optimizer
    schedule = learning_rate_schedule(config, global_batch, train_examples)
    return SlimRMSprop(learning_rate=schedule, rho=opt.rmsprop_decay, momentum=opt.momentum,
                       epsilon=opt.epsilon, global_clipnorm=opt.clip_global_norm)


def compile_classifier(model: tf_keras.Model, config: TrainConfig, optimizer) -> None:
    """Losses (label smoothing, aux weight), metrics (top-1, top-5), XLA by flag."""
    def xent():
        return tf_keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing)

    losses, weights = {"logits": xent()}, {"logits": 1.0}
    if config.model.use_aux_head:
        losses["aux_logits"] = xent()
        weights["aux_logits"] = config.aux_loss_weight
    k = min(5, config.model.num_classes)
    model.compile(optimizer=optimizer, loss=losses, loss_weights=weights,
                  metrics={"logits": [tf_keras.metrics.CategoricalAccuracy(name="top1"),
                                      tf_keras.metrics.TopKCategoricalAccuracy(k=k, name="top5")]},
                  jit_compile=config.xla, steps_per_execution=config.steps_per_execution)


def _check_workdir(workdir: str, config: TrainConfig, genotype: Genotype | None) -> bool:
    """True when the work directory holds an earlier run of the same model."""
    config_path = os.path.join(workdir, CONFIG_FILE)
    if not filesystem.exists(config_path):
        if latest_backup(workdir):
            raise ValueError(f"work directory {workdir!r} has checkpoints but no {CONFIG_FILE}; "
                             f"it was not made by this trainer (use a new directory)")
        return False
    old = TrainConfig.load(config_path)
    diffs = [f"{name}: {getattr(old, name)!r} -> {getattr(config, name)!r}"
             for name in FIXED_ON_RESUME if getattr(old, name) != getattr(config, name)]
    genotype_path = os.path.join(workdir, GENOTYPE_FILE)
    old_fingerprint = (Genotype.load(genotype_path).fingerprint()
                       if filesystem.exists(genotype_path) else None)
    new_fingerprint = genotype.fingerprint() if genotype is not None else None
    if old_fingerprint != new_fingerprint:
        diffs.append(f"genotype: {old_fingerprint} -> {new_fingerprint}")
    if diffs:
        raise ValueError(
            f"work directory {workdir!r} holds a run with a different model, so it cannot "
            f"continue it; use a new work directory. Differences: " + "; ".join(diffs))
    return True


def check_xla(config: TrainConfig, strategy: tf.distribute.Strategy) -> None:
    """``distribute.check_xla_devices`` when ``config.xla`` is on."""
    if config.xla:
        distribute.check_xla_devices(strategy, "xla=true")


def _write_final_weights(model: tf_keras.Model, workdir: str, chief: bool, worker: str) -> None:
    """All workers save (reading synced variables needs every worker); the chief's
    copy lands atomically in ``final/`` (``io_utils.atomic_directory``), the other
    workers' copies go to temporary directories that are deleted."""
    ckpt = tf.train.Checkpoint(model=model)
    if chief:
        with io_utils.atomic_directory(os.path.join(workdir, FINAL_DIR), overwrite=True) as tmp:
            ckpt.write(os.path.join(tmp, FINAL_CHECKPOINT_PREFIX))
        return
    tmp = os.path.join(workdir, f".final.tmp-{worker}-{os.getpid()}")
    try:
        ckpt.write(os.path.join(tmp, FINAL_CHECKPOINT_PREFIX))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_callbacks(config: TrainConfig, workdir: str, events: EventLog,
                    global_batch: int, chief: bool = True) -> list[tf_keras.callbacks.Callback]:
    """The run's callbacks, in order: preemption checkpoints (first, so the others
    see the restored state), ScheduledDropPath, TensorBoard (per loop, and the
    batch logs every ``log_every_steps``), the event log.

    None of them reads the device in its batch hooks except at a checkpoint or
    a summary step (``transfer.callbacks``); the drop-path progress is written
    once per ``steps_per_execution``.
    """
    tensorboard_dir = os.path.join(workdir, TENSORBOARD_DIR)
    return [
        PreemptionCheckpoint(os.path.join(workdir, CHECKPOINT_DIR),
                             every_steps=config.checkpoint_every_steps, events=events),
        DropPathSchedule(config.model.backbone.total_training_steps,
                         update_every=config.steps_per_execution),
        tf_keras.callbacks.TensorBoard(tensorboard_dir, update_freq="epoch", write_graph=False,
                                       profile_batch=0),
        StepSummaries(os.path.join(tensorboard_dir, "train") if chief else None,
                      every_steps=config.log_every_steps),
        ProgressLog(events, global_batch),
    ]


# -- the run ----------------------------------------------------------------------

def train(config: TrainConfig, workdir: str, *, genotype: Genotype | None = None,
          strategy: tf.distribute.Strategy | None = None,
          callbacks: Iterable[tf_keras.callbacks.Callback] = (),
          zoo_dir: str | None = None, verbose: int = 0) -> TrainResult:
    """Trains (or continues) the run in ``workdir``; see the module docstring.

    Args:
        config: the run's config; ``model.num_classes`` is set from the dataset.
        workdir: the run's directory; an earlier run of the same model there is
            continued from its latest checkpoint.
        genotype: the architecture; None resolves ``config.genotype``
            (``nasnet.genotype_source``). Must be None when ``config.hand_designed``
            names the network.
        strategy: None makes ``config.strategy`` (create it first thing in a
            process for ``multi_worker_mirrored``).
        callbacks: extra Keras callbacks, run after the built-in ones.
        zoo_dir: the model zoo for ``zoo:NAME`` genotypes.
        verbose: Keras ``fit`` verbosity.
    """
    if strategy is None:
        strategy = distribute.make_strategy(config.strategy, config.tpu_address)
    check_xla(config, strategy)
    if config.hand_designed is not None:
        if genotype is not None:
            raise ValueError(f"a genotype ({genotype.name or genotype.fingerprint()}) was "
                             f"given together with the hand-designed network "
                             f"{config.hand_designed!r}: give one of them")
    elif genotype is None:
        genotype = genotype_source.resolve(config.genotype, zoo_dir=zoo_dir)
    image_size = config.model.image_size
    info = data.dataset_info(config.data, image_size)
    config = apply_overrides(config, {"model.num_classes": int(info.num_classes)})
    # Everything that can fail without training fails here, before the first write.
    if genotype is not None:
        config.model.backbone.filters_for(genotype)  # the size fits the cells' concat widths
    workdir = paths.user_path(workdir)  # absolute; a gs:// URL stays as it is
    chief = distribute.is_chief(strategy)
    worker = distribute.worker_id(strategy)
    resuming = _check_workdir(workdir, config, genotype)
    if chief:
        io_utils.remove_stale_temporaries(workdir)  # what a killed earlier run left
        filesystem.makedirs(workdir)
        # genotype.json first: a config.json on disk implies its genotype.json.
        if genotype is not None:
            genotype.save(os.path.join(workdir, GENOTYPE_FILE))
        io_utils.atomic_write_text(os.path.join(workdir, CONFIG_FILE), config.to_json() + "\n")
    events = EventLog(os.path.join(workdir, EVENTS_FILE) if chief else None)

    global_batch = distribute.global_batch_size(config.per_replica_batch_size, strategy)
    train_split = config.data.train_split.split("[")[0].strip()
    train_examples = info.split_sizes.get(train_split) or 0
    if config.data.train_split != train_split or not train_examples:
        # A sliced split: count it.
        train_examples = _count_examples(config, image_size)
    backup = latest_backup(workdir)
    resume_step = checkpoint_step(backup) if backup else 0
    policy = distribute.precision_policy(config.mixed_precision, strategy)
    events.write("start", workdir=workdir, resumed_from_step=resume_step,
                 checkpoint=backup, resuming=resuming, global_batch=global_batch,
                 policy=policy, xla=config.xla,
                 genotype=genotype.fingerprint() if genotype is not None else None,
                 architecture=architecture_name(config, genotype),
                 dataset=config.data.dataset, train_examples=train_examples,
                 learning_rate=config.optimizer.learning_rate(global_batch),
                 **distribute.describe(strategy))

    tf_keras.utils.set_random_seed(config.seed)
    eval_batch = config.eval_batch_size or global_batch
    with distribute.dtype_policy(policy):
        with strategy.scope():
            model = build_model(config, genotype)
            optimizer = make_optimizer(config, global_batch, train_examples)
            compile_classifier(model, config, optimizer)
        with_aux = config.model.use_aux_head
        train_ds = data.make_dataset(config.data, config.data.train_split, training=True,
                                     image_size=image_size, batch_size=global_batch,
                                     num_classes=config.model.num_classes, with_aux=with_aux,
                                     seed=config.seed + resume_step,
                                     deterministic=distribute.num_input_workers(strategy) > 1)
        eval_ds = data.make_dataset(config.data, config.data.eval_split, training=False,
                                    image_size=image_size, batch_size=eval_batch,
                                    num_classes=config.model.num_classes, with_aux=with_aux)
        all_callbacks = [*build_callbacks(config, workdir, events, global_batch, chief),
                         *callbacks]
        started = time.perf_counter()
        model.fit(train_ds, epochs=config.train_steps // config.steps_per_loop,
                  steps_per_epoch=config.steps_per_loop, validation_data=eval_ds,
                  validation_steps=config.eval_steps, callbacks=all_callbacks,
                  verbose=verbose)
        train_seconds = time.perf_counter() - started
        final_step = int(model.optimizer.iterations.numpy())
        results = model.evaluate(eval_ds, steps=config.eval_steps, return_dict=True, verbose=0)
    _write_final_weights(model, workdir, chief, worker)
    metrics = {**clean_logs(results),
               "eval_split": config.data.eval_split, "dataset": config.data.dataset,
               "num_classes": config.model.num_classes, "final_step": final_step,
               "initial_step": resume_step, "global_batch": global_batch,
               "replicas": int(strategy.num_replicas_in_sync), "policy": policy,
               "xla": config.xla, "train_seconds_this_run": train_seconds,
               "architecture": architecture_name(config, genotype),
               "genotype_fingerprint": genotype.fingerprint() if genotype is not None else None}
    if chief:
        io_utils.atomic_write_json(os.path.join(workdir, METRICS_FILE), metrics)
    events.write("end", **{k: v for k, v in metrics.items() if k != "genotype_fingerprint"})
    return TrainResult(workdir=workdir, config=config, genotype=genotype, model=model,
                       metrics=metrics, initial_step=resume_step, final_step=final_step,
                       strategy=strategy)


def _count_examples(config: TrainConfig, image_size: int) -> int:
    """Examples in the (possibly sliced) training split."""
    ds = data._source(config.data, config.data.train_split, image_size, shuffle_files=False,
                      encoded=True)
    count = int(ds.cardinality().numpy())
    if count < 0:  # unknown: count by reading it once
        count = sum(1 for _ in ds)
    if count < 1:
        raise ValueError(f"training split {config.data.train_split!r} of "
                         f"{config.data.dataset!r} is empty")
    return count
