"""Child training: ``ChildEvaluator`` trains a child network from a genotype and returns a Result.

``ChildEvaluator(ChildConfig).evaluate(genotype, report=None)`` (the evaluator
protocol of ``evaluator.py``) builds the CIFAR-style network of ``nasnet/``
(``networks.build_classifier`` with ``ChildConfig.classifier_config``) at
search size, trains it on the training part of the training split and scores
it on the held-out validation part (``data.py``; never the test split); the
reward is the validation accuracy ``child_config.reward_from_history`` picks.

Training: SGD with momentum and a single-period cosine decay of the learning
rate to 0 over all steps, gradient clipping by global norm, weight decay
through the layers' L2 regularisers, the auxiliary head's loss weighted by
``aux_loss_weight``, ScheduledDropPath advanced by
``nasnet.cell.DropPathSchedule`` when drop path is on, optional mixed
precision (``tf_keras.mixed_precision``) and XLA (``jit_compile``). Seeded
with ``tf_keras.utils.set_random_seed(seed)`` before the network is built, so
a child is reproducible given its config. The per-epoch work (NaN guard,
timings, metrics, the ``report`` hook) is ``child_monitor.ChildMonitor``'s.

Failures are results, not exceptions: a non-finite training loss stops the
child at once with ``error="NaN loss at epoch k (step s)"``, a non-finite
validation loss with ``"NaN validation loss at epoch k"``, and any exception
(``tf.errors.ResourceExhaustedError``, i.e. out of memory, included and
labelled) with its type and text; ``metrics`` then holds the epochs completed
before the failure and the traceback. Only the data pipeline is built
eagerly, in the constructor, so a missing dataset fails the whole search at
once (``nasnet.datasets.DatasetNotPreparedError``) instead of failing every
trial. The decoded images are kept by the evaluator and each child gets a
fresh, identically seeded pipeline over them, so a child's result does not
depend on the children evaluated before it.

Early stopping: ``report(epoch, metrics)`` is called after every epoch
(``epoch`` counts from 1; ``metrics`` as in ``child_monitor.EPOCH_METRICS``);
a return value of False stops the child, which still returns a reward from
the epochs it completed, with ``metrics["stopped_early"] = True``. An
exception raised by ``report`` fails the child like any other.

Example:
    >>> evaluator = ChildEvaluator(child_config.preset("tiny"))
    >>> result = evaluator.evaluate(known_genotypes.NASNET_A,
    ...                             report=lambda epoch, m: m["val_accuracy"] > 0.2)
    >>> result.ok, result.reward, result.metrics["epochs_completed"]
    (True, 0.9..., 3)
"""

from __future__ import annotations

import gc
import os
import time
import traceback
from typing import Any, Callable, Sequence

import tensorflow as tf
import tf_keras

from nasnet import networks
from nasnet.cell import DropPathSchedule
from nasnet.genotype import Genotype
from search_cifar import data as data_lib
from search_cifar.child_config import ChildConfig, reward_from_history
from search_cifar.child_monitor import ChildMonitor, NonFiniteLoss, finite
from search_cifar.evaluator import Report, Result


def _learning_rate(config: ChildConfig, total_steps: int):
    if config.lr_schedule == "cosine":
        # Single-period cosine decay to 0 (slim CIFAR notes; Loshchilov & Hutter 2017).
        return tf_keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=max(1, total_steps), alpha=0.0)
    return config.learning_rate


def _evaluate_schedule(schedule) -> Callable[[int], float]:
    if callable(schedule):
        return lambda step: float(schedule(step))
    return lambda step: float(schedule)


def build_training_state(model: tf_keras.Model) -> None:
    """Creates a compiled model's optimizer slots and loss / metric trackers now, eagerly.

    Keras creates them inside the first training step, and ``tf.function``
    traces a function that creates variables twice (once creating them, once
    more without). Built beforehand, each child's training step is traced once:
    on the quickstart child this cuts the first step from 8.6-11.5 s to 5.6 s
    (about 2.5 CPU-seconds of a 1-epoch child's 15), with identical results.

    ``model``: compiled, with a dict of outputs ``{name: [B, ...]}`` and one
    integer label per example for each output (as ``ChildEvaluator`` compiles it).
    """
    model.optimizer.build(model.trainable_variables)
    y_pred = {name: tf.zeros([1, *out.shape[1:]], out.dtype) for name, out in model.output.items()}
    y_true = {name: tf.zeros([1], tf.int64) for name in model.output}
    model.compiled_loss.build(y_pred)
    model.compiled_metrics.build(y_pred, y_true)


class ChildEvaluator:
    """Trains child networks of ``config`` on its dataset; see the module docstring.

    ``callbacks``: extra Keras callbacks added to every child's ``fit`` (after
    the evaluator's own), e.g. profiling; an exception raised by one fails the
    child like any other.
    """

    def __init__(self, config: ChildConfig, callbacks: Sequence[tf_keras.callbacks.Callback] = ()):
        if not isinstance(config, ChildConfig):
            raise ValueError(f"config must be a ChildConfig, got {type(config).__name__}")
        self.config = config
        self.callbacks = list(callbacks)
        self.sources = data_lib.load_sources(config.data)
        train_ds, self.val_ds, self.data_info = data_lib.make_datasets(config.data, self.sources)
        # Training steps per epoch: the config's, else one pass (counted once
        # when the size is unknown, as under tfds mock data).
        steps = config.steps_per_epoch
        if steps is None:
            steps = data_lib.steps_per_epoch(train_ds, self.data_info)
        self.steps_per_epoch: int = steps

    def build(self, genotype: Genotype, total_training_steps: int = 1) -> tf_keras.Model:
        """The child network, uncompiled: ``images [B, S, S, 3] -> {"logits", "aux_logits"}``."""
        cfg = self.config.classifier_config(self.data_info.num_classes, total_training_steps)
        return networks.build_classifier(genotype, cfg)

    def evaluate(self, genotype: Genotype, report: Report | None = None, *,
                 epochs: int | None = None, logdir: str | None = None) -> Result:
        """Trains ``genotype``'s child and returns its Result (never raises for the child).

        Args:
            genotype: the architecture.
            report: ``report(epoch, metrics) -> bool | None`` after each epoch;
                False stops the child early.
            epochs: a budget override (None: ``config.epochs``); the cosine
                schedule spans this many epochs.
            logdir: TensorBoard directory of this child (None:
                ``<config.tensorboard_dir>/<fingerprint[:16]>`` when that is set).
        """
        config = self.config
        metrics: dict[str, Any] = {"fingerprint": None, "history": [], "epochs_completed": 0,
                                   "stopped_early": False}
        monitor = None
        model = None
        previous_policy = tf_keras.mixed_precision.global_policy()
        if not isinstance(genotype, Genotype):
            raise TypeError(f"genotype must be a Genotype, got {type(genotype).__name__}")
        epochs = config.epochs if epochs is None else epochs
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be an int > 0, got {epochs!r}")
        metrics["fingerprint"] = genotype.fingerprint()
        try:
            steps = self.steps_per_epoch
            if steps < 1:
                raise ValueError(f"the training set of {config.data.dataset!r} has no "
                                 f"full batch of {config.data.batch_size}")
            total_steps = epochs * steps
            if config.clear_session:
                tf_keras.backend.clear_session()
            tf_keras.utils.set_random_seed(config.seed)
            if config.mixed_precision:
                tf_keras.mixed_precision.set_global_policy(config.mixed_precision)
            start = time.perf_counter()
            model = self.build(genotype, total_steps)
            metrics["num_params"] = int(model.count_params())
            schedule = _learning_rate(config, total_steps)
            optimizer = tf_keras.optimizers.SGD(
                learning_rate=schedule, momentum=config.momentum, nesterov=config.nesterov,
                global_clipnorm=config.clip_norm)
            xent = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            losses = {"logits": xent}
            weights = {"logits": 1.0}
            if config.network.use_aux_head:
                losses["aux_logits"] = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                weights["aux_logits"] = config.aux_loss_weight
            model.compile(optimizer=optimizer, loss=losses, loss_weights=weights,
                          metrics={"logits": [tf_keras.metrics.SparseCategoricalAccuracy(
                              name="accuracy")]},
                          jit_compile=config.jit_compile)
            build_training_state(model)
            metrics["build_seconds"] = time.perf_counter() - start

            outputs = tuple(losses)
            to_targets = lambda x, y: (x, {name: y for name in outputs})  # noqa: E731
            # A fresh pipeline after seeding: the same batches for every child,
            # whatever was evaluated before in this process.
            train, _, _ = data_lib.make_datasets(config.data, self.sources)
            if config.steps_per_epoch is not None:
                train = train.repeat()
            train = train.map(to_targets)
            val = self.val_ds.map(to_targets)

            monitor = ChildMonitor(report, config.data.batch_size, _evaluate_schedule(schedule))
            callbacks: list[tf_keras.callbacks.Callback] = [monitor]
            if config.network.backbone.drop_path_keep_prob < 1.0:
                callbacks.append(DropPathSchedule(total_steps))
            if logdir is None and config.tensorboard_dir:
                logdir = os.path.join(config.tensorboard_dir, metrics["fingerprint"][:16])
            if logdir:
                callbacks.append(tf_keras.callbacks.TensorBoard(logdir, profile_batch=0))
            callbacks.extend(self.callbacks)

            start = time.perf_counter()
            model.fit(train, epochs=epochs, steps_per_epoch=steps, validation_data=val,
                      validation_steps=config.validation_steps, callbacks=callbacks,
                      verbose=1 if config.verbose else 0)
            metrics["train_seconds"] = time.perf_counter() - start
            self._collect(metrics, monitor)
            metrics["reward_accuracy"], reward = reward_from_history(
                monitor.history, config.reward, config.reward_transform)
            return Result(reward=reward, metrics=metrics)
        except Exception as e:  # noqa: BLE001 -- a failed child is a result, not a crash
            if monitor is not None:
                self._collect(metrics, monitor)
            if isinstance(e, NonFiniteLoss):
                error = str(e)
            elif isinstance(e, tf.errors.ResourceExhaustedError):
                error = f"out of memory (ResourceExhaustedError): {e.message}"
            else:
                error = f"{type(e).__name__}: {e}"
            if not isinstance(e, NonFiniteLoss):
                metrics["traceback"] = traceback.format_exc()
            return Result.failure(error, metrics)
        finally:
            tf_keras.mixed_precision.set_global_policy(previous_policy)
            del model
            gc.collect()

    @staticmethod
    def _collect(metrics: dict[str, Any], monitor: ChildMonitor) -> None:
        history = monitor.history
        metrics["history"] = [dict(m) for m in history]
        metrics["epochs_completed"] = len(history)
        metrics["stopped_early"] = monitor.stopped_early
        metrics["first_step_seconds"] = monitor.first_step_seconds
        if history:
            metrics["final_val_accuracy"] = history[-1]["val_accuracy"]
            metrics["best_val_accuracy"] = max(m["val_accuracy"] for m in history)
            rates = [m["images_per_second"] for m in history if finite(m["images_per_second"])]
            metrics["images_per_second"] = sum(rates) / len(rates) if rates else None
