"""Evaluators: train a child network from a genotype (or look it up) and return a Result.

An evaluator turns a ``Genotype`` into a ``Result(reward, metrics, error)``:

* ``ChildEvaluator(ChildConfig)``: builds the CIFAR network of ``nasnet/``
  (``networks.build_classifier`` with the cifar stem) from the genotype at
  search size, trains it on the training part of the training split and scores
  it on the held-out validation part (``search_cifar/data.py``; never the test
  split). Reward = validation accuracy of the final epoch (``reward="final"``,
  the default: with a cosine schedule that decays to 0 the last epoch is the
  trained network, and it is what an early-stopping scheduler compares) or of
  the best epoch (``reward="best"``), optionally cubed (``reward_transform=
  "cube"``, Zoph & Le 2017's reward [REFERENCE.md, 2nd]).
* ``TableEvaluator(table)``: a lookup in a dict keyed by genotype fingerprint,
  or any callable, with the same ``evaluate`` signature and Result shape
  (NAS-Bench-101 style drop-in for tests and benchmarks).

Training (``ChildEvaluator``): SGD with momentum and a single-period cosine
decay of the learning rate to 0 over all steps, gradient clipping by global
norm, weight decay through the layers' L2 regularisers, the auxiliary head's
loss weighted by ``aux_loss_weight``, ScheduledDropPath advanced by
``nasnet.cell.DropPathSchedule`` when ``drop_path_keep_prob < 1``, optional
mixed precision (``tf_keras.mixed_precision``) and XLA (``jit_compile``).
Seeded with ``tf_keras.utils.set_random_seed(seed)`` before the network is
built, so a child is reproducible given its config.

Failures are results, not exceptions: a non-finite training loss stops the
child at once with ``error="NaN loss at epoch k (step s)"`` (a TerminateOnNaN
that reports), a non-finite validation loss with ``"NaN validation loss at
epoch k"``, and any exception (``tf.errors.ResourceExhaustedError``, i.e. out
of memory, included and labelled) with its type and text; ``metrics`` then
holds the epochs completed before the failure and the traceback. Only the
data pipeline is built eagerly, in the constructor, so a missing dataset
fails the whole search at once (``nasnet.datasets.DatasetNotPreparedError``)
instead of failing every trial. The decoded images are kept by the evaluator
and each child gets a fresh, identically seeded pipeline over them, so a
child's result does not depend on the children evaluated before it.

Early stopping: ``evaluate(genotype, report)`` calls ``report(epoch, metrics)``
after every epoch (``epoch`` counts from 1; ``metrics`` as in
``EPOCH_METRICS``); a return value of False stops the child, which still
returns a reward from the epochs it completed, with ``metrics["stopped_early"]
= True``. This is the hook for ASHA-style schedulers. An exception raised by
``report`` fails the child like any other.

Hyperparameters of the ``nasnet_search`` preset, with their sources:

=====================  ===========  ==================================================
N (cells per stack)    2            Zoph et al. 2018, search (issue 4; Appendix A.1 [unverified])
F (base filters)       32           Zoph et al. 2018, search (issue 4); slim cifar_config
epochs                 20           Zoph et al. 2018, search [REFERENCE.md, 2nd]
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
validation split       45k / 5k     Zoph et al. 2018 search (issue 4)
=====================  ===========  ==================================================

Example:
    >>> evaluator = ChildEvaluator(preset("tiny"))
    >>> result = evaluator.evaluate(known_genotypes.NASNET_A,
    ...                             report=lambda epoch, m: m["val_accuracy"] > 0.2)
    >>> result.ok, result.reward, result.metrics["epochs_completed"]
    (True, 0.9..., 3)
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import time
import traceback
from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf
import tf_keras

from nasnet import networks
from nasnet.cell import DropPathSchedule
from nasnet.genotype import Genotype
from nasnet.layers import LayerConfig
from search_cifar import data as data_lib

REWARDS = ("final", "best")
REWARD_TRANSFORMS = ("identity", "cube")
LR_SCHEDULES = ("cosine", "constant")
MIXED_PRECISION = (None, "mixed_float16", "mixed_bfloat16")
#: Keys of the per-epoch metrics given to ``report`` and kept in ``metrics["history"]``:
#: the epoch (from 1); the training objective (cross-entropy + 0.4 x aux + weight
#: decay) and the main head's training accuracy, both running means over the
#: epoch; the main head's validation cross-entropy and accuracy; the learning
#: rate of the epoch's last step; wall seconds of the epoch and of its
#: validation; steady-state training images/second (None for a one-step epoch).
EPOCH_METRICS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                 "epoch_seconds", "validation_seconds", "images_per_second")

Report = Callable[[int, dict[str, float]], Any]


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of one evaluation.

    ``reward`` is a finite float for a trained child, None for a failed one;
    ``error`` is None for a trained child and the failure's text otherwise.
    ``metrics`` is JSON-serialisable (per-epoch history, timings, sizes).
    """

    reward: float | None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None

    def __post_init__(self):
        if self.error is None:
            if self.reward is None or isinstance(self.reward, bool) or not isinstance(
                    self.reward, (int, float)) or not math.isfinite(self.reward):
                raise ValueError(f"a Result without an error needs a finite reward, "
                                 f"got {self.reward!r}")
            object.__setattr__(self, "reward", float(self.reward))
        else:
            if not isinstance(self.error, str) or not self.error:
                raise ValueError(f"error must be a non-empty string or None, got {self.error!r}")
            if self.reward is not None:
                raise ValueError(f"a failed Result has reward None, got {self.reward!r} "
                                 f"with error {self.error!r}")
        if not isinstance(self.metrics, dict):
            raise ValueError(f"metrics must be a dict, got {type(self.metrics).__name__}")

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failure(cls, error: str, metrics: dict[str, Any] | None = None) -> "Result":
        return cls(reward=None, metrics=dict(metrics or {}), error=error)

    def to_dict(self) -> dict[str, Any]:
        return {"reward": self.reward, "metrics": self.metrics, "error": self.error}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Result":
        unknown = set(data) - {"reward", "metrics", "error"}
        if unknown:
            raise ValueError(f"unknown Result keys {sorted(unknown)}")
        return cls(reward=data.get("reward"), metrics=dict(data.get("metrics") or {}),
                   error=data.get("error"))


def _positive(name: str, value: Any, integer: bool = False, allow_zero: bool = False) -> None:
    kind = int if integer else (int, float)
    ok = not isinstance(value, bool) and isinstance(value, kind)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {'an int' if integer else 'a number'} {bound}, "
                         f"got {value!r}")


@dataclasses.dataclass(frozen=True)
class ChildConfig:
    """How a child network is sized, trained and scored. See the module docstring
    for the sources of the ``nasnet_search`` values (the defaults)."""

    data: data_lib.DataConfig = data_lib.DataConfig()
    # Network (nasnet.networks.BackboneConfig with the cifar stem).
    num_cells_per_stack: int = 2
    num_conv_filters: int = 32
    stem_multiplier: float = 3.0
    drop_path_keep_prob: float = 1.0
    dense_dropout_keep_prob: float = 1.0
    use_aux_head: bool = True
    aux_loss_weight: float = 0.4
    weight_decay: float = 5e-4
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    # Training.
    epochs: int = 20
    steps_per_epoch: int | None = None      # None: one pass over the training set
    validation_steps: int | None = None     # None: the whole validation set
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
        if isinstance(self.data, dict):
            object.__setattr__(self, "data", data_lib.DataConfig(**self.data))
        _positive("num_cells_per_stack", self.num_cells_per_stack, integer=True)
        _positive("num_conv_filters", self.num_conv_filters, integer=True)
        _positive("stem_multiplier", self.stem_multiplier)
        for name in ("drop_path_keep_prob", "dense_dropout_keep_prob"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        _positive("aux_loss_weight", self.aux_loss_weight, allow_zero=True)
        _positive("weight_decay", self.weight_decay, allow_zero=True)
        if not 0.0 <= self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum must be in [0, 1), got {self.bn_momentum}")
        _positive("bn_epsilon", self.bn_epsilon)
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

    def classifier_config(self, num_classes: int, total_training_steps: int = 1) -> networks.ClassifierConfig:
        """The ``nasnet.networks`` config of a child for ``num_classes`` classes."""
        return networks.ClassifierConfig(
            backbone=networks.BackboneConfig(
                stem="cifar", num_cells_per_stack=self.num_cells_per_stack,
                num_conv_filters=self.num_conv_filters, stem_multiplier=self.stem_multiplier,
                drop_path_keep_prob=self.drop_path_keep_prob,
                total_training_steps=max(1, int(total_training_steps)),
                layer=LayerConfig(bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon,
                                  weight_decay=self.weight_decay)),
            num_classes=num_classes, image_size=self.data.image_size,
            dense_dropout_keep_prob=self.dense_dropout_keep_prob,
            use_aux_head=self.use_aux_head)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChildConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown ChildConfig keys {sorted(unknown)}; known: {sorted(names)}")
        return cls(**data)


#: Zoph et al. 2018's search-time child on CIFAR-10 (sources in the module docstring).
#: On 2 CPU cores this is hours per child; it is meant for accelerators.
NASNET_SEARCH = ChildConfig()

#: A cheaper CIFAR-10 child (our choice): N = 1, F = 16, 5 epochs, batch 64 with the
#: learning rate scaled linearly with the batch (Goyal et al. 2017), 0.025 x 2.
SMALL = ChildConfig(
    data=data_lib.DataConfig(dataset="cifar10", batch_size=64),
    num_cells_per_stack=1, num_conv_filters=16, epochs=5, learning_rate=0.05)

#: The quickstart and test child (our choice): digits at 16 px, N = 1, F = 8,
#: 3 epochs of batch 32 at learning rate 0.05; well under a minute on 2 CPU cores.
TINY = ChildConfig(
    data=data_lib.DataConfig(dataset="digits", image_size=16, batch_size=32),
    num_cells_per_stack=1, num_conv_filters=8, epochs=3, learning_rate=0.05)

PRESETS: dict[str, ChildConfig] = {"nasnet_search": NASNET_SEARCH, "small": SMALL, "tiny": TINY}


def preset(name: str) -> ChildConfig:
    """The ``ChildConfig`` preset called ``name``."""
    if name not in PRESETS:
        raise ValueError(f"unknown child preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]


class _NonFiniteLoss(Exception):
    """Raised inside ``fit`` to stop a child whose loss is NaN or Inf."""


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _name_nonfinite(value: Any) -> str:
    try:
        return "Inf" if math.isinf(float(value)) else "NaN"
    except (TypeError, ValueError):
        return "NaN"


def _main_head(logs: Mapping[str, Any], metric: str, validation: bool) -> float:
    """The main head's ``metric`` in Keras logs, whose keys carry the output
    layer's name (``val_logits_fp32_accuracy``); the aux head's are skipped.
    ``val_loss`` here is the main head's cross-entropy, without the aux loss and
    weight decay that Keras's own ``val_loss`` adds."""
    for key, value in logs.items():
        if (key.startswith("val_") == validation and key.endswith("_" + metric)
                and "aux" not in key and key not in ("loss", "val_loss")):
            return float(value)
    # A model without the aux head has one output, and Keras logs its metrics
    # unprefixed (``val_accuracy``; ``val_loss`` then includes weight decay).
    plain = ("val_" if validation else "") + metric
    return float(logs.get(plain, float("nan")))


class _ChildMonitor(tf_keras.callbacks.Callback):
    """NaN guard, timing, per-epoch metrics and the ``report`` hook, in one callback."""

    def __init__(self, report: Report | None, batch_size: int, schedule: Callable[[int], float]):
        super().__init__()
        self.report = report
        self.batch_size = batch_size
        self.schedule = schedule
        self.history: list[dict[str, float]] = []
        self.stopped_early = False
        self.first_step_seconds: float | None = None
        self._epoch = 0
        self._train_begin = 0.0
        self._epoch_begin = 0.0
        self._step_times: list[float] = []
        self._val_seconds = 0.0
        self._val_begin = 0.0

    def on_train_begin(self, logs=None):
        self._train_begin = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_begin = time.perf_counter()
        self._step_times = []
        self._val_seconds = 0.0

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.first_step_seconds is None:
            self.first_step_seconds = now - self._train_begin
        self._step_times.append(now)
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            raise _NonFiniteLoss(f"{_name_nonfinite(loss)} loss at epoch {self._epoch + 1} "
                                 f"(step {batch + 1})")

    def on_test_begin(self, logs=None):
        self._val_begin = time.perf_counter()

    def on_test_end(self, logs=None):
        self._val_seconds += time.perf_counter() - self._val_begin

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        times = self._step_times
        # Steady-state throughput: from the end of the epoch's first step to its
        # last (the first step of a run includes tracing).
        nan = float("nan")
        ips = ((len(times) - 1) * self.batch_size / (times[-1] - times[0])
               if len(times) > 1 and times[-1] > times[0] else None)
        step = int(self.model.optimizer.iterations.numpy())
        metrics = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", nan)),
            "accuracy": _main_head(logs, "accuracy", validation=False),
            "val_loss": _main_head(logs, "loss", validation=True),
            "val_accuracy": _main_head(logs, "accuracy", validation=True),
            "learning_rate": float(self.schedule(max(0, step - 1))),
            "epoch_seconds": time.perf_counter() - self._epoch_begin,
            "validation_seconds": self._val_seconds,
            "images_per_second": ips,
        }
        if not _finite(metrics["val_loss"]):
            raise _NonFiniteLoss(f"{_name_nonfinite(metrics['val_loss'])} validation loss at "
                                 f"epoch {epoch + 1}")
        self.history.append(metrics)
        if self.report is not None and self.report(epoch + 1, dict(metrics)) is False:
            self.stopped_early = True
            self.model.stop_training = True


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
        _positive("epochs", epochs, integer=True)
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
            if config.use_aux_head:
                losses["aux_logits"] = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                weights["aux_logits"] = config.aux_loss_weight
            model.compile(optimizer=optimizer, loss=losses, loss_weights=weights,
                          metrics={"logits": [tf_keras.metrics.SparseCategoricalAccuracy(
                              name="accuracy")]},
                          jit_compile=config.jit_compile)
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

            monitor = _ChildMonitor(report, config.data.batch_size, _evaluate_schedule(schedule))
            callbacks: list[tf_keras.callbacks.Callback] = [monitor]
            if config.drop_path_keep_prob < 1.0:
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
            if isinstance(e, _NonFiniteLoss):
                error = str(e)
            elif isinstance(e, tf.errors.ResourceExhaustedError):
                error = f"out of memory (ResourceExhaustedError): {e.message}"
            else:
                error = f"{type(e).__name__}: {e}"
            if not isinstance(e, _NonFiniteLoss):
                metrics["traceback"] = traceback.format_exc()
            return Result.failure(error, metrics)
        finally:
            tf_keras.mixed_precision.set_global_policy(previous_policy)
            del model
            gc.collect()

    def __call__(self, genotype: Genotype) -> float:
        """The reward, for ``loop.run_search``; a failed child raises with its error."""
        return as_objective(self)(genotype)

    @staticmethod
    def _collect(metrics: dict[str, Any], monitor: _ChildMonitor) -> None:
        history = monitor.history
        metrics["history"] = [dict(m) for m in history]
        metrics["epochs_completed"] = len(history)
        metrics["stopped_early"] = monitor.stopped_early
        metrics["first_step_seconds"] = monitor.first_step_seconds
        if history:
            metrics["final_val_accuracy"] = history[-1]["val_accuracy"]
            metrics["best_val_accuracy"] = max(m["val_accuracy"] for m in history)
            rates = [m["images_per_second"] for m in history if _finite(m["images_per_second"])]
            metrics["images_per_second"] = sum(rates) / len(rates) if rates else None


class ChildFailed(RuntimeError):
    """A failed evaluation, raised by ``as_objective`` objectives."""


def as_objective(evaluator) -> Callable[[Genotype], float]:
    """``genotype -> reward`` for ``search_cifar.loop.run_search``.

    A failed Result raises ``ChildFailed(result.error)``, which the loop records
    as the trial's error.
    """
    def objective(genotype: Genotype) -> float:
        result = evaluator.evaluate(genotype)
        if not result.ok:
            raise ChildFailed(result.error)
        return result.reward
    return objective


class TableEvaluator:
    """Looks rewards up instead of training (tests, benchmarks, NAS-Bench-style tables).

    ``table`` is either a mapping from ``Genotype.fingerprint()`` (or from
    whatever ``key(genotype)`` returns) to an entry, or a callable
    ``genotype -> entry``. An entry is

    * a number: the reward;
    * a ``Result``: returned as is;
    * a mapping with ``"reward"`` and optionally ``"metrics"`` and
      ``"history"`` (a list of per-epoch metric dicts with ``"val_accuracy"``):
      with a history, ``report`` is called for each epoch as a trained child
      would call it, and returning False stops there with reward = that epoch's
      ``val_accuracy`` and ``metrics["stopped_early"] = True``; ``epochs``
      truncates the history likewise.

    A missing key, a callable that raises or returns None, or a non-finite
    reward gives a failed Result, as a failing child would.
    """

    def __init__(self, table: Mapping[str, Any] | Callable[[Genotype], Any],
                 key: Callable[[Genotype], str] | None = None):
        if not (callable(table) or isinstance(table, Mapping)):
            raise ValueError(f"table must be a mapping or a callable, got {type(table).__name__}")
        self.table = table
        self.key = key or (lambda genotype: genotype.fingerprint())

    def evaluate(self, genotype: Genotype, report: Report | None = None, *,
                 epochs: int | None = None, logdir: str | None = None) -> Result:
        del logdir  # nothing to log
        try:
            if callable(self.table) and not isinstance(self.table, Mapping):
                entry = self.table(genotype)
            else:
                key = self.key(genotype)
                if key not in self.table:
                    return Result.failure(f"no table entry for key {key!r}", {"key": key})
                entry = self.table[key]
            return self._result(entry, report, epochs)
        except Exception as e:  # noqa: BLE001 -- a failed lookup is a failed trial
            return Result.failure(f"{type(e).__name__}: {e}",
                                  {"traceback": traceback.format_exc()})

    def __call__(self, genotype: Genotype) -> float:
        return as_objective(self)(genotype)

    @staticmethod
    def _result(entry: Any, report: Report | None, epochs: int | None) -> Result:
        if isinstance(entry, Result):
            return entry
        if entry is None:
            return Result.failure("table entry is None")
        if isinstance(entry, Mapping):
            unknown = set(entry) - {"reward", "metrics", "history"}
            if unknown:
                raise ValueError(f"unknown table entry keys {sorted(unknown)}; "
                                 f"known: ['history', 'metrics', 'reward']")
            metrics = dict(entry.get("metrics") or {})
            history = [dict(m) for m in entry.get("history") or []]
            reward = entry.get("reward")
            if epochs is not None:
                _positive("epochs", epochs, integer=True)
                if epochs < len(history):
                    history = history[:epochs]
                    reward = history[-1]["val_accuracy"]
            stopped = False
            if report is not None:
                for i, epoch_metrics in enumerate(history):
                    if report(i + 1, dict(epoch_metrics)) is False:
                        stopped = i + 1 < len(history)
                        history = history[:i + 1]
                        if stopped:
                            reward = epoch_metrics["val_accuracy"]
                        break
            metrics.update(history=history, epochs_completed=len(history), stopped_early=stopped)
        else:
            reward, metrics = entry, {}
        if isinstance(reward, bool) or not isinstance(reward, (int, float)) or not _finite(reward):
            return Result.failure(f"table reward is not a finite number: {reward!r}", metrics)
        return Result(reward=float(reward), metrics=metrics)
