"""COCO box mAP of a detector or of a detections file, through pycocotools.

One scorer for everything: ``score(coco_gt, detections)`` runs pycocotools'
``COCOeval`` with its default parameters (``iouType='bbox'``, every image of
the annotation file, maxDets 1 / 10 / 100), exactly as
``COCOeval(COCO(ann), COCO(ann).loadRes(dets), 'bbox')`` does, and returns the
12 standard numbers under official.vision's names (``METRIC_NAMES``). A model
is evaluated by running it over every image of the annotation file, turning
its outputs into a COCO results list (``coco_data.run_detector``) and scoring
that list, so a checkpoint, a directory of checkpoints (``serving.
CheckpointDetector``) and an exported SavedModel (``serving.
saved_model_detector``) are all scored the same way. (official.vision's ``COCOEvaluator``
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
import io
import json
import os
import time
from typing import TYPE_CHECKING, Any, Iterable

from detection import coco_data
from nasnet import io_utils
from nasnet.artifacts import METRICS_FILE

if TYPE_CHECKING:
    from detection import serving

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
DETECTIONS_FILE = "detections.json"


# -- scoring ------------------------------------------------------------------
def score(coco_gt, detections: list[dict[str, Any]]) -> dict[str, float]:
    """The 12 COCO box metrics of validated ``detections`` (``coco_data.validate_detections``)."""
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
    coco_gt = coco_data.load_ground_truth(annotation_file)
    detections = coco_data.validate_detections(coco_data.load_detections(detections_file),
                                               coco_gt)
    metrics = score(coco_gt, detections)
    if output_dir:
        write_metrics(output_dir, metrics, source=os.path.abspath(detections_file),
                      annotation_file=os.path.abspath(annotation_file),
                      num_images=len(coco_gt.getImgIds()), num_detections=len(detections))
    return metrics


# -- evaluating a detector ---------------------------------------------------------
def evaluate_detector(detector: coco_data.Detector, annotation_file: str, image_source: str,
                      output_dir: str | None = None, batch_size: int = 8,
                      **info: Any) -> dict[str, float]:
    """Detections of ``detector`` on every annotated image, scored; files written last.

    Writes ``detections.json`` and ``metrics.json`` (both atomic) in
    ``output_dir`` when given. ``info`` is recorded in metrics.json.
    """
    coco_gt = coco_data.load_ground_truth(annotation_file)
    start = time.time()
    detections = coco_data.run_detector(detector, coco_gt, image_source, batch_size)
    seconds = time.time() - start
    metrics = score(coco_gt, coco_data.validate_detections(detections, coco_gt))
    if output_dir:
        io_utils.atomic_write_text(os.path.join(output_dir, DETECTIONS_FILE),
                                   json.dumps(detections) + "\n")
        write_metrics(output_dir, metrics, annotation_file=os.path.abspath(annotation_file),
                      num_images=len(coco_gt.getImgIds()), num_detections=len(detections),
                      inference_seconds=round(seconds, 2), **info)
    return metrics


def checkpoint_step(checkpoint: str) -> int | None:
    """The global step in a training checkpoint's name (``ckpt-1200``), else None."""
    tail = os.path.basename(checkpoint).rsplit("-", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


def evaluate_checkpoints(params, checkpoint_dir: str, annotation_file: str, image_source: str,
                         output_dir: str, *, wait: bool = False, timeout_s: float = 3600,
                         final_step: int | None = None, batch_size: int = 8,
                         detector: "serving.CheckpointDetector | None" = None
                         ) -> list[dict[str, Any]]:
    """Evaluates the latest checkpoint of ``checkpoint_dir``; with ``wait``, every new
    one until ``final_step`` is evaluated or none comes for ``timeout_s`` seconds.

    Each evaluation rewrites ``metrics.json`` (the newest) and adds
    ``metrics-<step>.json``. Returns the metrics of each evaluated checkpoint.
    ``detector``: a ``serving.CheckpointDetector`` of ``params`` to reuse.
    """
    import tensorflow as tf

    from detection import serving  # noqa: F811 - TensorFlow and official.vision: models only
    coco_data.load_ground_truth(annotation_file)  # fail before waiting on a bad file
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
        detector = (detector or serving.CheckpointDetector(params)).load(prefix)
        metrics = evaluate_detector(detector, annotation_file, image_source, output_dir,
                                    batch_size, checkpoint=os.path.abspath(prefix), step=step)
        if step is not None:
            io_utils.atomic_write_json(os.path.join(output_dir, f"metrics-{step}.json"),
                                       {**metrics, "checkpoint": os.path.abspath(prefix)})
        done.append({"checkpoint": prefix, "step": step, **metrics})
        if wait and final_step is not None and step is not None and step >= final_step:
            break
    return done
