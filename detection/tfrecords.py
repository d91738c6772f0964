"""COCO-format annotations + images -> TFRecords, through the Model Garden's converter.

The examples are made by ``official.vision.data.create_coco_tf_record``
(``generate_annotations`` + ``create_tf_example``) and written by
``official.vision.data.tfrecord_lib.write_tf_record_dataset``: the same code
path as the Model Garden's ``create_coco_tf_record`` binary, so the shapes set
and real COCO 2017 produce identical features (``image/encoded``,
``image/source_id`` = the COCO image id, normalised ``image/object/bbox/*``,
``image/object/class/label`` = the COCO category id, ``image/object/area``,
``image/object/is_crowd``).

Shards are written into a temporary directory and moved into place at the
end, so a failed conversion leaves no partial ``<prefix>-*.tfrecord`` files.

Example:
    >>> convert_split("/data/shapes/instances_train.json", "/data/shapes/images/train",
    ...               "/data/shapes/train", num_shards=2)
    ['/data/shapes/train-00000-of-00002.tfrecord', '/data/shapes/train-00001-of-00002.tfrecord']
"""

from __future__ import annotations

import collections
import glob
import os
import shutil
import tempfile
from typing import Any

from detection import coco_data, shapes
from nasnet import io_utils


def load_annotations(path: str) -> dict[str, Any]:
    """A COCO "instances" JSON file, checked as the evaluation checks it
    (``coco_data.check_instances``); ValueError naming the file otherwise."""
    data = io_utils.read_json(path, "annotation file")
    return coco_data.check_instances(data, f"annotation file {path!r}")


def convert_split(annotations_path: str, images_dir: str, output_prefix: str,
                  num_shards: int = 1, include_masks: bool = False) -> list[str]:
    """Writes ``<output_prefix>-0000i-of-0000n.tfrecord``; returns the files.

    ``annotations_path``: COCO instances JSON (real COCO or ``detection.shapes``);
    ``images_dir``: where its ``file_name``s are. Raises ValueError for a
    missing or malformed annotation file, a missing image directory or image.
    """
    from official.vision.data import create_coco_tf_record as coco_converter
    from official.vision.data import tfrecord_lib

    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    data = load_annotations(annotations_path)
    if not os.path.isdir(images_dir):
        raise ValueError(f"image directory {images_dir!r} does not exist")
    missing = [im["file_name"] for im in data["images"]
               if not os.path.isfile(os.path.join(images_dir, im["file_name"]))]
    if missing:
        raise ValueError(f"{len(missing)} images of {annotations_path!r} are not in "
                         f"{images_dir!r}, e.g. {missing[:3]}")
    by_image = collections.defaultdict(list)
    for annotation in data["annotations"]:
        by_image[annotation["image_id"]].append(annotation)
    id_to_name = {c["id"]: c["name"] for c in data["categories"]}

    output_prefix = os.path.abspath(output_prefix)
    out_dir = os.path.dirname(output_prefix)
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tfrecords-", dir=out_dir)
    try:
        examples = coco_converter.generate_annotations(
            images=data["images"], image_dirs=[images_dir],
            img_to_obj_annotation=by_image, id_to_name_map=id_to_name,
            include_masks=include_masks)
        tmp_prefix = os.path.join(tmp, os.path.basename(output_prefix))
        tfrecord_lib.write_tf_record_dataset(tmp_prefix, examples,
                                             coco_converter.create_tf_example, num_shards,
                                             multiple_processes=0)
        for old in glob.glob(glob.escape(output_prefix) + "-*-of-*.tfrecord"):
            os.unlink(old)
        outputs = []
        for name in sorted(os.listdir(tmp)):
            target = os.path.join(out_dir, name)
            os.replace(os.path.join(tmp, name), target)
            outputs.append(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return outputs


def make_shapes(output_dir: str, num_train: int = 500, num_val: int = 50, seed: int = 0,
                num_shards: int = 2, config: shapes.ShapesConfig = shapes.ShapesConfig()
                ) -> dict[str, Any]:
    """The whole offline set: images, ``instances_*.json`` and ``train*`` / ``val*`` TFRecords."""
    annotations = shapes.generate(output_dir, num_train, num_val, seed, config)
    records = {}
    for split in shapes.SPLITS:
        records[split] = convert_split(annotations[split], shapes.image_dir(output_dir, split),
                                       os.path.join(output_dir, split), num_shards)
    return {"annotations": annotations, "tfrecords": records}
