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
    with pytest.raises(ValueError, match="annotation file .*bad.json' is not valid JSON"):
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
    with pytest.raises(ValueError, match="detections file .* is not valid JSON"):
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


def _instances():
    return {"images": [{"id": 1, "file_name": "a.jpg", "height": 8, "width": 8},
                       {"id": 2, "file_name": "b.jpg"}],
            "categories": [{"id": 1, "name": "box"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2],
                             "area": 4.0, "iscrowd": 0}]}


def _edit(path, value):
    def apply(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return data
    return apply


@pytest.mark.parametrize("edit, message", [
    (lambda d: [1], r"must hold a JSON object, got \[1\]"),
    (lambda d: {**d, "images": {}}, r"no list \['images'\]"),
    (lambda d: {**d, "images": []}, "lists no images"),
    (_edit(("images", 1), "b.jpg"), r"images\[1\] must be an object"),
    (_edit(("images", 0, "id"), True), r"images\[0\].id must be an integer, got true"),
    (_edit(("images", 1, "id"), 1), r"images\[1\].id 1 is not unique"),
    (_edit(("images", 0, "file_name"), None), r"images\[0\].file_name must be a string"),
    (_edit(("images", 0, "height"), True), r"images\[0\].height must be a positive integer"),
    (_edit(("images", 0, "width"), 0), r"images\[0\].width must be a positive integer"),
    (_edit(("categories", 0, "id"), "1"), r"categories\[0\].id must be an integer"),
    (_edit(("categories", 0, "name"), 7), r"categories\[0\].name must be a string"),
    (_edit(("annotations", 0, "id"), [1]), r"annotations\[0\].id must be an integer"),
    (_edit(("annotations", 0, "image_id"), True),
     r"annotations\[0\].image_id must be the id of a listed image, got true"),
    (_edit(("annotations", 0, "image_id"), [1]), r"annotations\[0\].image_id must be"),
    (_edit(("annotations", 0, "image_id"), 9), r"annotations\[0\].image_id must be"),
    (_edit(("annotations", 0, "category_id"), 5),
     r"annotations\[0\].category_id must be the id of a listed category, got 5"),
    (_edit(("annotations", 0, "bbox"), [0, 0, 2]), r"annotations\[0\].bbox must be"),
    (_edit(("annotations", 0, "bbox"), [0, 0, True, 2]), r"annotations\[0\].bbox must be"),
    (_edit(("annotations", 0, "area"), -1), r"annotations\[0\].area must be a number >= 0"),
    (_edit(("annotations", 0, "iscrowd"), True), r"annotations\[0\].iscrowd must be 0 or 1, "
                                                  r"got true"),
    (lambda d: {**d, "annotations": [{**d["annotations"][0], "iscrowd": 2}]},
     "iscrowd must be 0 or 1, got 2"),
])
def test_annotation_files_pycocotools_cannot_score_are_refused(tmp_path, edit, message):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(edit(_instances())))
    with pytest.raises(ValueError, match=message) as e:
        coco_data.load_ground_truth(str(path))
    assert str(e.value).startswith(f"annotation file {str(path)!r}")
    assert coco_data.check_instances(_instances(), "x") == _instances()


@pytest.mark.parametrize("key, value", [("image_id", True), ("category_id", 1.0),
                                        ("image_id", [1]), ("category_id", None)])
def test_detection_ids_must_be_integers(tmp_path, key, value):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(_instances()))
    coco_gt = coco_data.load_ground_truth(str(path))
    det = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5, key: value}
    with pytest.raises(ValueError, match=f"detection 0: {key} must be an integer"):
        coco_data.validate_detections([det], coco_gt)
    assert coco_data.validate_detections([{**det, key: 1}], coco_gt)[0]["score"] == 0.5
