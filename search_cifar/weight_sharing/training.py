"""The supernet's optimizer and its two traced steps, under any ``tf.distribute`` strategy.

``SupernetTrainer(model, training_config, steps_per_epoch, strategy)``:

* ``train_step(iterator, architecture) -> (loss, correct, count)``: one SGD
  step on the next batch of a distributed iterator with the architecture
  ``[2, num_blocks, 5]`` int32 (the same on every replica: it is a plain
  tensor, broadcast). Loss = cross-entropy + ``aux_loss_weight`` x aux
  cross-entropy, averaged over the global batch
  (``tf.nn.compute_average_loss``), + the layers' L2 terms
  (``tf.nn.scale_regularization_loss``). Every trainable variable decays, the
  unchosen candidates included (ENAS ``get_train_ops`` adds the L2 of all
  variables); the data loss gives the unchosen candidates zero gradients.
* ``eval_step(iterator, architecture) -> (correct, count)``: accuracy counts
  on the next batch (no drop path, no dropout; batch statistics).

Both are ``tf.function`` s traced once for every architecture: the
architecture is an argument tensor, never a Python value
(``train_step.experimental_get_tracing_count()`` stays 1).

Optimizer: SGD with (Nesterov) momentum, global-norm clipping, and
``tf_keras``' ``CosineDecayRestarts`` from ``learning_rate_max`` to
``learning_rate_min`` with the first period ``restart_period_epochs`` epochs
long and each next one ``restart_multiplier`` times longer (Loshchilov &
Hutter 2017, SGDR; ENAS ``utils.get_train_ops``). Both rates are multiplied by
the number of replicas (the global batch grows with them; ``transfer``'s
linear scaling rule). The optimizer's slots are created at construction, so
that the first traced step creates no variable (which would trace it twice).

ScheduledDropPath's progress is ``(step + 1) / (epochs x steps_per_epoch)``
(ENAS ``_apply_drop_path``), set inside the train step.

Precision and XLA (``config.mixed_precision``, ``config.jit_compile``; the
model must be built with the same policy): under ``mixed_float16`` the SGD
optimizer is wrapped in ``tf_keras``' ``LossScaleOptimizer`` (dynamic loss
scaling: the loss is scaled up before the gradients, which are scaled back
before clipping; a step whose gradients overflow is skipped and the scale
lowered), as Keras ``fit`` does for the children and ``transfer``;
``mixed_bfloat16`` needs no scaling. ``jit_compile`` compiles each
replica's forward and backward pass with XLA (``tf.function(jit_compile=True)``
inside ``strategy.run``); the gradients are applied outside it, in the
replica context, where the optimizer's all-reduce across replicas is
allowed (a cross-replica ``merge_call`` inside XLA is not). Refused for
several replicas on logical CPU devices (``nasnet.distribute.check_xla_devices``).

Example:
    >>> trainer = SupernetTrainer(model, config.training, steps_per_epoch=281,
    ...                           strategy=tf.distribute.get_strategy())
    >>> it = iter(strategy.experimental_distribute_dataset(train_ds))
    >>> loss, correct, count = trainer.train_step(it, tf.constant(arch))
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras

from nasnet import distribute
from search_cifar.weight_sharing.config import SharedTrainingConfig
from search_cifar.weight_sharing.supernet import Supernet


class SupernetTrainer:
    """Optimizer and traced steps of one supernet (see the module docstring).

    Build it under ``strategy.scope()`` together with the model.
    """

    def __init__(self, model: Supernet, config: SharedTrainingConfig, steps_per_epoch: int,
                 strategy: tf.distribute.Strategy):
        if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) \
                or steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be an int >= 1, got {steps_per_epoch!r}")
        self.model = model
        self.config = config
        self.strategy = strategy
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = config.epochs * steps_per_epoch
        replicas = strategy.num_replicas_in_sync
        self.schedule = tf_keras.optimizers.schedules.CosineDecayRestarts(
            initial_learning_rate=config.learning_rate_max * replicas,
            first_decay_steps=config.restart_period_epochs * steps_per_epoch,
            t_mul=config.restart_multiplier, m_mul=1.0,
            alpha=config.learning_rate_min / config.learning_rate_max)
        if config.jit_compile:
            distribute.check_xla_devices(strategy, "training.jit_compile=true")
        optimizer = tf_keras.optimizers.SGD(
            learning_rate=self.schedule, momentum=config.momentum, nesterov=config.nesterov,
            global_clipnorm=config.clip_norm)
        self.loss_scaling = config.mixed_precision == "mixed_float16"
        if self.loss_scaling:
            optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
        self.optimizer = optimizer
        self.optimizer.build(model.trainable_variables)
        # autograph off: the steps have no tensor-dependent Python control flow (the
        # supernet branches with tf.switch_case / tf.cond), and converting every
        # candidate layer's call costs about 3-4 CPU-s of their traces.
        self.train_step = tf.function(self._train_step, autograph=False)
        self.eval_step = tf.function(self._eval_step, autograph=False)
        self._replica_gradients = self._gradients
        self._replica_eval = self._replica_eval_step
        if config.jit_compile:
            self._replica_gradients = tf.function(self._gradients, jit_compile=True,
                                                  autograph=False)
            self._replica_eval = tf.function(self._replica_eval_step, jit_compile=True,
                                             autograph=False)

    @property
    def step(self) -> int:
        """Optimizer steps taken (checkpointed with the optimizer)."""
        return int(self.optimizer.iterations.numpy())

    def learning_rate(self) -> float:
        """The rate of the last step taken (of the first step before any)."""
        return float(self.schedule(tf.maximum(self.optimizer.iterations - 1, 0)))

    # -- traced ------------------------------------------------------------------
    def _train_step(self, iterator, architecture):
        model = self.model
        progress = tf.cast(self.optimizer.iterations + 1, tf.float32) / float(self.total_steps)
        model.progress.assign(tf.minimum(progress, 1.0))
        images, labels = next(iterator)
        loss, correct, count = self.strategy.run(self._replica_train_step,
                                                 args=(images, labels, architecture))
        return (self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                self.strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None),
                self.strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None))

    def _replica_train_step(self, images, labels, architecture):
        grads, data_loss, correct, count = self._replica_gradients(images, labels, architecture)
        if self.loss_scaling:
            grads = self.optimizer.get_unscaled_gradients(grads)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        return data_loss, correct, count

    def _gradients(self, images, labels, architecture):
        """One replica's (gradients, data loss, correct, count); the gradients are of the
        scaled loss under loss scaling."""
        model = self.model
        global_batch = tf.shape(images)[0] * self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            outputs = model(images, architecture, training=True)
            xent = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(labels, tf.int32), logits=outputs["logits"])
            data_loss = tf.nn.compute_average_loss(xent, global_batch_size=global_batch)
            loss = data_loss
            if "aux_logits" in outputs:
                aux = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=tf.cast(labels, tf.int32), logits=outputs["aux_logits"])
                loss += model.config.aux_loss_weight * tf.nn.compute_average_loss(
                    aux, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(
                    tf.add_n([tf.cast(term, tf.float32) for term in model.losses]))
            if self.loss_scaling:
                loss = self.optimizer.get_scaled_loss(loss)
        grads = tape.gradient(loss, model.trainable_variables)
        return grads, data_loss, _correct(outputs["logits"], labels), tf.shape(labels)[0]

    def _eval_step(self, iterator, architecture):
        images, labels = next(iterator)
        correct, count = self.strategy.run(self._replica_eval,
                                           args=(images, labels, architecture))
        return (self.strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None),
                self.strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None))

    def _replica_eval_step(self, images, labels, architecture):
        logits = self.model(images, architecture, training=False)["logits"]
        return _correct(logits, labels), tf.shape(labels)[0]


def _correct(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_sum(tf.cast(tf.equal(predictions, tf.cast(labels, tf.int32)), tf.int32))
