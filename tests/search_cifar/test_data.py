"""search_cifar.data: splits (never the test set), augmentation, normalisation, batching."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from nasnet import datasets
from search_cifar import data
from search_cifar.data import DataConfig, make_datasets

DIGITS = DataConfig(dataset="digits", image_size=16, batch_size=50)


class SearchDataTestImages(tfds.core.GeneratorBasedBuilder):
    """40 train / 10 test grey 10x10 images whose pixels hold the example id."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(10, 10, 1)),
                "label": tfds.features.ClassLabel(num_classes=4)}),
            supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        del dl_manager
        return {"train": self._generate_examples(40, 0), "test": self._generate_examples(10, 200)}

    def _generate_examples(self, n, offset):
        for i in range(n):
            yield i, {"image": np.full((10, 10, 1), offset + i, np.uint8), "label": i % 4}


NAME = "search_data_test_images"


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder(NAME, data_dir=root).download_and_prepare()
    return root


def batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_digits_pipeline_shapes_sizes_and_normalisation():
    config = dataclasses.replace(DIGITS, augment=False)
    train, val, info = make_datasets(config)
    assert (info.num_classes, info.train_examples, info.validation_examples) == (10, 1347, 150)
    assert info.train_batches == 1347 // 50
    train_batches, val_batches = batches(train), batches(val)
    assert len(train_batches) == 26 and all(x.shape == (50, 16, 16, 3) for x, _ in train_batches)
    assert all(x.dtype == np.float32 and y.dtype == np.int64 for x, y in train_batches)
    assert sum(len(y) for _, y in val_batches) == 150     # the last, partial batch is kept
    pixels = np.concatenate([x for x, _ in train_batches])
    assert abs(pixels.mean()) < 0.05 and abs(pixels.std() - 1.0) < 0.05
    assert info.to_dict()["mean"] == list(info.mean)
    assert data.steps_per_epoch(train, info) == 26
    assert data.num_examples_hint(info) == "digits: 1347 train / 150 validation at 16px"


def test_a_digits_validation_size_scores_children_on_more_images():
    config = dataclasses.replace(DIGITS, augment=False, validation_size=450)
    train, val, info = make_datasets(config)
    assert (info.train_examples, info.validation_examples) == (1047, 450)
    assert sum(len(y) for _, y in batches(val)) == 450
    assert data.steps_per_epoch(train, info) == 1047 // 50


def test_validation_is_fixed_and_training_is_reshuffled_and_augmented_reproducibly():
    train, val, _ = make_datasets(DIGITS)
    first_epoch, second_epoch = batches(train), batches(train)
    assert not np.array_equal(first_epoch[0][0], second_epoch[0][0])
    val_1, val_2 = batches(val), batches(val)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(val_1, val_2))
    # The same seed gives the same first epoch in a new pipeline.
    again, _, _ = make_datasets(DIGITS)
    assert np.array_equal(batches(again)[0][0], first_epoch[0][0])
    other, _, _ = make_datasets(dataclasses.replace(DIGITS, seed=1))
    assert not np.array_equal(batches(other)[0][0], first_epoch[0][0])


def test_augment_is_a_padded_crop_and_an_optional_flip():
    image = tf.random.uniform([8, 8, 3], seed=0)
    padded = np.pad(image.numpy(), [(2, 2), (2, 2), (0, 0)])
    windows = [padded[dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
    seen_flip = False
    for s in range(20):
        out = data.augment(image, tf.constant([s, 7], tf.int64), pad=2, flip=True).numpy()
        unflipped = any(np.array_equal(out, w) for w in windows)
        flipped = any(np.array_equal(out[:, ::-1], w) for w in windows)
        assert unflipped or flipped
        seen_flip |= flipped and not unflipped
    assert seen_flip
    out = data.augment(image, tf.constant([3, 7], tf.int64), pad=0, flip=False)
    assert np.array_equal(out.numpy(), image.numpy())


def test_sources_are_reused_by_compatible_configs_only():
    sources = data.load_sources(DIGITS)
    train, _, _ = make_datasets(dataclasses.replace(DIGITS, batch_size=10, seed=3), sources)
    assert next(iter(train))[0].shape == (10, 16, 16, 3)
    with pytest.raises(ValueError, match=r"another data config.*'image_size': \(16, 32\)"):
        make_datasets(dataclasses.replace(DIGITS, image_size=32), sources)


def test_config_defaults_pad_flip_and_digits_split():
    assert DataConfig().crop_pad == 4 and DataConfig(image_size=16).crop_pad == 2
    assert DataConfig(pad=0).crop_pad == 0
    assert DataConfig().use_flip and not DIGITS.use_flip
    assert DataConfig(dataset="digits", flip=True).use_flip
    assert DataConfig(dataset="cifar100:3.0.2").base_name == "cifar100"


@pytest.mark.parametrize("kwargs, match", [
    (dict(dataset=""), "dataset"),
    (dict(image_size=4), "image_size"),
    (dict(train_split="test"), "test split"),
    (dict(validation_size=0), "validation_size"),
    (dict(train_limit=0), "train_limit"),
    (dict(eval_batch_size=0), "eval_batch_size"),
    (dict(dataset="digits", validation_size=9), "validation_size must be in \\[10, 1487\\] "
                                                "for digits .* got 9"),
    (dict(dataset="digits", validation_size=1488), "validation_size must be in \\[10, 1487\\]"),
    (dict(dataset="digits", train_split="train[:50%]"), "train_split must be 'train' for digits"),
    (dict(batch_size=0), "batch_size"),
    (dict(shuffle_buffer=0), "shuffle_buffer"),
    (dict(normalization_examples=0), "normalization_examples"),
    (dict(pad=-1), "pad"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataConfig(**kwargs)


def test_cifar10_on_mock_data_holds_out_the_last_5000():
    with tfds.testing.mock_data(num_examples=20):
        train, val, info = make_datasets(DataConfig(dataset="cifar10", batch_size=8))
        assert info.train_split == "train[:-5000]" and info.validation_split == "train[-5000:]"
        assert info.num_classes == 10 and info.train_examples is None
        x, y = next(iter(train))
        assert x.shape == (8, 32, 32, 3) and x.dtype == tf.float32 and y.dtype == tf.int64
        assert data.steps_per_epoch(train, info) == 2   # counted: 20 // 8
        assert sum(len(y) for _, y in val) == 20


def test_missing_cifar10_fails_fast(tmp_path):
    start = time.perf_counter()
    with pytest.raises(datasets.DatasetNotPreparedError, match="tfds build cifar10"):
        make_datasets(DataConfig(dataset="cifar10", data_dir=str(tmp_path)))
    assert time.perf_counter() - start < 10.0


def test_prepared_dataset_split_default_fraction_limit_and_resize(prepared_dir):
    config = DataConfig(dataset=NAME, data_dir=prepared_dir, image_size=8, batch_size=4,
                        augment=False, shuffle_buffer=1)
    train, val, info = make_datasets(config)
    # 10 % of 40 held out from the end of the training split; the test split unread.
    assert (info.train_examples, info.validation_examples) == (36, 4)
    assert info.validation_split == "train[-4:]"
    (x, _), = batches(val)
    assert x.shape == (4, 8, 8, 3)        # resized, grey repeated to RGB
    limited, _, info = make_datasets(dataclasses.replace(config, train_limit=9, validation_size=10))
    assert info.train_examples == 9 and info.train_batches == 2
    assert sum(len(y) for _, y in limited) == 8


def test_impossible_splits_are_rejected(prepared_dir):
    with pytest.raises(ValueError, match="validation_size 40 leaves no training examples"):
        make_datasets(DataConfig(dataset=NAME, data_dir=prepared_dir, validation_size=40))
    with pytest.raises(ValueError, match="has no split 'extra'"):
        make_datasets(DataConfig(dataset=NAME, data_dir=prepared_dir, train_split="extra"))
    with pytest.raises(ValueError, match="batch_size 32 is larger than the 10 training"):
        make_datasets(dataclasses.replace(DIGITS, train_limit=10, batch_size=32))


def test_unknown_split_sizes_need_an_explicit_validation_size():
    with tfds.testing.mock_data(num_examples=4):
        with pytest.raises(ValueError, match="validation_size must be given for dataset 'mnist'"):
            make_datasets(DataConfig(dataset="mnist"))


def test_only_grey_and_rgb_images(monkeypatch):
    four = datasets.DatasetInfo(name="rgba", num_classes=2, image_shape=(8, 8, 4), split_sizes={})
    monkeypatch.setattr(datasets, "tfds_info", lambda name, data_dir=None: four)
    with pytest.raises(ValueError, match="4-channel images"):
        make_datasets(DataConfig(dataset="rgba"))


def test_statistics_need_images():
    with pytest.raises(ValueError, match="no training images"):
        data._channel_stats([])
