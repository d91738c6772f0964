"""Inception-style preprocessing, datasets by name (tfds mock, digits), fail-fast errors."""

import time

import numpy as np
import pytest
import tensorflow as tf

from nasnet import datasets
from transfer import data
from transfer.config import DataConfig


def _images(n=3, h=40, w=52, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (n, h, w, 3)).astype(np.uint8)


def test_eval_preprocessing_is_central_crop_resize_and_scale():
    images = _images()
    out = data.preprocess_for_eval(images, 24, "inception").numpy()
    assert out.shape == (3, 24, 24, 3) and out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0
    # The same function on one image gives the same numbers (serving relies on it).
    single = data.preprocess_for_eval(images[1], 24, "inception").numpy()
    np.testing.assert_array_equal(single, out[1])
    # Central 87.5 %: a constant border outside the crop does not reach the output.
    framed = np.zeros((1, 64, 64, 3), np.uint8)
    framed[:, 4:60, 4:60] = 200
    inner = data.preprocess_for_eval(framed, 28, "inception").numpy()
    np.testing.assert_allclose(inner, 200 / 255 * 2 - 1, atol=1e-5)


def test_resize_preprocessing_keeps_the_whole_image():
    image = np.full((8, 8, 3), 255, np.uint8)
    image[0, 0] = 0
    out = data.preprocess_for_eval(image, 16, "resize").numpy()
    assert out.shape == (16, 16, 3) and out[0, 0, 0] < 0.5     # the corner survives


def test_train_preprocessing_shapes_and_range():
    tf.random.set_seed(0)
    for method in ("inception", "resize"):
        out = data.preprocess_for_train(tf.constant(_images(1)[0]), 32, method)
        assert tuple(out.shape) == (32, 32, 3)
        assert float(tf.reduce_min(out)) >= -1.0 and float(tf.reduce_max(out)) <= 1.0


def test_grey_images_become_rgb_and_other_channel_counts_fail():
    grey = np.zeros((10, 10, 1), np.uint8)
    assert data.preprocess_for_eval(grey, 8, "resize").shape == (8, 8, 3)
    with pytest.raises(ValueError, match="1 or 3 channels, got 4"):
        data.preprocess_for_eval(np.zeros((10, 10, 4), np.uint8), 8, "resize")
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        data.preprocess_for_eval(grey, 8, "vgg")
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        data.preprocess_for_train(grey, 8, "vgg")


def test_unknown_channel_count_fails():
    @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.uint8)])
    def f(x):
        return data.to_rgb(x)
    with pytest.raises(ValueError, match="static channel count"):
        f.get_concrete_function()


def test_decode_image_reads_png_and_jpeg():
    image = _images(1, 20, 30)[0]
    png = tf.io.encode_png(image)
    np.testing.assert_array_equal(data.decode_image(png).numpy(), image)
    jpeg = tf.io.encode_jpeg(image)
    assert data.decode_image(jpeg).shape == (20, 30, 3)


def _fixed_window(monkeypatch):
    """The crop window is the only draw that differs between the two paths: fix it."""
    def window(shape):
        return tf.constant([3, 5, 0]), tf.constant([20, 30, -1])
    monkeypatch.setattr(data, "_crop_window", window)


@pytest.mark.parametrize("encode", [tf.io.encode_jpeg, tf.io.encode_png], ids=["jpeg", "png"])
def test_decoding_only_the_crop_gives_the_pipeline_of_the_decoded_image(monkeypatch, encode):
    _fixed_window(monkeypatch)
    encoded = encode(_images(1, 40, 52, seed=3)[0])
    decoded = data.decode_image(encoded)
    tf.random.set_seed(7)                 # same flip and colour draws on both paths
    before = data.preprocess_for_train(decoded, 24, "inception").numpy()
    tf.random.set_seed(7)
    after = data.decode_and_preprocess_for_train(encoded, 24, "inception").numpy()
    assert after.shape == (24, 24, 3) and after.min() >= -1.0 and after.max() <= 1.0
    np.testing.assert_allclose(after, before, atol=1e-6)
    resized = data.decode_and_preprocess_for_train(encoded, 16, "resize").numpy()
    np.testing.assert_allclose(resized, data.preprocess_for_train(decoded, 16, "resize"))
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        data.decode_and_preprocess_for_train(encoded, 8, "vgg")


def _stages(ds):
    """The dataset and the ones it reads from, outermost first."""
    while ds is not None:
        yield ds
        ds = getattr(ds, "_input_dataset", None)


def test_imagenet_training_shuffles_jpeg_bytes_and_decodes_the_crop_after():
    import tensorflow_datasets as tfds
    cfg = DataConfig(dataset="imagenet2012", shuffle_buffer=16)
    with tfds.testing.mock_data(num_examples=6):
        train = data.make_dataset(cfg, "train", training=True, image_size=24, batch_size=4,
                                  num_classes=1000, with_aux=False)
        images, targets = next(iter(train))
        sharded = data.make_dataset(cfg, "train", training=True, image_size=24, batch_size=4,
                                    num_classes=1000, with_aux=False, deterministic=True)
        evaluation = data.make_dataset(cfg, "validation", training=False, image_size=24,
                                       batch_size=4, num_classes=1000, with_aux=False)
        eval_images, _ = next(iter(evaluation))
    assert images.shape == (4, 24, 24, 3) and targets["logits"].shape == (4, 1000)
    assert eval_images.shape == (4, 24, 24, 3)
    shuffles = [d for d in _stages(train) if type(d).__name__.lstrip("_") == "ShuffleDataset"]
    assert len(shuffles) == 1 and shuffles[0].element_spec[0].dtype == tf.string

    def map_order(ds):     # the preprocessing map: the last map before batching
        maps = [d for d in _stages(ds) if type(d).__name__.lstrip("_") == "ParallelMapDataset"]
        return maps[0]._deterministic
    # Order kept only where data sharding needs it, and for evaluation.
    assert (map_order(train), map_order(sharded), map_order(evaluation)) == (
        "false", "true", "true")


def test_digits_dataset_batches_and_one_hot_targets():
    cfg = DataConfig(dataset="digits", preprocessing="resize", shuffle_buffer=64)
    ds = data.make_dataset(cfg, "train", training=True, image_size=16, batch_size=8,
                           num_classes=10, with_aux=True, seed=1)
    images, targets = next(iter(ds))
    assert images.shape == (8, 16, 16, 3) and sorted(targets) == ["aux_logits", "logits"]
    np.testing.assert_array_equal(targets["logits"].numpy().sum(axis=1), np.ones(8))
    evaluation = data.make_dataset(cfg, "validation", training=False, image_size=16,
                                   batch_size=64, num_classes=10, with_aux=False)
    sizes = [int(x.shape[0]) for x, _ in evaluation]
    assert sum(sizes) == 150 and sizes[-1] == 150 - 128        # one pass, last batch partial
    info = data.dataset_info(cfg, 16)
    assert info.num_classes == 10 and info.split_sizes["train"] == 1347
    with pytest.raises(ValueError, match="digits has no split 'dev'"):
        data.make_dataset(cfg, "dev", training=False, image_size=16, batch_size=8,
                          num_classes=10)


def test_any_tfds_dataset_by_name_under_mock_data():
    import tensorflow_datasets as tfds
    cfg = DataConfig(dataset="cifar10", train_split="train", eval_split="test")
    with tfds.testing.mock_data(num_examples=6):
        info = data.dataset_info(cfg, 24)
        ds = data.make_dataset(cfg, "train", training=True, image_size=24, batch_size=4,
                               num_classes=info.num_classes, with_aux=False)
        images, targets = next(iter(ds))
    assert info.num_classes == 10
    assert images.shape == (4, 24, 24, 3) and targets["logits"].shape == (4, 10)


def test_missing_tfds_data_fails_fast_with_instructions(tmp_path):
    start = time.perf_counter()
    with pytest.raises(datasets.DatasetNotPreparedError, match="not prepared"):
        data.dataset_info(DataConfig(dataset="cifar10", data_dir=str(tmp_path)), 32)
    assert time.perf_counter() - start < 30          # no download retries (minutes)


def test_missing_imagenet_explains_the_manual_download(tmp_path):
    with pytest.raises(datasets.DatasetNotPreparedError) as e:
        data.dataset_info(DataConfig(dataset="imagenet2012", data_dir=str(tmp_path)), 224)
    assert "ILSVRC2012_img_train.tar" in str(e.value) and "manual_dir" in str(e.value)


def test_manual_dir_must_hold_the_imagenet_tars(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "ILSVRC2012_img_val.tar").write_bytes(b"")
    cfg = DataConfig(dataset="imagenet2012", data_dir=str(tmp_path / "tfds"),
                     manual_dir=str(manual))
    with pytest.raises(ValueError, match=r"lacks \['ILSVRC2012_img_train.tar'\]"):
        data.dataset_info(cfg, 224)
    cfg = DataConfig(dataset="imagenet2012", data_dir=str(tmp_path / "tfds"),
                     manual_dir=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="is not a directory"):
        data.dataset_info(cfg, 224)


def test_unknown_split_of_a_prepared_dataset(monkeypatch):
    prepared = datasets.DatasetInfo(name="cifar10", num_classes=10, image_shape=(32, 32, 3),
                                    split_sizes={"train": 50000, "test": 10000},
                                    data_dir="/data/cifar10/3.0.2")
    monkeypatch.setattr(datasets, "tfds_info", lambda name, data_dir=None: prepared)
    with pytest.raises(ValueError, match=r"has no split 'validation'; its splits are"):
        data.dataset_info(DataConfig(dataset="cifar10"), 32)
    assert data.dataset_info(DataConfig(dataset="cifar10", eval_split="test[:50%]"), 32) is prepared


def test_unknown_dataset_name():
    with pytest.raises(datasets.UnknownDatasetError):
        data.dataset_info(DataConfig(dataset="cifar_ten"), 32)
