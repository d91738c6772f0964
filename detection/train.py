"""``//detection:train``: Faster R-CNN + FPN with a NASNet backbone, through the Model Garden.

Flags name an experiment of ``detection.configs`` and where its data are; the
work happens in ``detection.train_lib.run`` (official.vision task, trainer and
Orbit controller). Overrides are strict YAML / ``a.b=c`` strings, as in
official.vision's own ``train.py``.

Example:
    bazel run //detection:train -- --experiment=fasterrcnn_nasnet_fpn_shapes \\
        --data_dir=out/shapes --model_dir=out/detection/run1
    bazel run //detection:train -- --experiment=fasterrcnn_nasnet_fpn_coco_gpu \\
        --data_dir=/data/coco --model_dir=/runs/coco --strategy=mirrored --num_gpus=8 \\
        --params_override=task.init_checkpoint=zoo:nasnet_a_large_imagenet
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # `python detection/train.py`: the repository root goes first
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import flags

from detection import configs, train_lib
from nasnet import cli

flags.DEFINE_string("experiment", None, f"One of {', '.join(configs.EXPERIMENTS)}.")
flags.DEFINE_enum("mode", "train", list(train_lib.MODES), "What to run.")
flags.DEFINE_string("model_dir", None, "Checkpoints, summaries, params.yaml.")
flags.DEFINE_string("data_dir", None,
                    "Directory with train*/val* TFRecords and the validation annotation file "
                    "(detection/data output); replaces the experiment's paths.")
flags.DEFINE_multi_string("config_file", [], "YAML files overriding the experiment.")
flags.DEFINE_string("params_override", "", "YAML string or a.b=c,d=e overrides (strict).")
flags.DEFINE_enum("strategy", None, list(train_lib.STRATEGIES),
                  "tf.distribute strategy (default: the experiment's runtime).")
flags.DEFINE_integer("num_gpus", None, "GPUs for the mirrored strategy.")
flags.DEFINE_string("tpu", None, "TPU address for the tpu strategy.")
flags.mark_flags_as_required(["experiment", "model_dir"])
FLAGS = flags.FLAGS


def main(argv: list[str]) -> int:
    del argv  # no positional arguments (cli.run refuses them)
    params = configs.load_experiment(
        FLAGS.experiment, config_files=[cli.user_path(p) for p in FLAGS.config_file],
        params_override=FLAGS.params_override, data_dir=cli.user_path(FLAGS.data_dir),
        strategy=FLAGS.strategy, validate=False)
    if FLAGS.num_gpus is not None:
        params.runtime.num_gpus = FLAGS.num_gpus
    if FLAGS.tpu:
        params.runtime.tpu = FLAGS.tpu
    configs.check(params)
    params.lock()
    model_dir = cli.user_path(FLAGS.model_dir)
    _, logs = train_lib.run(params, model_dir, FLAGS.mode, experiment=FLAGS.experiment)
    print(f"model_dir: {model_dir}")
    if logs:
        print(logs)
    return 0


def run() -> None:
    cli.run(main, "detection.train")


if __name__ == "__main__":
    run()
