"""COCO ground truth and detections files: clear errors; detector outputs to COCO results;
images batched by size."""

import json

import numpy as np
import pytest

from detection import coco_data


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="annotation file .* does not exist"):
        coco_data.load_ground_truth(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not readable JSON"):
        coco_data.load_ground_truth(str(bad))
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="not in COCO instances format"):
        coco_data.load_ground_truth(str(bad))
    bad.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with pytest.raises(ValueError, match="lists no images"):
        coco_data.load_ground_truth(str(bad))
    with pytest.raises(ValueError, match="detections file .* does not exist"):
        coco_data.load_detections(str(tmp_path / "none.json"))
    bad.write_text("[{")
    with pytest.raises(ValueError, match="detections file .* is not readable JSON"):
        coco_data.load_detections(str(bad))


def test_detections_from_outputs_converts_boxes_and_drops_unknown_classes():
    outputs = {"detection_boxes": np.array([[[10, 20, 30, 60], [0, 0, 5, 5], [1, 1, 2, 2]]],
                                           np.float32),
               "detection_classes": np.array([[2, 9, 1]]),
               "detection_scores": np.array([[0.9, 0.8, 0.1]], np.float32),
               "num_detections": np.array([2])}
    dets = coco_data.detections_from_outputs([42], outputs, {1, 2})
    assert dets == [{"image_id": 42, "category_id": 2, "bbox": [20.0, 10.0, 40.0, 20.0],
                     "score": 0.9}]


def test_batches_group_same_sizes():
    items = [(1, np.zeros((4, 4, 3))), (2, np.zeros((4, 4, 3))), (3, np.zeros((5, 4, 3))),
             (4, np.zeros((4, 4, 3))), (5, np.zeros((4, 4, 3))), (6, np.zeros((4, 4, 3)))]
    got = [(ids, b.shape) for ids, b in coco_data.batches(items, 2)]
    assert got == [([1, 2], (2, 4, 4, 3)), ([3], (1, 5, 4, 3)), ([4, 5], (2, 4, 4, 3)),
                   ([6], (1, 4, 4, 3))]
