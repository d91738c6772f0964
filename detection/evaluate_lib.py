"""COCO box mAP of a detector or of a detections file, through pycocotools.

One scorer for everything: ``score(coco_gt, detections)`` runs pycocotools'
``COCOeval`` with its default parameters (``iouType='bbox'``, every image of
the annotation file, maxDets 1 / 10 / 100), exactly as
``COCOeval(COCO(ann), COCO(ann).loadRes(dets), 'bbox')`` does, and returns the
12 standard numbers under official.vision's names (``METRIC_NAMES``). A model
is evaluated by running it over every image of the annotation file, turning
its outputs into a COCO results list (``detections_from_outputs``) and scoring
that list, so a checkpoint, a directory of checkpoints and an exported
SavedModel are all scored the same way. (official.vision's ``COCOEvaluator``
restricts ``imgIds`` to images that received detections, which overstates
recall when a model misses whole images; the standard protocol does not.)

Inputs are checked before anything runs: a missing or malformed annotation
file, a detections file with unknown image ids or category ids, a malformed
box or score, a checkpoint that does not hold this model (another backbone,
another size) all raise ``ValueError`` naming the problem. ``metrics.json`` is
written atomically once every number is known, never partially.

Example:
    >>> metrics = evaluate_detections_file("instances_val.json", "detections.json", "out/eval")
    >>> metrics["AP"], metrics["AP50"]
    (0.62, 0.91)
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import math
import os
import time
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from nasnet import io_utils

#: official.vision's names for ``COCOeval.stats`` (coco_evaluator.py), in order.
METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl",
                "ARmax1", "ARmax10", "ARmax100", "ARs", "ARm", "ARl")
METRIC_DESCRIPTIONS = (
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
)
METRICS_FILE = "metrics.json"
DETECTIONS_FILE = "detections.json"


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
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
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


# -- scoring ------------------------------------------------------------------
def score(coco_gt, detections: list[dict[str, Any]]) -> dict[str, float]:
    """The 12 COCO box metrics of validated ``detections`` (``validate_detections``)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        if detections:
            coco_dt = coco_gt.loadRes([dict(d) for d in detections])
        else:  # loadRes cannot take an empty list; no detections score 0.
            coco_dt = COCO()
            coco_dt.dataset = {"images": list(coco_gt.dataset["images"]),
                               "categories": list(coco_gt.dataset["categories"]),
                               "annotations": []}
            coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) for name, value in zip(METRIC_NAMES, evaluator.stats)}


def format_metrics(metrics: dict[str, Any]) -> str:
    """The 12 numbers as pycocotools prints them, with official.vision's names."""
    return "\n".join(f" {desc} = {metrics[name]:.3f}   ({name})"
                     for name, desc in zip(METRIC_NAMES, METRIC_DESCRIPTIONS))


def write_metrics(output_dir: str, metrics: dict[str, float], **info: Any) -> str:
    """``<output_dir>/metrics.json`` (atomic): the 12 numbers, then run facts."""
    path = os.path.join(output_dir, METRICS_FILE)
    io_utils.atomic_write_json(path, {**metrics, **{k: v for k, v in info.items()
                                                    if v is not None}})
    return path


def evaluate_detections_file(annotation_file: str, detections_file: str,
                             output_dir: str | None = None) -> dict[str, float]:
    """Scores a COCO results file produced elsewhere; writes metrics.json when asked."""
    coco_gt = load_ground_truth(annotation_file)
    detections = validate_detections(load_detections(detections_file), coco_gt)
    metrics = score(coco_gt, detections)
    if output_dir:
        write_metrics(output_dir, metrics, source=os.path.abspath(detections_file),
                      annotation_file=os.path.abspath(annotation_file),
                      num_images=len(coco_gt.getImgIds()), num_detections=len(detections))
    return metrics


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


Detector = Callable[[np.ndarray], dict[str, np.ndarray]]


def run_detector(detector: Detector, coco_gt, image_source: str,
                 batch_size: int = 8) -> list[dict[str, Any]]:
    """Runs ``detector`` (uint8 ``[B, H, W, 3]`` -> outputs) over the annotation file's images."""
    categories = set(coco_gt.getCatIds())
    results = []
    for ids, pixels in batches(iter_images(coco_gt, image_source), batch_size):
        results.extend(detections_from_outputs(ids, detector(pixels), categories))
    return results


def evaluate_detector(detector: Detector, annotation_file: str, image_source: str,
                      output_dir: str | None = None, batch_size: int = 8,
                      **info: Any) -> dict[str, float]:
    """Detections of ``detector`` on every annotated image, scored; files written last.

    Writes ``detections.json`` and ``metrics.json`` (both atomic) in
    ``output_dir`` when given. ``info`` is recorded in metrics.json.
    """
    coco_gt = load_ground_truth(annotation_file)
    start = time.time()
    detections = run_detector(detector, coco_gt, image_source, batch_size)
    seconds = time.time() - start
    metrics = score(coco_gt, validate_detections(detections, coco_gt))
    if output_dir:
        io_utils.atomic_write_text(os.path.join(output_dir, DETECTIONS_FILE),
                                   json.dumps(detections) + "\n")
        write_metrics(output_dir, metrics, annotation_file=os.path.abspath(annotation_file),
                      num_images=len(coco_gt.getImgIds()), num_detections=len(detections),
                      inference_seconds=round(seconds, 2), **info)
    return metrics


# -- models ---------------------------------------------------------------------
def saved_model_detector(saved_model_dir: str) -> Detector:
    """A detector from an exported SavedModel (``detection.export_lib`` layout or its
    ``saved_model/`` directory): ``serving_default`` on uint8 images."""
    import tensorflow as tf
    path = saved_model_dir
    if os.path.isdir(os.path.join(path, "saved_model")):
        path = os.path.join(path, "saved_model")
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"{saved_model_dir!r} is not a SavedModel (no saved_model.pb)")
    loaded = tf.saved_model.load(path)
    if "serving_default" not in loaded.signatures:
        raise ValueError(f"SavedModel {path!r} has no serving_default signature")
    fn = loaded.signatures["serving_default"]
    (input_name, spec), = fn.structured_input_signature[1].items()
    if spec.dtype != tf.uint8 or spec.shape.rank != 4:
        raise ValueError(f"SavedModel {path!r}: serving_default takes {spec}, not an "
                         f"image batch (uint8 [B, H, W, 3])")
    needed = {"detection_boxes", "detection_classes", "detection_scores", "num_detections"}

    def detect(images: np.ndarray) -> dict[str, np.ndarray]:
        outputs = fn(**{input_name: tf.constant(images, tf.uint8)})
        if not needed <= set(outputs):
            raise ValueError(f"SavedModel {path!r} is not a detector: its outputs are "
                             f"{sorted(outputs)}")
        return {k: v.numpy() for k, v in outputs.items()}

    detect.model = loaded  # keeps the SavedModel's variables alive
    return detect


class CheckpointDetector:
    """A detector from an experiment config and training checkpoints.

    Builds the serving module of ``detection.export_lib`` once (the same graph
    as the exported SavedModel), or wraps ``model`` (a built detector of
    ``params``); ``load(checkpoint)`` restores weights into it (ValueError when
    the checkpoint does not hold this model).
    """

    def __init__(self, params, model=None):
        import tensorflow as tf
        from detection import export_lib
        self.params = params
        self.module = export_lib.serving_module(params, model=model)
        self._fn = self.module.inference_from_image_tensors.get_concrete_function(
            tf.TensorSpec([None, None, None, 3], tf.uint8))
        self.checkpoint = None

    def load(self, checkpoint: str) -> "CheckpointDetector":
        from detection import export_lib
        self.checkpoint = export_lib.restore(self.module.model, checkpoint, self.params)
        return self

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        import tensorflow as tf
        if self.checkpoint is None:
            raise ValueError("CheckpointDetector: load(checkpoint) first")
        return {k: v.numpy() for k, v in self._fn(tf.constant(images, tf.uint8)).items()}


def checkpoint_step(checkpoint: str) -> int | None:
    """The global step in a training checkpoint's name (``ckpt-1200``), else None."""
    tail = os.path.basename(checkpoint).rsplit("-", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


def evaluate_checkpoints(params, checkpoint_dir: str, annotation_file: str, image_source: str,
                         output_dir: str, *, wait: bool = False, timeout_s: float = 3600,
                         final_step: int | None = None, batch_size: int = 8,
                         detector: "CheckpointDetector | None" = None) -> list[dict[str, Any]]:
    """Evaluates the latest checkpoint of ``checkpoint_dir``; with ``wait``, every new
    one until ``final_step`` is evaluated or none comes for ``timeout_s`` seconds.

    Each evaluation rewrites ``metrics.json`` (the newest) and adds
    ``metrics-<step>.json``. Returns the metrics of each evaluated checkpoint.
    ``detector``: a ``CheckpointDetector`` of ``params`` to reuse.
    """
    import tensorflow as tf
    load_ground_truth(annotation_file)  # fail before waiting on a bad file
    if not wait:
        latest = tf.train.latest_checkpoint(checkpoint_dir)
        if latest is None:
            raise ValueError(f"no checkpoint in {checkpoint_dir!r}")
        prefixes: Iterable[str] = [latest]
    else:
        prefixes = tf.train.checkpoints_iterator(checkpoint_dir, timeout=timeout_s)
    done = []
    for prefix in prefixes:
        step = checkpoint_step(prefix)
        detector = (detector or CheckpointDetector(params)).load(prefix)
        metrics = evaluate_detector(detector, annotation_file, image_source, output_dir,
                                    batch_size, checkpoint=os.path.abspath(prefix), step=step)
        if step is not None:
            io_utils.atomic_write_json(os.path.join(output_dir, f"metrics-{step}.json"),
                                       {**metrics, "checkpoint": os.path.abspath(prefix)})
        done.append({"checkpoint": prefix, "step": step, **metrics})
        if wait and final_step is not None and step is not None and step >= final_step:
            break
    return done
