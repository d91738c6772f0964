"""``//detection:data``: detection data as TFRecords, through the Model Garden's COCO converter.

Commands:

* ``shapes``: generate the synthetic shapes set (``detection.shapes``) and
  convert both splits: ``<output_dir>/{train,val}-*.tfrecord``,
  ``instances_{train,val}.json``, ``images/{train,val}/``.
* ``coco``: convert one split of COCO 2017 (``--annotations`` =
  ``instances_{train,val}2017.json``, ``--images`` = its image directory) to
  ``<output_dir>/<split>-*.tfrecord``; the val annotation file is copied
  beside them for the evaluation.

Either directory is then ``--data_dir`` of ``//detection:train``.

Examples:
    bazel run //detection:data -- shapes --output_dir=out/shapes
    bazel run //detection:data -- coco --split=val --shards=8 --output_dir=/data/coco \\
        --annotations=/raw/annotations/instances_val2017.json --images=/raw/val2017
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # `python detection/data.py`: the repository root goes first
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import flags

from detection import shapes, tfrecords
from nasnet import cli, io_utils

COMMANDS = ("shapes", "coco")
# Names differ from create_coco_tf_record's flags (image_dir, num_shards, ...),
# which that module defines when the conversion imports it.
flags.DEFINE_string("output_dir", None, "Where the TFRecords (and the shapes set) go.")
flags.DEFINE_integer("shards", 2, "TFRecord files per split.")
flags.DEFINE_integer("num_train", 500, "shapes: training images.")
flags.DEFINE_integer("num_val", 50, "shapes: validation images.")
flags.DEFINE_integer("seed", 0, "shapes: random seed (same seed, same files).")
flags.DEFINE_integer("image_size", 128, "shapes: image height and width.")
flags.DEFINE_string("annotations", None, "coco: instances_<split>2017.json.")
flags.DEFINE_string("images", None, "coco: the split's image directory.")
flags.DEFINE_enum("split", "train", ["train", "val"], "coco: which split (file prefix).")
flags.mark_flags_as_required(["output_dir"])
FLAGS = flags.FLAGS


def _main(command: str) -> int:
    output_dir = cli.user_path(FLAGS.output_dir)
    if command == "shapes":
        made = tfrecords.make_shapes(
            output_dir, FLAGS.num_train, FLAGS.num_val, FLAGS.seed, FLAGS.shards,
            shapes.ShapesConfig(image_size=FLAGS.image_size))
        for split in shapes.SPLITS:
            print(f"{split}: {made['annotations'][split]}, "
                  f"{len(made['tfrecords'][split])} TFRecord file(s)")
        return 0
    if not FLAGS.annotations or not FLAGS.images:
        raise ValueError("coco needs --annotations and --images")
    annotations = cli.user_path(FLAGS.annotations)
    files = tfrecords.convert_split(annotations, cli.user_path(FLAGS.images),
                                    os.path.join(output_dir, FLAGS.split), FLAGS.shards)
    if FLAGS.split == "val":
        with open(annotations, "rb") as f:
            io_utils.atomic_write_bytes(os.path.join(output_dir, os.path.basename(annotations)),
                                        f.read())
    print(f"{FLAGS.split}: {len(files)} TFRecord file(s) in {output_dir}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in COMMANDS:
        raise cli.UsageError(f"expected one command of {list(COMMANDS)}, got {argv[1:]} "
                             f"(usage: data {'|'.join(COMMANDS)} --output_dir=DIR ...)")
    return _main(argv[1])


def run() -> None:
    cli.run(main, "detection.data", positional=True)


if __name__ == "__main__":
    run()
