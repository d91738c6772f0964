"""nasnet.datasets: offline tfds loading that fails fast, dataset info, and digits."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from nasnet import datasets


class NasnetDatasetsTestImages(tfds.core.GeneratorBasedBuilder):
    """A prepared-on-the-spot tfds dataset: 12x12 grey images whose pixels hold
    the example id, 3 classes, 30 train and 10 test examples."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(12, 12, 1)),
                "label": tfds.features.ClassLabel(num_classes=3)}),
            supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        del dl_manager
        return {"train": self._generate_examples(30, 0), "test": self._generate_examples(10, 100)}

    def _generate_examples(self, n, offset):
        for i in range(n):
            yield i, {"image": np.full((12, 12, 1), offset + i, np.uint8), "label": i % 3}


NAME = "nasnet_datasets_test_images"


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tfds"))
    tfds.builder(NAME, data_dir=root).download_and_prepare()
    return root


def ids(ds):
    return sorted(int(image[0, 0, 0]) for image, _ in ds)


def test_missing_data_fails_within_seconds_saying_where_and_how(tmp_path):
    start = time.perf_counter()
    with pytest.raises(datasets.DatasetNotPreparedError) as info:
        datasets.load_tfds("cifar10", "train", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 10.0
    message = str(info.value)
    assert "'cifar10'" in message and str(tmp_path) in message
    assert "tfds build cifar10 --data_dir=" in message and "never downloads" in message
    assert isinstance(info.value, ValueError)


def test_missing_data_without_data_dir_names_the_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(datasets.DatasetNotPreparedError, match="no data_dir given"):
        datasets.load_tfds("cifar10", "test")


def test_unknown_name_suggests_close_names_and_how_to_list():
    with pytest.raises(datasets.UnknownDatasetError) as info:
        datasets.load_tfds("cifar_10", "train")
    assert "'cifar10'" in str(info.value) and "list_builders" in str(info.value)
    with pytest.raises(datasets.UnknownDatasetError, match="non-empty"):
        datasets.tfds_info("  ")


def test_a_text_dataset_is_not_image_classification():
    with pytest.raises(datasets.NotImageClassificationError, match="'glue/cola'.*sentence"):
        datasets.tfds_info("glue/cola")


def test_cifar10_on_mock_data():
    with tfds.testing.mock_data(num_examples=6):
        ds = datasets.load_tfds("cifar10", "train[-3:]")
        examples = list(ds)
        info = datasets.tfds_info("cifar10")
    assert len(examples) == 6     # the mock ignores slices
    image, label = examples[0]
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8 and label.dtype == np.int64
    assert info.num_classes == 10 and info.image_shape == (32, 32, 3)
    assert info.split_sizes == {}   # no metadata under the mock


def test_prepared_dataset_info_slices_and_splits(prepared_dir):
    info = datasets.tfds_info(NAME, prepared_dir)
    assert info.num_classes == 3 and info.image_shape == (12, 12, 1)
    assert info.split_sizes == {"train": 30, "test": 10}
    assert info.data_dir.startswith(prepared_dir)
    head = ids(datasets.load_tfds(NAME, "train[:-5]", prepared_dir))
    tail = ids(datasets.load_tfds(NAME, "train[-5:]", prepared_dir))
    assert len(head) == 25 and len(tail) == 5 and sorted(head + tail) == list(range(30))
    # Unshuffled files: the same slice is the same examples every time.
    assert ids(datasets.load_tfds(NAME, "train[-5:]", prepared_dir)) == tail
    image, label = next(iter(datasets.load_tfds(NAME, "test", prepared_dir)))
    assert image.shape == (12, 12, 1) and image.dtype == np.uint8 and label.dtype == np.int64
    assert datasets.info(NAME, prepared_dir).split_sizes["test"] == 10


def test_images_can_stay_encoded(prepared_dir):
    decoded = list(datasets.load_tfds(NAME, "test", prepared_dir))
    encoded = list(datasets.load_tfds(NAME, "test", prepared_dir, decode_images=False))
    assert len(encoded) == len(decoded) == 10
    for (raw, label), (image, same_label) in zip(encoded, decoded):
        assert raw.dtype == tf.string and raw.shape == ()
        np.testing.assert_array_equal(tf.io.decode_image(raw).numpy(), image.numpy())
        assert label == same_label


def test_unknown_split_lists_the_splits(prepared_dir):
    with pytest.raises(ValueError, match=r"no split 'validation'.*\['test', 'train'\]"):
        datasets.load_tfds(NAME, "validation[:10]", prepared_dir)


def test_other_assertion_errors_of_a_prepared_dataset_are_not_masked(prepared_dir, monkeypatch):
    def broken(*args, **kwargs):
        raise AssertionError("something else")
    monkeypatch.setattr(tfds.core.DatasetBuilder, "as_dataset", broken)
    with pytest.raises(AssertionError, match="something else"):
        datasets.load_tfds(NAME, "train", prepared_dir)


def test_digits_splits_are_cifar_proportioned_stratified_and_seeded():
    splits = datasets.digits(image_size=16, seed=0)
    sizes = {k: len(v[1]) for k, v in splits.items()}
    assert sizes == {"train": 1347, "validation": 150, "test": 300}
    assert sum(sizes.values()) == datasets.DIGITS_NUM_EXAMPLES
    for images, labels in splits.values():
        assert images.shape[1:] == (16, 16, 3) and images.dtype == np.uint8
        assert labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))
        assert np.array_equal(images[..., 0], images[..., 2])
        assert not images.flags.writeable
    assert splits["train"][0].max() > 200   # scaled to 0..255
    # Disjoint: no image appears in two splits.
    keys = {k: {img.tobytes() for img in v[0]} for k, v in splits.items()}
    assert len(keys["train"] & keys["test"]) <= 5   # identical digit images exist in the data
    again = datasets.digits(image_size=16, seed=0)
    assert np.array_equal(again["validation"][1], splits["validation"][1])
    other = datasets.digits(image_size=16, seed=1)
    assert not np.array_equal(other["validation"][1], splits["validation"][1])


def test_a_digits_validation_size_grows_validation_from_train_and_keeps_the_test_split():
    default = datasets.digits(image_size=8, seed=0)
    larger = datasets.digits(image_size=8, seed=0, validation_size=450)
    assert {k: len(v[1]) for k, v in larger.items()} == {"train": 1047, "validation": 450,
                                                          "test": 300}
    assert np.array_equal(larger["test"][0], default["test"][0])
    assert set(larger["validation"][1].tolist()) == set(range(10))
    assert datasets.DIGITS_NON_TEST_EXAMPLES == 1497


def test_digits_native_size_keeps_the_pixels():
    images, _ = datasets.digits(image_size=8)["test"]
    assert images.shape[1:] == (8, 8, 3)
    # Not resized: the 17 grey levels 0..16 scaled by 255/16 and rounded.
    assert set(np.unique(images).tolist()) == {round(k * 255 / 16) for k in range(17)}
    info = datasets.info("digits", image_size=8)
    assert info.image_shape == (8, 8, 3) and info.num_classes == 10
    assert info.split_sizes == {"train": 1347, "validation": 150, "test": 300}


@pytest.mark.parametrize("kwargs, match", [
    (dict(image_size=0), "image_size"),
    (dict(image_size=True), "image_size"),
    (dict(validation_fraction=0.0), "validation_fraction"),
    (dict(test_fraction=1.0), "test_fraction"),
    (dict(validation_fraction=0.5, test_fraction=0.5), "validation_fraction \\+ test_fraction"),
    (dict(validation_size=9), "validation_size must be in \\[10, 1487\\] .* got 9"),
    (dict(validation_size=1488), "validation_size must be in \\[10, 1487\\] .* got 1488"),
    (dict(validation_size=100.0), "validation_size must be an int or None, got 100.0"),
])
def test_digits_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        datasets.digits(**kwargs)
