"""Training through the Model Garden: its task, its trainer, its Orbit controller.

``run(params, model_dir, mode)`` is official.vision's ``train.py`` without the
flags: it checks the data first (``task.check_data``: a missing TFRecord
pattern, annotation file or tfds set fails in well under a second, before
TensorFlow builds anything), writes ``params.yaml`` and ``experiment.json``
into ``model_dir``, picks the ``tf.distribute`` strategy named by
``params.runtime.distribution_strategy`` (``one_device``, ``mirrored``,
``multi_worker_mirrored``, ``tpu``), builds the task from the task factory
(``detection.task.NasnetFasterRCNNTask``) and runs
``official.core.train_lib.OrbitExperimentRunner``. Before anything is
written, ``configs.check_runtime`` refuses a runtime the Model Garden would
reject or misuse (precision spelling, ``mirrored`` without GPUs, batches that
do not split over the strategy's replicas). Checkpoints are Orbit's
(``model_dir/ckpt-<step>``); a run restarted with the same ``model_dir``
continues from the latest one.

The only addition to the runner is a train action that advances the
backbone's ScheduledDropPath (``step / total_training_steps``) after every
loop of ``steps_per_loop`` steps, when drop path is on.

Example:
    >>> params = configs.load_experiment("fasterrcnn_nasnet_fpn_shapes", data_dir="/data/shapes")
    >>> run(params, "/runs/shapes", "train", experiment="fasterrcnn_nasnet_fpn_shapes")
"""

from __future__ import annotations

import os
from typing import Any

import orbit
import tensorflow as tf
from official.common import distribute_utils
from official.core import task_factory, train_lib, train_utils
from official.modeling import performance

from detection import configs
from detection import task as detection_task  # registers the task class
from nasnet import io_utils

MODES = ("train", "eval", "train_and_eval", "train_and_post_eval", "continuous_eval")
STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")


def check_inputs(params, mode: str) -> None:
    """The data ``mode`` needs exists; ValueError otherwise (see ``task.check_data``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if "train" in mode:
        detection_task.check_data(params.task.train_data, "train_data")
    if "eval" in mode:
        detection_task.check_data(params.task.validation_data, "validation_data")
        detection_task.check_annotation_file(params.task.annotation_file)


class _DropPathAction:
    """Orbit train action: ScheduledDropPath progress = global step / total steps."""

    def __init__(self, trainer, total_steps: int):
        self._trainer = trainer
        self._total = total_steps

    def __call__(self, output: Any) -> None:
        del output
        detection_task.update_drop_path(self._trainer.model,
                                        int(self._trainer.global_step.numpy()), self._total)


class _Runner(train_lib.OrbitExperimentRunner):
    def _build_controller(self, trainer, evaluator, save_summary=True, train_actions=None,
                          eval_actions=None, controller_cls=orbit.Controller,
                          enable_async_checkpointing=False):
        train_actions = list(train_actions or [])
        backbone = self.params.task.model.backbone
        if trainer and backbone.type == "nasnet" and backbone.nasnet.drop_path_keep_prob < 1.0:
            train_actions.append(_DropPathAction(trainer,
                                                 backbone.nasnet.total_training_steps))
        return super()._build_controller(trainer, evaluator, save_summary, train_actions,
                                         eval_actions, controller_cls,
                                         enable_async_checkpointing)


def strategy_for(params) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy of ``params.runtime`` (``configs.check_runtime`` first).

    ``mirrored`` needs ``runtime.num_gpus`` GPUs to be visible.
    """
    name = params.runtime.distribution_strategy
    if name not in STRATEGIES:
        raise ValueError(f"distribution strategy must be one of {STRATEGIES}, got {name!r}")
    configs.check_runtime(params)
    if name == "mirrored":
        visible = len(tf.config.list_physical_devices("GPU"))
        if params.runtime.num_gpus > visible:
            raise ValueError(f"runtime.num_gpus={params.runtime.num_gpus} but this machine "
                             f"shows {visible} GPU(s) to TensorFlow")
    return distribute_utils.get_distribution_strategy(
        distribution_strategy=name, all_reduce_alg=params.runtime.all_reduce_alg,
        num_gpus=params.runtime.num_gpus, tpu_address=params.runtime.tpu)


def run(params, model_dir: str, mode: str = "train", experiment: str | None = None,
        run_post_eval: bool = False) -> tuple[Any, dict[str, Any]]:
    """Trains and / or evaluates; returns official.vision's ``(model, eval_logs)``."""
    check_inputs(params, mode)
    strategy = strategy_for(params)          # checks the runtime first
    configs.check_runtime(params, int(strategy.num_replicas_in_sync))
    os.makedirs(model_dir, exist_ok=True)
    if "train" in mode:
        train_utils.serialize_config(params, model_dir)
        if experiment:
            io_utils.atomic_write_json(os.path.join(model_dir, configs.EXPERIMENT_FILE),
                                       {"experiment": experiment})
    if params.runtime.mixed_precision_dtype:
        performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype)
    with strategy.scope():
        task = task_factory.get_task(params.task, logging_dir=model_dir)
    runner = _Runner(distribution_strategy=strategy, task=task, mode=mode, params=params,
                     model_dir=model_dir, run_post_eval=run_post_eval)
    model, logs = runner.run()
    return model, {k: _plain(v) for k, v in (logs or {}).items()}


def _plain(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
