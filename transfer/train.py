"""Train an ImageNet-style classifier from any genotype (or a hand-designed network):
the ``//transfer:train`` binary.

Flags become a ``transfer.config.TrainConfig`` (a preset, or a saved config,
plus overrides); ``transfer.trainer.train`` does the work. Re-running with the
same ``--workdir`` continues the run from its latest checkpoint.

    # NASNet-A Mobile on ImageNet (prepared tfds imagenet2012), 8 GPUs:
    bazel run //transfer:train -- --preset=nasnet_a_mobile --strategy=mirrored \\
        --data_dir=/data/tfds --workdir=/runs/mobile
    # the searched cell at 6 @ 768 on any tfds dataset, on a TPU, bfloat16 + XLA:
    bazel run //transfer:train -- --preset=nasnet_a_mobile --genotype=/runs/search \\
        --size=6@768 --dataset=imagenette --strategy=tpu --xla --workdir=/runs/imagenette
    # offline, on the embedded digits, two logical CPU devices, then export:
    bazel run //transfer:train -- --preset=digits_tiny --strategy=mirrored \\
        --num_cpu_devices=2 --workdir=out/digits --export_dir=out/digits/export
    # the same recipe with ResNet-50 (tf_keras.applications) instead of a genotype:
    bazel run //transfer:train -- --preset=digits_tiny --hand_designed=resnet50 \\
        --image_size=32 --workdir=out/digits_resnet50 --export_dir=out/digits_resnet50/export

Exit status (``nasnet.cli``): 0 on success; 2 with a one-line reason on bad
input (unknown genotype, missing dataset, invalid override, a size the cells
do not fit, ...), checked before anything is written; 130 on Ctrl-C (run the
same command to continue from the latest checkpoint).
"""

from __future__ import annotations

import json
import os
import sys

if __package__ in (None, ""):  # `python transfer/train.py`: the repository root goes first
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import flags

from nasnet import cli

FLAGS = flags.FLAGS

flags.DEFINE_string("preset", "nasnet_a_mobile",
                    "named TrainConfig: nasnet_a_mobile, nasnet_a_large, digits_tiny")
flags.DEFINE_string("config", None, "a TrainConfig JSON file (e.g. a run's config.json) "
                    "instead of --preset")
flags.DEFINE_string("workdir", None, "the run's directory (checkpoints, logs, metrics)")
flags.DEFINE_string("genotype", None, "published name | genotype JSON file | search or "
                    "training work directory | zoo:NAME")
flags.DEFINE_string("hand_designed", None, "train this hand-designed network instead of a "
                    "genotype, with the preset's recipe: resnet50 | inception_resnet_v2 "
                    "(tf_keras.applications; no auxiliary head)")
flags.DEFINE_string("size", None, "network size 'N@P' (N cells per stack, P penultimate filters)")
flags.DEFINE_integer("image_size", None, "input resolution in pixels")
flags.DEFINE_string("dataset", None, "tfds image-classification name, or 'digits'")
flags.DEFINE_string("data_dir", None, "directory of prepared tfds datasets")
flags.DEFINE_string("manual_dir", None, "tfds manual download directory (imagenet2012 tars)")
flags.DEFINE_string("strategy", None, "one_device | mirrored | multi_worker_mirrored | tpu")
flags.DEFINE_string("tpu_address", None, "TPU name or grpc://host:port for --strategy=tpu")
flags.DEFINE_integer("num_cpu_devices", 0, "split the CPU into this many logical devices "
                     "(for --strategy=mirrored without GPUs); 0 leaves it whole")
flags.DEFINE_integer("per_replica_batch_size", None, "batch per replica (global = x replicas)")
flags.DEFINE_integer("train_steps", None, "total optimizer steps")
flags.DEFINE_integer("steps_per_loop", None, "steps between evaluations / log lines")
flags.DEFINE_integer("checkpoint_every_steps", None, "steps between preemption checkpoints")
flags.DEFINE_integer("eval_steps", None, "evaluation batches (default: the whole split)")
flags.DEFINE_integer("steps_per_execution", None, "train steps per call into the device "
                     "(divides --steps_per_loop and --checkpoint_every_steps)")
flags.DEFINE_string("mixed_precision", None, "auto | float32 | mixed_float16 | mixed_bfloat16")
flags.DEFINE_boolean("xla", None, "compile the train step with XLA")
flags.DEFINE_multi_string("override", [], "dotted config override key=value (JSON value), "
                          "e.g. --override=optimizer.base_learning_rate=0.1")
flags.DEFINE_string("export_dir", None, "export the trained model here (SavedModel + records)")
flags.DEFINE_string("zoo_dir", None, "model zoo directory for --genotype=zoo:NAME")
flags.DEFINE_boolean("print_config", False, "print the resolved config and exit")
flags.DEFINE_integer("testing_kill_at_step", None,
                     "testing aid: SIGKILL this process after this step (simulated preemption)")


def build_config():
    """Flags -> TrainConfig (pure Python: runs no TensorFlow op)."""
    from nasnet.artifacts import ZOO_PREFIX
    from transfer import config as config_lib

    if FLAGS.config:
        config = config_lib.TrainConfig.load(cli.user_path(FLAGS.config))
    else:
        config = config_lib.preset(FLAGS.preset)
    if FLAGS.hand_designed:
        if FLAGS.genotype:
            raise cli.UsageError(
                f"--genotype={FLAGS.genotype} and --hand_designed={FLAGS.hand_designed} name "
                f"two architectures: a hand-designed network has no genotype; give one")
        if FLAGS.size:
            raise cli.UsageError(f"--size sets the N@P of NASNet cells; the hand-designed "
                                 f"network {FLAGS.hand_designed!r} has one size")
    if FLAGS.size:
        config = config_lib.with_size(config, FLAGS.size)
    overrides = {}
    if FLAGS.hand_designed:
        from transfer import hand_designed
        hand_designed.get(FLAGS.hand_designed)  # an unknown name lists the known ones
        overrides.update({"genotype": None, "hand_designed": FLAGS.hand_designed,
                          "model.use_aux_head": False})
    genotype = FLAGS.genotype
    if genotype and not genotype.startswith(ZOO_PREFIX) and os.path.exists(cli.user_path(genotype)):
        genotype = cli.user_path(genotype)
    simple = {"genotype": genotype, "model.image_size": FLAGS.image_size,
              "data.dataset": FLAGS.dataset, "data.data_dir": cli.user_path(FLAGS.data_dir),
              "data.manual_dir": cli.user_path(FLAGS.manual_dir), "strategy": FLAGS.strategy,
              "tpu_address": FLAGS.tpu_address,
              "per_replica_batch_size": FLAGS.per_replica_batch_size,
              "train_steps": FLAGS.train_steps, "steps_per_loop": FLAGS.steps_per_loop,
              "checkpoint_every_steps": FLAGS.checkpoint_every_steps,
              "eval_steps": FLAGS.eval_steps, "mixed_precision": FLAGS.mixed_precision,
              "steps_per_execution": FLAGS.steps_per_execution,
              "xla": FLAGS.xla}
    overrides.update({k: v for k, v in simple.items() if v is not None})
    for text in FLAGS.override:
        key, value = config_lib.parse_override(text)
        overrides[key] = value
    return config_lib.apply_overrides(config, overrides)


def main(argv: list[str]) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        raise cli.Interrupted("interrupted; run the same command to continue from the latest "
                              "checkpoint") from None


def _main(argv: list[str]) -> int:
    del argv  # no positional arguments (cli.run refuses them)
    if FLAGS.num_cpu_devices:
        from nasnet import distribute
        distribute.configure_cpu_devices(FLAGS.num_cpu_devices)
    config = build_config()
    if FLAGS.print_config:
        print(config.to_json())
        return 0
    if not FLAGS.workdir:
        raise cli.UsageError("--workdir is required")
    from nasnet import distribute
    from transfer import export, trainer

    # First TensorFlow work: multi-worker strategies must exist before any op runs.
    strategy = distribute.make_strategy(config.strategy, config.tpu_address)
    callbacks = []
    if FLAGS.testing_kill_at_step:
        callbacks.append(trainer.KillAtStep(FLAGS.testing_kill_at_step))
    result = trainer.train(config, cli.user_path(FLAGS.workdir), strategy=strategy,
                           callbacks=callbacks, zoo_dir=cli.user_path(FLAGS.zoo_dir), verbose=0)
    summary = {k: result.metrics[k] for k in ("top1", "top5", "loss", "final_step")
               if k in result.metrics}
    print(f"trained {result.workdir}: " + json.dumps(summary, sort_keys=True))
    if FLAGS.export_dir and distribute.is_chief(strategy):
        path = export.export_from_workdir(result.workdir, cli.user_path(FLAGS.export_dir),
                                          overwrite=True)
        print(f"exported {path}")
    return 0


def run() -> None:
    cli.run(main, "train")


if __name__ == "__main__":
    run()
