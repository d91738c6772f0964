"""COCO ground truth, detections and images: reading and checking them, and turning a
detector's outputs into COCO results.

Everything the evaluation job (``detection.evaluate_lib``), the exporter's
label map (``detection.export_lib``) and the drawing (``detection.visualize``)
read about a COCO-format data set is here:

* ``load_ground_truth``: a pycocotools ``COCO`` of an instances file;
* ``load_detections`` / ``validate_detections``: a COCO results file
  (``[{image_id, category_id, bbox: [x, y, w, h], score}, ...]``) checked
  against the ground truth (unknown image or category ids, malformed boxes
  or scores are ValueErrors naming the problem);
* ``iter_images`` / ``batches``: the annotated images as uint8
  ``[H, W, 3]``, from an image directory or the COCO converter's TFRecords;
* ``detections_from_outputs`` / ``run_detector``: a ``Detector`` (uint8
  ``[B, H, W, 3]`` -> ``detection_boxes`` ``[B, K, 4]`` (ymin, xmin, ymax,
  xmax in pixels), ``detection_classes`` ``[B, K]``, ``detection_scores``
  ``[B, K]``, ``num_detections`` ``[B]``) run over every annotated image.

TensorFlow is imported only to decode images.

Example:
    >>> coco_gt = load_ground_truth("out/shapes/instances_val.json")
    >>> detections = validate_detections(load_detections("dets.json"), coco_gt)
    >>> for ids, pixels in batches(iter_images(coco_gt, "out/shapes/images/val"), 8):
    ...     print(ids, pixels.shape)            # [8, 128, 128, 3]
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import math
import os
from typing import Any, Callable, Iterable, Iterator

import numpy as np

#: uint8 images ``[B, H, W, 3]`` -> detection outputs (see the module docstring).
Detector = Callable[[np.ndarray], dict[str, np.ndarray]]


# -- ground truth and detections ------------------------------------------------
def load_ground_truth(annotation_file: str):
    """A pycocotools ``COCO`` of a COCO instances file; ValueError if unusable."""
    from pycocotools.coco import COCO
    if not annotation_file or not os.path.isfile(annotation_file):
        raise ValueError(f"annotation file {annotation_file!r} does not exist")
    try:
        with open(annotation_file, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"annotation file {annotation_file!r} is not readable JSON: "
                         f"{e}") from None
    if not isinstance(data, dict) or not all(k in data for k in
                                             ("images", "annotations", "categories")):
        raise ValueError(f"annotation file {annotation_file!r} is not in COCO instances "
                         f"format (needs images, annotations and categories)")
    if not data["images"]:
        raise ValueError(f"annotation file {annotation_file!r} lists no images")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def load_detections(path: str) -> list[dict[str, Any]]:
    """A COCO results file: a JSON list of {image_id, category_id, bbox, score}."""
    if not os.path.isfile(path):
        raise ValueError(f"detections file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            detections = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"detections file {path!r} is not readable JSON: {e}") from None
    return detections


def validate_detections(detections: Any, coco_gt) -> list[dict[str, Any]]:
    """Checks a COCO results list against the ground truth; returns a clean copy.

    Raises ValueError for a non-list, an entry without image_id / category_id
    / bbox / score, a box that is not 4 finite numbers with w, h >= 0, a
    non-finite score, and image or category ids the annotation file does not
    have (they would be silently ignored or crash pycocotools).
    """
    if not isinstance(detections, list):
        raise ValueError(f"detections must be a JSON list of objects, got "
                         f"{type(detections).__name__}")
    image_ids, category_ids = set(coco_gt.getImgIds()), set(coco_gt.getCatIds())
    clean, unknown_images, unknown_categories = [], set(), set()
    for i, det in enumerate(detections):
        if not isinstance(det, dict):
            raise ValueError(f"detection {i} is not an object: {det!r}")
        missing = [k for k in ("image_id", "category_id", "bbox", "score") if k not in det]
        if missing:
            raise ValueError(f"detection {i} has no {missing}: {det!r}")
        bbox, score = det["bbox"], det["score"]
        if (not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or
                not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                        and math.isfinite(v) for v in bbox) or bbox[2] < 0 or bbox[3] < 0):
            raise ValueError(f"detection {i}: bbox must be [x, y, width, height] of finite "
                             f"numbers with width, height >= 0, got {bbox!r}")
        if (isinstance(score, bool) or not isinstance(score, (int, float))
                or not math.isfinite(score)):
            raise ValueError(f"detection {i}: score must be a finite number, got {score!r}")
        if det["image_id"] not in image_ids:
            unknown_images.add(det["image_id"])
        if det["category_id"] not in category_ids:
            unknown_categories.add(det["category_id"])
        clean.append({"image_id": det["image_id"], "category_id": det["category_id"],
                      "bbox": [float(v) for v in bbox], "score": float(score)})
    if unknown_images:
        raise ValueError(f"{len(unknown_images)} image id(s) of the detections are not in the "
                         f"annotation file, e.g. {sorted(unknown_images, key=str)[:5]}")
    if unknown_categories:
        raise ValueError(f"category id(s) {sorted(unknown_categories, key=str)} of the "
                         f"detections are not in the annotation file (known: "
                         f"{sorted(category_ids)})")
    return clean


# -- images -------------------------------------------------------------------
def _tfrecord_files(source: str) -> list[str]:
    files = sorted(glob.glob(source))
    if not files and os.path.isfile(source):
        files = [source]
    return files


def _decode(encoded) -> np.ndarray:
    """JPEG / PNG bytes -> uint8 [H, W, 3], decoded as official.vision's input pipeline
    does (``tf.io.decode_image``): JPEG decoders differ in the last bit, and a model
    is best scored on the pixels it was trained on."""
    import tensorflow as tf
    return tf.io.decode_image(encoded, channels=3, expand_animations=False).numpy()


def iter_images(coco_gt, source: str) -> Iterator[tuple[int, np.ndarray]]:
    """``(image_id, uint8 [H, W, 3])`` for every image of the annotation file.

    ``source``: the image directory (``file_name``s of the annotation file) or
    a TFRecord pattern written by the COCO converter (``image/source_id`` =
    image id). Raises ValueError when an annotated image is not there.
    """
    images = coco_gt.dataset["images"]
    if os.path.isdir(source):
        missing = [im["file_name"] for im in images
                   if not os.path.isfile(os.path.join(source, im["file_name"]))]
        if missing:
            raise ValueError(f"{len(missing)} image(s) of the annotation file are not in "
                             f"{source!r}, e.g. {missing[:3]}")
        import tensorflow as tf
        for im in images:
            encoded = tf.io.read_file(os.path.join(source, im["file_name"]))
            yield im["id"], _decode(encoded)
        return
    files = _tfrecord_files(source)
    if not files:
        raise ValueError(f"image source {source!r} is neither an image directory nor a "
                         f"TFRecord pattern that matches files")
    import tensorflow as tf
    wanted = {str(im["id"]): im["id"] for im in images}
    found = {}
    features = {"image/encoded": tf.io.FixedLenFeature((), tf.string),
                "image/source_id": tf.io.FixedLenFeature((), tf.string)}
    for record in tf.data.TFRecordDataset(files):
        example = tf.io.parse_single_example(record, features)
        key = example["image/source_id"].numpy().decode("utf-8")
        if key in wanted and key not in found:
            found[key] = True
            yield wanted[key], _decode(example["image/encoded"])
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ValueError(f"{len(missing)} image(s) of the annotation file are not in the "
                         f"TFRecords {source!r}, e.g. ids {missing[:5]}")


def batches(items: Iterable[tuple[int, np.ndarray]], batch_size: int
            ) -> Iterator[tuple[list[int], np.ndarray]]:
    """Consecutive images of one size, up to ``batch_size`` at a time."""
    ids, pixels = [], []
    for image_id, image in items:
        if pixels and (len(pixels) == batch_size or image.shape != pixels[0].shape):
            yield ids, np.stack(pixels)
            ids, pixels = [], []
        ids.append(image_id)
        pixels.append(image)
    if pixels:
        yield ids, np.stack(pixels)


def detections_from_outputs(image_ids: list[int], outputs: dict[str, np.ndarray],
                            category_ids: set[int] | None = None) -> list[dict[str, Any]]:
    """Detector outputs -> COCO results.

    ``outputs``: ``detection_boxes`` ``[B, K, 4]`` (ymin, xmin, ymax, xmax) in
    original-image pixels, ``detection_classes`` ``[B, K]`` (COCO category
    ids), ``detection_scores`` ``[B, K]``, ``num_detections`` ``[B]``.
    Classes outside ``category_ids`` (when given) are dropped.
    """
    results = []
    for b, image_id in enumerate(image_ids):
        n = int(outputs["num_detections"][b])
        for k in range(n):
            ymin, xmin, ymax, xmax = (float(v) for v in outputs["detection_boxes"][b, k])
            category = int(round(float(outputs["detection_classes"][b, k])))
            if category_ids is not None and category not in category_ids:
                continue
            results.append({"image_id": image_id, "category_id": category,
                            "bbox": [round(xmin, 2), round(ymin, 2),
                                     round(max(0.0, xmax - xmin), 2),
                                     round(max(0.0, ymax - ymin), 2)],
                            "score": round(float(outputs["detection_scores"][b, k]), 5)})
    return results


def run_detector(detector: Detector, coco_gt, image_source: str,
                 batch_size: int = 8) -> list[dict[str, Any]]:
    """Runs ``detector`` (uint8 ``[B, H, W, 3]`` -> outputs) over the annotation file's images."""
    categories = set(coco_gt.getCatIds())
    results = []
    for ids, pixels in batches(iter_images(coco_gt, image_source), batch_size):
        results.extend(detections_from_outputs(ids, detector(pixels), categories))
    return results
