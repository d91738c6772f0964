"""``//detection:evaluate``: COCO box mAP of a checkpoint, a checkpoint directory, a
SavedModel, or a detections JSON file, against a COCO-format annotation file.

Prints the 12 standard COCO metrics and writes ``metrics.json`` (atomic) to
``--output_dir``; a model's detections are written to ``detections.json``
beside it. Bad input (a missing annotation file, unknown image or category
ids, a checkpoint of another model) prints ``error: ...`` and exits 2 before
any metrics file is written.

Examples:
    # a detections file produced elsewhere
    bazel run //detection:evaluate -- --annotation_file=out/shapes/instances_val.json \\
        --detections_json=dets.json --output_dir=out/eval
    # the latest checkpoint of a training run (experiment and config from the run)
    bazel run //detection:evaluate -- --checkpoint=out/detection/run1 \\
        --annotation_file=out/shapes/instances_val.json --images=out/shapes/images/val \\
        --output_dir=out/detection/run1/eval
    # every new checkpoint until training ends (or 1 h without one)
    ... --checkpoint=out/detection/run1 --wait --timeout_s=3600
    # an export or zoo entry
    ... --saved_model=out/zoo/shapes_nasnet_fpn
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # `python detection/evaluate.py`: the repository root goes first
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import flags

from detection import coco_data, evaluate_lib
from nasnet import cli
from nasnet.artifacts import METRICS_FILE

flags.DEFINE_string("annotation_file", None, "COCO instances JSON (the ground truth).")
flags.DEFINE_string("detections_json", None, "Score this COCO results file.")
flags.DEFINE_string("checkpoint", None,
                    "A checkpoint prefix (ckpt-1200) or a directory (its latest checkpoint).")
flags.DEFINE_string("saved_model", None, "An export directory or a SavedModel directory.")
flags.DEFINE_string("images", None,
                    "Images of the annotation file: their directory, or a TFRecord pattern "
                    "written by the COCO converter (needed for models).")
flags.DEFINE_string("output_dir", None, "Where metrics.json (and detections.json) go.")
flags.DEFINE_bool("wait", False, "With a checkpoint directory: evaluate every new checkpoint.")
flags.DEFINE_float("timeout_s", 3600.0, "--wait: stop after this long without a new one.")
flags.DEFINE_string("experiment", None,
                    "Experiment of the checkpoint (default: the run's experiment.json; one of "
                    "detection.configs.EXPERIMENTS).")
flags.DEFINE_string("model_dir", None,
                    "Training run directory with params.yaml / experiment.json (default: "
                    "the checkpoint's directory).")
flags.DEFINE_multi_string("config_file", [], "YAML files overriding the experiment.")
flags.DEFINE_string("params_override", "", "Strict overrides of the experiment.")
flags.DEFINE_integer("batch_size", 8, "Images per inference call.")
flags.mark_flags_as_required(["annotation_file", "output_dir"])
FLAGS = flags.FLAGS


def main(argv: list[str]) -> int:
    del argv  # no positional arguments (cli.run refuses them)
    sources = [n for n in ("detections_json", "checkpoint", "saved_model")
               if getattr(FLAGS, n)]
    if len(sources) != 1:
        raise ValueError(f"give exactly one of --detections_json, --checkpoint, --saved_model "
                         f"(got {sources or 'none'})")
    annotation_file = cli.user_path(FLAGS.annotation_file)
    output_dir = cli.user_path(FLAGS.output_dir)
    if FLAGS.detections_json:
        metrics = evaluate_lib.evaluate_detections_file(
            annotation_file, cli.user_path(FLAGS.detections_json), output_dir)
        print(evaluate_lib.format_metrics(metrics))
    else:
        if not FLAGS.images:
            raise ValueError("--images (image directory or TFRecord pattern) is needed to "
                             "run a model")
        images = cli.user_path(FLAGS.images)
        from detection import serving  # TensorFlow and official.vision: models only
        if FLAGS.saved_model:
            coco_data.load_ground_truth(annotation_file)
            source = cli.user_path(FLAGS.saved_model)
            metrics = evaluate_lib.evaluate_detector(
                serving.saved_model_detector(source), annotation_file, images,
                output_dir, FLAGS.batch_size, saved_model=source)
            print(evaluate_lib.format_metrics(metrics))
        else:
            checkpoint = cli.user_path(FLAGS.checkpoint)
            is_dir = os.path.isdir(checkpoint)
            if FLAGS.wait and not is_dir:
                raise ValueError("--wait needs a checkpoint directory, not a prefix")
            from detection import configs  # TensorFlow and official.vision: models only
            model_dir = cli.user_path(FLAGS.model_dir) or (
                checkpoint if is_dir else os.path.dirname(checkpoint))
            params = configs.load_experiment(
                FLAGS.experiment, model_dir=model_dir,
                config_files=[cli.user_path(p) for p in FLAGS.config_file],
                params_override=FLAGS.params_override)
            if is_dir:
                results = evaluate_lib.evaluate_checkpoints(
                    params, checkpoint, annotation_file, images, output_dir, wait=FLAGS.wait,
                    timeout_s=FLAGS.timeout_s, final_step=params.trainer.train_steps,
                    batch_size=FLAGS.batch_size)
            else:
                coco_data.load_ground_truth(annotation_file)
                detector = serving.CheckpointDetector(params).load(checkpoint)
                metrics = evaluate_lib.evaluate_detector(
                    detector, annotation_file, images, output_dir, FLAGS.batch_size,
                    checkpoint=detector.checkpoint,
                    step=evaluate_lib.checkpoint_step(checkpoint))
                results = [{"checkpoint": checkpoint, **metrics}]
            for result in results:
                print(f"checkpoint {result['checkpoint']}")
                print(evaluate_lib.format_metrics(result))
    print(f"metrics: {os.path.join(output_dir, METRICS_FILE)}")
    return 0


def run() -> None:
    cli.run(main, "detection.evaluate")


if __name__ == "__main__":
    run()
