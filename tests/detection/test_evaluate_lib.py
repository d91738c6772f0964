"""COCO scoring: equals pycocotools' COCOeval, perfect detections give AP 1, bad input fails;
a detector run over an image directory; checkpoint steps."""

import contextlib
import io
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detection import coco_data, evaluate_lib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from detection_helpers import perfect_detections, tiny_coco, write_json  # noqa: E402


@pytest.fixture
def gt_file(tmp_path):
    path = str(tmp_path / "instances_val.json")
    tiny_coco(path)
    return path


def _noisy(data, seed=0):
    rng = np.random.default_rng(seed)
    dets = []
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        dets.append({"image_id": a["image_id"], "category_id": a["category_id"],
                     "bbox": [x + float(rng.normal(0, 2)), y + float(rng.normal(0, 2)),
                              w * float(rng.uniform(0.8, 1.2)), h * float(rng.uniform(0.8, 1.2))],
                     "score": float(rng.uniform(0.3, 1.0))})
        # a false positive of the other class
        dets.append({"image_id": a["image_id"], "category_id": 3 - a["category_id"],
                     "bbox": [x + 5, y + 5, w, h], "score": float(rng.uniform(0.0, 0.6))})
    return dets


def test_perfect_detections_score_ap_one(gt_file, tmp_path):
    data = json.load(open(gt_file))
    dets = write_json(str(tmp_path / "dets.json"), perfect_detections(data))
    metrics = evaluate_lib.evaluate_detections_file(gt_file, dets, str(tmp_path / "out"))
    assert metrics["AP"] == pytest.approx(1.0)
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(1.0)
    assert metrics["ARmax100"] == pytest.approx(1.0)


def test_numbers_equal_direct_cocoeval(gt_file, tmp_path):
    data = json.load(open(gt_file))
    dets_path = write_json(str(tmp_path / "dets.json"), _noisy(data))
    out = str(tmp_path / "out")
    metrics = evaluate_lib.evaluate_detections_file(gt_file, dets_path, out)

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt_file)
        coco_dt = coco_gt.loadRes(dets_path)
        direct = COCOeval(coco_gt, coco_dt, "bbox")
        direct.evaluate()
        direct.accumulate()
        direct.summarize()
    assert [metrics[k] for k in evaluate_lib.METRIC_NAMES] == [float(v) for v in direct.stats]
    assert 0.0 < metrics["AP"] < 1.0

    written = json.load(open(os.path.join(out, "metrics.json")))
    assert [written[k] for k in evaluate_lib.METRIC_NAMES] == [float(v) for v in direct.stats]
    assert written["num_images"] == 3 and written["num_detections"] == len(_noisy(data))
    assert [f for f in os.listdir(out) if f.startswith(".tmp")] == []
    text = evaluate_lib.format_metrics(metrics)
    assert len(text.splitlines()) == 12 and "(ARmax100)" in text


def test_no_detections_score_zero(gt_file, tmp_path):
    metrics = evaluate_lib.evaluate_detections_file(
        gt_file, write_json(str(tmp_path / "d.json"), []))
    assert metrics["AP"] == 0.0 and metrics["ARmax100"] == 0.0


@pytest.mark.parametrize("detections, message", [
    ({"not": "a list"}, "JSON list"),
    (["x"], "not an object"),
    ([{"image_id": 11, "category_id": 1, "bbox": [0, 0, 1, 1]}], "has no ['score']"),
    ([{"image_id": 11, "category_id": 1, "bbox": [0, 0, 1], "score": 1}], "bbox must be"),
    ([{"image_id": 11, "category_id": 1, "bbox": [0, 0, -1, 1], "score": 1}], "bbox must be"),
    ([{"image_id": 11, "category_id": 1, "bbox": [0, 0, float("nan"), 1], "score": 1}],
     "bbox must be"),
    ([{"image_id": 11, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "high"}],
     "score must be"),
    ([{"image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}],
     "image id(s) of the detections are not in the annotation file"),
    ([{"image_id": 11, "category_id": 7, "bbox": [0, 0, 1, 1], "score": 1}],
     "category id(s) [7]"),
])
def test_bad_detections_are_clear_errors_without_metrics(gt_file, tmp_path, detections, message):
    out = tmp_path / "out"
    path = tmp_path / "d.json"
    path.write_text(json.dumps(detections))
    with pytest.raises(ValueError) as info:
        evaluate_lib.evaluate_detections_file(gt_file, str(path), str(out))
    assert message in str(info.value)
    assert not out.exists()


def test_run_detector_over_an_image_directory(gt_file, tmp_path):
    data = json.load(open(gt_file))
    images = tmp_path / "images"
    images.mkdir()
    for im in data["images"]:
        Image.new("RGB", (im["width"], im["height"]), (9, 9, 9)).save(images / im["file_name"])
    coco_gt = coco_data.load_ground_truth(gt_file)
    truth = perfect_detections(data)

    def detector(batch):  # returns the ground truth of the images it is given
        assert batch.dtype == np.uint8 and batch.shape[1:] == (64, 80, 3)
        return oracle.pop(0)

    oracle = []
    for ids, _ in coco_data.batches(coco_data.iter_images(coco_gt, str(images)), 2):
        boxes = np.zeros((len(ids), 4, 4), np.float32)
        classes, scores = np.zeros((len(ids), 4)), np.zeros((len(ids), 4), np.float32)
        counts = np.zeros(len(ids), np.int32)
        for b, image_id in enumerate(ids):
            for k, det in enumerate(d for d in truth if d["image_id"] == image_id):
                x, y, w, h = det["bbox"]
                boxes[b, k] = [y, x, y + h, x + w]
                classes[b, k], scores[b, k] = det["category_id"], 1.0
                counts[b] += 1
        oracle.append({"detection_boxes": boxes, "detection_classes": classes,
                       "detection_scores": scores, "num_detections": counts})
    out = tmp_path / "out"
    metrics = evaluate_lib.evaluate_detector(detector, gt_file, str(images), str(out), 2)
    assert metrics["AP"] == pytest.approx(1.0)
    assert len(json.load(open(out / "detections.json"))) == len(truth)

    (images / data["images"][0]["file_name"]).unlink()
    with pytest.raises(ValueError, match="not in .*images"):
        list(coco_data.iter_images(coco_gt, str(images)))
    with pytest.raises(ValueError, match="neither an image directory nor a TFRecord"):
        list(coco_data.iter_images(coco_gt, str(tmp_path / "nothing*")))


def test_checkpoint_step():
    assert evaluate_lib.checkpoint_step("/r/ckpt-1200") == 1200
    assert evaluate_lib.checkpoint_step("/r/final") is None
