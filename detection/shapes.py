"""A synthetic COCO-format detection set: rectangles, ellipses and triangles.

Each image has 1..``max_objects`` filled shapes of several colours and sizes
on a noisy background; shapes never overlap (their boxes are at least
``margin`` pixels apart), so every box is tight and fully visible. The class
is the shape (rectangle, ellipse, triangle), never the colour. Everything
is drawn from ``numpy.random.default_rng(seed)``: the same arguments give
byte-identical files.

Written layout (``generate(output_dir, ...)``)::

    output_dir/
      images/train/000001.jpg ...       JPEG, RGB, ``image_size`` x ``image_size``
      images/val/...
      instances_train.json              COCO "instances" format: info, licenses,
      instances_val.json                images, annotations (bbox [x, y, w, h],
                                        area, iscrowd, polygon segmentation), categories

Image ids are unique across splits (train 1.., val after train), annotation
ids likewise. ``tfrecords.convert_split`` turns a split into TFRecords with the
Model Garden's COCO converter.

Example:
    >>> generate("/tmp/shapes", num_train=500, num_val=50, seed=0)
    {'train': '/tmp/shapes/instances_train.json', 'val': '/tmp/shapes/instances_val.json'}
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os

import numpy as np
from PIL import Image, ImageDraw

from nasnet import io_utils

#: COCO categories; ids start at 1 as in COCO (0 is the background class).
CATEGORIES = ({"id": 1, "name": "rectangle", "supercategory": "shape"},
              {"id": 2, "name": "ellipse", "supercategory": "shape"},
              {"id": 3, "name": "triangle", "supercategory": "shape"})
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220),
           "yellow": (230, 200, 30), "magenta": (200, 50, 200), "cyan": (30, 190, 200)}
SPLITS = ("train", "val")
IMAGES_DIR = "images"
JPEG_QUALITY = 95


def annotation_file(output_dir: str, split: str) -> str:
    return os.path.join(output_dir, f"instances_{split}.json")


def image_dir(output_dir: str, split: str) -> str:
    return os.path.join(output_dir, IMAGES_DIR, split)


@dataclasses.dataclass(frozen=True)
class ShapesConfig:
    """What the images look like. Sizes are in pixels."""

    image_size: int = 128
    min_objects: int = 1
    max_objects: int = 4
    min_size: int = 14
    max_size: int = 56
    margin: int = 2
    noise: float = 12.0

    def __post_init__(self):
        if self.image_size < 16:
            raise ValueError(f"image_size must be >= 16, got {self.image_size}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need 1 <= min_objects <= max_objects, got "
                             f"{self.min_objects}, {self.max_objects}")
        if not 4 <= self.min_size <= self.max_size <= self.image_size:
            raise ValueError(f"need 4 <= min_size <= max_size <= image_size, got "
                             f"{self.min_size}, {self.max_size}, {self.image_size}")
        if self.margin < 0 or self.noise < 0:
            raise ValueError(f"margin and noise must be >= 0, got {self.margin}, {self.noise}")


def _polygon(kind: str, x: float, y: float, w: float, h: float, rng) -> list[tuple[float, float]]:
    """The shape's outline inside box (x, y, w, h); its extremes touch the box."""
    if kind == "rectangle":
        return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    if kind == "ellipse":
        cx, cy = x + w / 2, y + h / 2
        return [(cx + w / 2 * math.cos(t), cy + h / 2 * math.sin(t))
                for t in np.linspace(0, 2 * math.pi, 32, endpoint=False)]
    # Triangle: base on one side of the box, apex anywhere on the opposite side.
    apex = x + float(rng.uniform(0.0, 1.0)) * w
    if rng.integers(2):
        return [(x, y + h), (x + w, y + h), (apex, y)]
    return [(x, y), (x + w, y), (apex, y + h)]


def _area(points: list[tuple[float, float]]) -> float:
    """Shoelace formula."""
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        total += x0 * y1 - x1 * y0
    return abs(total) / 2.0


def _overlaps(box, boxes, margin) -> bool:
    x, y, w, h = box
    for bx, by, bw, bh in boxes:
        if (x < bx + bw + margin and bx < x + w + margin and
                y < by + bh + margin and by < y + h + margin):
            return True
    return False


def draw_image(rng: np.random.Generator, config: ShapesConfig):
    """One image and its objects: ``(uint8 [S, S, 3], [(category_id, box, polygon)])``."""
    size = config.image_size
    base = rng.integers(90, 236, size=3)
    pixels = np.broadcast_to(base, (size, size, 3)).astype(np.float32)
    if config.noise:
        pixels = pixels + rng.normal(0.0, config.noise, size=(size, size, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    wanted = int(rng.integers(config.min_objects, config.max_objects + 1))
    objects, boxes = [], []
    colour_names = sorted(COLOURS)
    for _ in range(wanted * 20):  # rejection sampling of free places
        if len(objects) == wanted:
            break
        w = int(rng.integers(config.min_size, config.max_size + 1))
        h = int(np.clip(w * rng.uniform(0.6, 1.6), config.min_size, config.max_size))
        x = int(rng.integers(0, size - w + 1))
        y = int(rng.integers(0, size - h + 1))
        if _overlaps((x, y, w, h), boxes, config.margin):
            continue
        category = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        colour = COLOURS[colour_names[int(rng.integers(len(colour_names)))]]
        # Pixel (x, y) covers [x, x + 1): a shape spanning w pixels has box (x, y, w, h).
        points = _polygon(category["name"], x, y, w, h, rng)
        draw.polygon([(px - 0.5, py - 0.5) for px, py in points], fill=colour)
        boxes.append((x, y, w, h))
        objects.append((category["id"], (x, y, w, h), points))
    return np.asarray(image), objects


def generate(output_dir: str, num_train: int = 500, num_val: int = 50, seed: int = 0,
             config: ShapesConfig = ShapesConfig()) -> dict[str, str]:
    """Writes the images and ``instances_{train,val}.json``; returns the annotation files.

    Each annotation file is written atomically after its images, so a
    present JSON file means a complete split.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f"num_train and num_val must be >= 1, got {num_train}, {num_val}")
    rng = np.random.default_rng(seed)
    written = {}
    next_image_id, next_ann_id = 1, 1
    created = datetime.datetime(2026, 1, 1).isoformat()
    for split, count in (("train", num_train), ("val", num_val)):
        directory = image_dir(output_dir, split)
        os.makedirs(directory, exist_ok=True)
        images, annotations = [], []
        for _ in range(count):
            pixels, objects = draw_image(rng, config)
            file_name = f"{next_image_id:06d}.jpg"
            Image.fromarray(pixels).save(os.path.join(directory, file_name), format="JPEG",
                                         quality=JPEG_QUALITY)
            images.append({"id": next_image_id, "file_name": file_name,
                           "height": config.image_size, "width": config.image_size,
                           "license": 1, "date_captured": created})
            for category_id, (x, y, w, h), points in objects:
                annotations.append({
                    "id": next_ann_id, "image_id": next_image_id, "category_id": category_id,
                    "bbox": [float(x), float(y), float(w), float(h)],
                    "area": round(_area(points), 2), "iscrowd": 0,
                    "segmentation": [[round(c, 2) for p in points for c in p]]})
                next_ann_id += 1
            next_image_id += 1
        dataset = {
            "info": {"description": "Synthetic shapes (detection.shapes)", "version": "1.0",
                     "year": 2026, "contributor": "nasnet pipeline", "date_created": created,
                     "seed": seed},
            "licenses": [{"id": 1, "name": "CC0 1.0",
                          "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
            "images": images, "annotations": annotations, "categories": list(CATEGORIES)}
        path = annotation_file(output_dir, split)
        io_utils.atomic_write_json(path, dataset)
        written[split] = path
    return written
