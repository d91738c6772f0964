"""``//detection:export``: a trained detector -> SavedModel export -> (optionally) the model zoo.

Example:
    bazel run //detection:export -- --model_dir=out/detection/run1 \\
        --export_dir=out/detection/run1/export \\
        --metrics_file=out/detection/run1/eval/metrics.json \\
        --annotation_file=out/shapes/instances_val.json --zoo_name=shapes_nasnet_fpn
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # `python detection/export.py`: the repository root goes first
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import flags

from detection import configs, export_lib
from nasnet import cli

flags.DEFINE_string("model_dir", None, "Training run directory (params.yaml, checkpoints).")
flags.DEFINE_string("checkpoint", None, "Checkpoint prefix (default: the run's latest).")
flags.DEFINE_string("experiment", None, "Default: the run's experiment.json.")
flags.DEFINE_multi_string("config_file", [], "YAML files overriding the experiment.")
flags.DEFINE_string("params_override", "", "Strict overrides of the experiment.")
flags.DEFINE_string("export_dir", None, "Where the export directory goes.")
flags.DEFINE_string("metrics_file", None, "metrics.json of the evaluation job to record.")
flags.DEFINE_string("annotation_file", None, "COCO file whose category names are recorded.")
flags.DEFINE_string("zoo_name", None, "When set, add the export to the model zoo as this.")
flags.DEFINE_string("zoo_dir", None, "Model zoo directory (default: $NASNET_ZOO_DIR or out/zoo).")
flags.DEFINE_bool("overwrite", False, "Replace an existing export / zoo entry.")
flags.mark_flags_as_required(["model_dir", "export_dir"])
FLAGS = flags.FLAGS


def main(argv: list[str]) -> int:
    del argv  # no positional arguments (cli.run refuses them)
    model_dir = cli.user_path(FLAGS.model_dir)
    params = configs.load_experiment(
        FLAGS.experiment, model_dir=model_dir,
        config_files=[cli.user_path(p) for p in FLAGS.config_file],
        params_override=FLAGS.params_override)
    export_dir = export_lib.export_detector(
        params, cli.user_path(FLAGS.checkpoint) or model_dir, cli.user_path(FLAGS.export_dir),
        annotation_file=cli.user_path(FLAGS.annotation_file),
        metrics_file=cli.user_path(FLAGS.metrics_file), source_run=model_dir,
        overwrite=FLAGS.overwrite)
    print(f"export: {export_dir}")
    if FLAGS.zoo_name:
        from model_zoo import registry
        manifest = registry.Zoo(cli.user_path(FLAGS.zoo_dir)).add(
            export_dir, FLAGS.zoo_name, overwrite=FLAGS.overwrite)
        print(f"zoo entry: {manifest.name} ({len(manifest.files)} files, metrics "
              f"{ {k: manifest.metrics.get(k) for k in ('AP', 'AP50')} })")
    return 0


def run() -> None:
    cli.run(main, "detection.export")


if __name__ == "__main__":
    run()
