"""Small COCO files for the detection tests (no TensorFlow)."""

from __future__ import annotations

import json
import os


def tiny_coco(path: str) -> dict:
    """Writes a 3-image, 2-category COCO instances file; returns its content."""
    images = [{"id": i, "file_name": f"{i:06d}.jpg", "height": 64, "width": 80}
              for i in (11, 12, 13)]
    boxes = {11: [(1, [4, 5, 20, 18]), (2, [40, 30, 22, 25])],
             12: [(1, [10, 10, 40, 40])],
             13: [(2, [2, 2, 8, 6]), (2, [50, 20, 20, 30]), (1, [30, 40, 12, 12])]}
    annotations, next_id = [], 1
    for image_id, objects in boxes.items():
        for category, (x, y, w, h) in objects:
            annotations.append({"id": next_id, "image_id": image_id, "category_id": category,
                                "bbox": [x, y, w, h], "area": float(w * h), "iscrowd": 0,
                                "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
            next_id += 1
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "rectangle"}, {"id": 2, "name": "ellipse"}]}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return data


def perfect_detections(data: dict) -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": a["category_id"],
             "bbox": list(a["bbox"]), "score": 1.0} for a in data["annotations"]]


def write_json(path: str, value) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)
    return path
