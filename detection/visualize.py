"""Detections drawn on images: boxes, class names and scores, saved as PNG.

``draw_detections`` draws COCO-style results (``bbox`` = [x, y, w, h] in
pixels) on one image; ``render`` does it for the first images of an
annotation file, from a detections list (a COCO results file, or a
detector's output through ``coco_data.run_detector``), optionally with
the ground truth in thin white boxes. Files are written atomically.

Example:
    >>> detector = serving.saved_model_detector("out/zoo/shapes_nasnet_fpn")
    >>> render_with_detector(detector, "instances_val.json", "images/val", "out/drawn")
    ['out/drawn/000501.png', ...]
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from detection import coco_data
from nasnet import io_utils

PALETTE = ((255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (200, 64, 255),
           (0, 210, 210), (255, 128, 0), (160, 160, 160))
GROUND_TRUTH_COLOUR = (255, 255, 255)


def draw_detections(image: np.ndarray, detections: list[dict[str, Any]],
                    labels: dict[int, str], min_score: float = 0.5,
                    ground_truth: list[dict[str, Any]] | None = None,
                    scale: int = 1) -> Image.Image:
    """One image ``uint8 [H, W, 3]`` with boxes; ``scale`` enlarges small images first."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(pil)
    font = ImageFont.load_default()
    for ann in ground_truth or []:
        x, y, w, h = (v * scale for v in ann["bbox"])
        draw.rectangle([x, y, x + w, y + h], outline=GROUND_TRUTH_COLOUR, width=1)
    for det in sorted(detections, key=lambda d: d["score"]):
        if det["score"] < min_score:
            continue
        x, y, w, h = (v * scale for v in det["bbox"])
        colour = PALETTE[int(det["category_id"]) % len(PALETTE)]
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=2)
        text = f"{labels.get(int(det['category_id']), det['category_id'])} {det['score']:.2f}"
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        ty = y - (bottom - top) - 2 if y - (bottom - top) - 2 >= 0 else y + 1
        draw.rectangle([x, ty, x + (right - left) + 3, ty + (bottom - top) + 2], fill=colour)
        draw.text((x + 2, ty), text, fill=(0, 0, 0), font=font)
    return pil


def render(detections: list[dict[str, Any]], annotation_file: str, image_source: str,
           output_dir: str, num_images: int = 4, min_score: float = 0.5,
           show_ground_truth: bool = True, scale: int = 3) -> list[str]:
    """PNGs of the first ``num_images`` images of the annotation file; returns the paths."""
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    coco_gt = coco_data.load_ground_truth(annotation_file)
    detections = coco_data.validate_detections(detections, coco_gt)
    labels = {c["id"]: c["name"] for c in coco_gt.dataset["categories"]}
    wanted = {im["id"]: im for im in coco_gt.dataset["images"][:num_images]}
    by_image: dict[Any, list] = {}
    for det in detections:
        by_image.setdefault(det["image_id"], []).append(det)
    written = []
    subset = _Subset(coco_gt, list(wanted.values()))
    for image_id, pixels in coco_data.iter_images(subset, image_source):
        gt = coco_gt.loadAnns(coco_gt.getAnnIds(imgIds=[image_id])) if show_ground_truth else None
        pil = draw_detections(pixels, by_image.get(image_id, []), labels, min_score, gt, scale)
        name = os.path.splitext(os.path.basename(wanted[image_id]["file_name"]))[0] + ".png"
        buffer = io.BytesIO()
        pil.save(buffer, format="PNG")
        path = os.path.join(output_dir, name)
        io_utils.atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    return written


def render_with_detector(detector: coco_data.Detector, annotation_file: str,
                         image_source: str, output_dir: str, num_images: int = 4,
                         min_score: float = 0.5, **kwargs) -> list[str]:
    """Runs ``detector`` on the first images, then ``render``."""
    coco_gt = coco_data.load_ground_truth(annotation_file)
    subset = _Subset(coco_gt, coco_gt.dataset["images"][:num_images])
    detections = coco_data.run_detector(detector, subset, image_source)
    return render(detections, annotation_file, image_source, output_dir, num_images,
                  min_score, **kwargs)


class _Subset:
    """The parts of a pycocotools COCO that ``iter_images`` / ``run_detector`` read."""

    def __init__(self, coco_gt, images: list[dict[str, Any]]):
        self.dataset = {"images": images, "categories": coco_gt.dataset["categories"]}
        self._categories = coco_gt.getCatIds()

    def getCatIds(self):  # noqa: N802 - pycocotools' name
        return self._categories
