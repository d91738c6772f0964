"""Detections drawn on images (PNG), from a detections list."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

from detection import visualize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from detection_helpers import perfect_detections, tiny_coco  # noqa: E402


def test_draw_detections_marks_the_box():
    image = np.full((40, 60, 3), 30, np.uint8)
    det = {"image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 15], "score": 0.9}
    low = dict(det, bbox=[0, 0, 5, 5], score=0.1)
    out = np.asarray(visualize.draw_detections(image, [det, low], {1: "rectangle"}, 0.5))
    assert out.shape == (40, 60, 3)
    assert tuple(out[35, 25]) == visualize.PALETTE[1]      # bottom edge of the box
    assert tuple(out[39, 2]) == (30, 30, 30)               # untouched background
    assert tuple(out[2, 2]) == (30, 30, 30)                # the low-score box is not drawn
    big = visualize.draw_detections(image, [det], {1: "rectangle"}, scale=2)
    assert big.size == (120, 80)
    with pytest.raises(ValueError, match="scale must be >= 1"):
        visualize.draw_detections(image, [det], {}, scale=0)


def test_render_writes_pngs(tmp_path):
    gt = str(tmp_path / "gt.json")
    data = tiny_coco(gt)
    images = tmp_path / "images"
    images.mkdir()
    for im in data["images"]:
        Image.new("RGB", (im["width"], im["height"]), (20, 20, 20)).save(images / im["file_name"])
    paths = visualize.render(perfect_detections(data), gt, str(images), str(tmp_path / "out"),
                             num_images=2, scale=2)
    assert [os.path.basename(p) for p in paths] == ["000011.png", "000012.png"]
    assert Image.open(paths[0]).size == (160, 128)
    with pytest.raises(ValueError, match="num_images must be >= 1"):
        visualize.render([], gt, str(images), str(tmp_path / "out"), num_images=0)
    with pytest.raises(ValueError, match="category id"):
        visualize.render([dict(perfect_detections(data)[0], category_id=9)], gt, str(images),
                         str(tmp_path / "x"))
