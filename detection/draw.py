"""``//detection:draw``: detections drawn on the first images of an annotation file (PNG).

The detections come from an export / zoo entry (``--saved_model``) or a COCO
results file (``--detections_json``, e.g. the evaluation job's
``detections.json``). Ground-truth boxes are thin white lines.

Example:
    bazel run //detection:draw -- --saved_model=out/zoo/shapes_nasnet_fpn \\
        --annotation_file=out/shapes/instances_val.json --images=out/shapes/images/val \\
        --output_dir=out/detection/drawn --num_images=6
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # `python detection/draw.py`: the repository root goes first
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import flags

from detection import coco_data, visualize
from nasnet import cli

flags.DEFINE_string("annotation_file", None, "COCO instances JSON of the images.")
flags.DEFINE_string("images", None, "Image directory (or converter TFRecord pattern).")
flags.DEFINE_string("saved_model", None, "Export / zoo entry / SavedModel directory.")
flags.DEFINE_string("detections_json", None, "COCO results file to draw instead.")
flags.DEFINE_string("output_dir", None, "Where the PNG files go.")
flags.DEFINE_integer("num_images", 4, "How many images (the annotation file's first).")
flags.DEFINE_float("min_score", 0.5, "Draw detections scoring at least this.")
flags.DEFINE_integer("scale", 3, "Enlarge images this many times before drawing.")
flags.mark_flags_as_required(["annotation_file", "images", "output_dir"])
FLAGS = flags.FLAGS


def main(argv: list[str]) -> int:
    del argv  # no positional arguments (cli.run refuses them)
    if bool(FLAGS.saved_model) == bool(FLAGS.detections_json):
        raise ValueError("give exactly one of --saved_model and --detections_json")
    annotation_file, images = cli.user_path(FLAGS.annotation_file), cli.user_path(FLAGS.images)
    output_dir = cli.user_path(FLAGS.output_dir)
    if FLAGS.saved_model:
        from detection import serving  # TensorFlow: models only
        coco_data.load_ground_truth(annotation_file)
        paths = visualize.render_with_detector(
            serving.saved_model_detector(cli.user_path(FLAGS.saved_model)), annotation_file,
            images, output_dir, FLAGS.num_images, FLAGS.min_score, scale=FLAGS.scale)
    else:
        detections = coco_data.load_detections(cli.user_path(FLAGS.detections_json))
        paths = visualize.render(detections, annotation_file, images, output_dir,
                                 FLAGS.num_images, FLAGS.min_score, scale=FLAGS.scale)
    for path in paths:
        print(path)
    return 0


def run() -> None:
    cli.run(main, "detection.draw")


if __name__ == "__main__":
    run()
