"""The synthetic shapes set and its conversion by the Model Garden's COCO converter."""

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from detection import shapes, tfrecords


def _digest(directory):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(directory)):
        for name in sorted(files):
            h.update(name.encode())
            h.update(open(os.path.join(root, name), "rb").read())
    return h.hexdigest()


def test_generate_is_deterministic_and_coco_shaped(tmp_path):
    a, b, c = (str(tmp_path / n) for n in "abc")
    shapes.generate(a, num_train=6, num_val=3, seed=5)
    shapes.generate(b, num_train=6, num_val=3, seed=5)
    shapes.generate(c, num_train=6, num_val=3, seed=6)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)

    train = json.load(open(shapes.annotation_file(a, "train")))
    val = json.load(open(shapes.annotation_file(a, "val")))
    for key in ("info", "licenses", "images", "annotations", "categories"):
        assert key in train
    assert [c["name"] for c in train["categories"]] == ["rectangle", "ellipse", "triangle"]
    assert len(train["images"]) == 6 and len(val["images"]) == 3
    image_ids = [im["id"] for im in train["images"] + val["images"]]
    ann_ids = [an["id"] for an in train["annotations"] + val["annotations"]]
    assert len(set(image_ids)) == 9 and len(set(ann_ids)) == len(ann_ids)
    for an in train["annotations"]:
        x, y, w, h = an["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 128 and y + h <= 128 and w >= 14 and h >= 14
        assert 0 < an["area"] <= w * h + 1e-6 and an["iscrowd"] == 0
        assert len(an["segmentation"][0]) >= 6
    assert {an["category_id"] for an in train["annotations"]} <= {1, 2, 3}


def test_boxes_are_tight_around_the_drawn_shapes():
    rng = np.random.default_rng(0)
    config = shapes.ShapesConfig(noise=0.0, max_objects=1)
    for _ in range(20):
        pixels, objects = shapes.draw_image(rng, config)
        (category, (x, y, w, h), _), = objects
        background = pixels[0, 0] if (x, y) != (0, 0) else pixels[-1, -1]
        mask = np.any(np.abs(pixels.astype(int) - background.astype(int)) > 0, axis=-1)
        ys, xs = np.nonzero(mask)
        assert abs(xs.min() - x) <= 1 and abs(xs.max() + 1 - (x + w)) <= 1, category
        assert abs(ys.min() - y) <= 1 and abs(ys.max() + 1 - (y + h)) <= 1, category


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": 8}, "image_size"),
    ({"min_objects": 0}, "min_objects"),
    ({"min_objects": 3, "max_objects": 2}, "min_objects"),
    ({"min_size": 2}, "min_size"),
    ({"max_size": 200}, "max_size"),
    ({"margin": -1}, "margin"),
])
def test_shapes_config_validates(kwargs, message):
    with pytest.raises(ValueError, match=message):
        shapes.ShapesConfig(**kwargs)


def test_generate_rejects_empty_splits(tmp_path):
    with pytest.raises(ValueError, match="num_train and num_val"):
        shapes.generate(str(tmp_path), num_train=0, num_val=1)


def test_make_shapes_writes_converter_tfrecords(tmp_path):
    import tensorflow as tf
    made = tfrecords.make_shapes(str(tmp_path), num_train=5, num_val=3, seed=1, num_shards=2)
    assert [os.path.basename(p) for p in made["tfrecords"]["train"]] == [
        "train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    val = json.load(open(made["annotations"]["val"]))
    records = list(tf.data.TFRecordDataset(made["tfrecords"]["val"]))
    assert len(records) == 3
    seen = {}
    for raw in records:
        ex = tf.train.Example.FromString(raw.numpy()).features.feature
        source_id = int(ex["image/source_id"].bytes_list.value[0])
        seen[source_id] = (list(ex["image/object/class/label"].int64_list.value),
                           list(ex["image/object/bbox/xmin"].float_list.value))
        image = tf.io.decode_image(ex["image/encoded"].bytes_list.value[0]).numpy()
        assert image.shape == (128, 128, 3)
    assert sorted(seen) == sorted(im["id"] for im in val["images"])
    for an in val["annotations"]:
        labels, xmins = seen[an["image_id"]]
        assert an["category_id"] in labels
        assert any(abs(v - an["bbox"][0] / 128) < 1e-6 for v in xmins)
    # The evaluation job reads images from these TFRecords; a missing image is an error.
    from detection import coco_data
    coco_gt = coco_data.load_ground_truth(made["annotations"]["val"])
    got = list(coco_data.iter_images(coco_gt, str(tmp_path / "val*")))
    assert sorted(i for i, _ in got) == sorted(im["id"] for im in val["images"])
    assert got[0][1].shape == (128, 128, 3)
    coco_gt.dataset["images"].append(dict(val["images"][0], id=999))
    with pytest.raises(ValueError, match=r"1 image\(s\) of the annotation file are not in the "
                                         r"TFRecords"):
        list(coco_data.iter_images(coco_gt, str(tmp_path / "val*")))
    # Converting again replaces the files; no temporary directory is left.
    tfrecords.convert_split(made["annotations"]["val"], shapes.image_dir(str(tmp_path), "val"),
                            str(tmp_path / "val"), num_shards=1)
    names = sorted(os.listdir(tmp_path))
    assert "val-00000-of-00001.tfrecord" in names
    assert "val-00000-of-00002.tfrecord" not in names
    assert not [n for n in names if n.startswith(".")]


def test_conversion_errors_leave_no_files(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="does not exist"):
        tfrecords.convert_split(str(tmp_path / "none.json"), str(tmp_path), str(out / "train"))
    bad = tmp_path / "bad.json"
    bad.write_text("[")
    with pytest.raises(ValueError, match="not readable JSON"):
        tfrecords.load_annotations(str(bad))
    bad.write_text("[]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        tfrecords.load_annotations(str(bad))
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match=r"no \['annotations', 'categories'\]"):
        tfrecords.load_annotations(str(bad))

    paths = shapes.generate(str(tmp_path / "set"), num_train=2, num_val=1, seed=0)
    images = shapes.image_dir(str(tmp_path / "set"), "train")
    with pytest.raises(ValueError, match="num_shards"):
        tfrecords.convert_split(paths["train"], images, str(out / "train"), num_shards=0)
    with pytest.raises(ValueError, match="image directory .* does not exist"):
        tfrecords.convert_split(paths["train"], str(tmp_path / "nope"), str(out / "train"))
    os.unlink(os.path.join(images, sorted(os.listdir(images))[0]))
    with pytest.raises(ValueError, match="1 images of .* are not in"):
        tfrecords.convert_split(paths["train"], images, str(out / "train"))
    assert not out.exists() or os.listdir(out) == []
    assert Image.open(os.path.join(images, os.listdir(images)[0])).size == (128, 128)
