"""Image-classification data that never downloads: tfds datasets by name, and digits.

Shared by the search (``search_cifar/data.py``) and the transfer job, so
nothing here is CIFAR-specific: no splits are carved, nothing is augmented or
normalised. Two sources:

* ``load_tfds(name, split, data_dir)``: any prepared tfds image-classification
  dataset (``cifar10``, ``cifar100``, ``imagenette``, ...) as a
  ``tf.data.Dataset`` of ``(image uint8 [H, W, C], label int64 [])``.
  ``tfds.load`` with a network-less machine retries for minutes (about 205 s
  measured on a machine without network access); here the builder is opened with
  downloads off, so a dataset that is not prepared fails in well under a second
  with ``DatasetNotPreparedError``, naming the directory searched and how to
  prepare it. An unknown name raises ``UnknownDatasetError``; a dataset that is
  not image classification raises ``NotImageClassificationError``. All three
  are ``ValueError`` subclasses. ``tfds_info`` gives the number of classes, the
  image shape and the split sizes from the builder's metadata.
* ``digits(image_size, seed)``: scikit-learn's handwritten digits (1797 real
  8x8 grey images of 10 classes, bundled with scikit-learn, so always
  available offline) as uint8 ``[N, S, S, 3]`` images resized to S, with
  seeded, class-stratified train / validation / test splits in CIFAR-10's
  proportions 45,000 / 5,000 / 10,000 of 60,000, i.e. 3/4, 1/12 and 1/6
  (1347 / 150 / 300 images; our choice of proportions, documented in the issue).

Example:
    >>> ds = load_tfds("cifar10", "train[:-5000]", data_dir="/data/tfds")
    >>> image, label = next(iter(ds))          # uint8 [32, 32, 3], int64 []
    >>> tfds_info("cifar10", "/data/tfds").num_classes
    10
    >>> splits = digits(image_size=32, seed=0)
    >>> splits["train"][0].shape, splits["validation"][0].shape, splits["test"][0].shape
    ((1347, 32, 32, 3), (150, 32, 32, 3), (300, 32, 32, 3))
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os

import numpy as np
import tensorflow as tf

DIGITS = "digits"
#: CIFAR-10's split proportions (45k / 5k / 10k of 60k), used for digits.
DIGITS_VALIDATION_FRACTION = 1.0 / 12.0
DIGITS_TEST_FRACTION = 1.0 / 6.0
DIGITS_NUM_EXAMPLES = 1797   # sklearn.datasets.load_digits()


def _non_test_examples(test_fraction: float) -> int:
    """Digits examples outside a test split of ``test_fraction`` (train_test_split holds out
    ceil(fraction x N)): those ``validation_size`` is cut from."""
    return DIGITS_NUM_EXAMPLES - math.ceil(DIGITS_NUM_EXAMPLES * test_fraction)


#: Examples outside the default test split (1797 - 300), from which ``validation_size`` is cut.
DIGITS_NON_TEST_EXAMPLES = _non_test_examples(DIGITS_TEST_FRACTION)
#: Fewest examples per part of a stratified split: one per class.
DIGITS_MIN_PART = 10
_DIGITS_MAX_VALUE = 16.0     # load_digits() pixels are integers 0..16

PREPARE_HINT = (
    "This job never downloads. On a machine with network access run\n"
    "    tfds build {name} --data_dir=DIR\n"
    "(or: python -c \"import tensorflow_datasets as tfds; "
    "tfds.builder('{name}', data_dir='DIR').download_and_prepare()\"),\n"
    "then copy DIR/{dataset_dir} to {root}/ on this machine (or pass the data_dir "
    "that holds it); the prepared directory is self-contained.")


class DatasetNotPreparedError(ValueError):
    """The dataset exists in tfds but its prepared files are not in ``data_dir``."""


class UnknownDatasetError(ValueError):
    """The name is neither a tfds dataset nor ``"digits"``."""


class NotImageClassificationError(ValueError):
    """The dataset has no image feature with a class label."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a job needs to know about a dataset before reading it.

    ``image_shape`` is ``(H, W, C)`` with None for sizes that vary between
    images; ``split_sizes`` maps split names to example counts and is empty
    when the builder has no split metadata (only under ``tfds.testing.mock_data``,
    since a prepared dataset always records them). ``data_dir`` is the
    directory holding the prepared files (None for digits).
    """

    name: str
    num_classes: int
    image_shape: tuple[int | None, int | None, int]
    split_sizes: dict[str, int]
    data_dir: str | None = None


def _tfds():
    import tensorflow_datasets as tfds  # imported lazily: about a second
    return tfds


def _builder(name: str, data_dir: str | None):
    """``tfds.builder`` with downloads impossible; unknown names explained."""
    if not isinstance(name, str) or not name.strip():
        raise UnknownDatasetError(f"dataset name must be a non-empty string, got {name!r}")
    tfds = _tfds()
    try:
        return tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except tfds.core.registered.DatasetNotFoundError:
        known = tfds.list_builders(with_community_datasets=False)
        close = difflib.get_close_matches(name.split("/")[0].split(":")[0], known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownDatasetError(
            f"unknown dataset {name!r}: not a tfds dataset, nor {DIGITS!r} (the embedded "
            f"offline dataset).{hint} List the tfds names with `python -c \"import "
            f"tensorflow_datasets as tfds; print(tfds.list_builders())\"` or see "
            f"https://www.tensorflow.org/datasets/catalog/overview (image "
            f"classification section).") from None


def _image_label_keys(builder, name: str) -> tuple[str, str]:
    """The (image, label) feature names of an image-classification builder."""
    tfds = _tfds()
    features = builder.info.features
    keys = builder.info.supervised_keys
    if not (isinstance(keys, tuple) and len(keys) == 2 and all(isinstance(k, str) for k in keys)):
        keys = ("image", "label")
    image_key, label_key = keys
    feature_names = sorted(features.keys()) if hasattr(features, "keys") else []
    image = features[image_key] if image_key in feature_names else None
    label = features[label_key] if label_key in feature_names else None
    if not isinstance(image, tfds.features.Image) or not isinstance(label, tfds.features.ClassLabel):
        raise NotImageClassificationError(
            f"dataset {name!r} is not an image-classification dataset: it needs an "
            f"Image feature and a ClassLabel feature ({image_key!r}, {label_key!r}), its "
            f"features are {feature_names} and its supervised keys {builder.info.supervised_keys!r}")
    return image_key, label_key


def _data_root(builder, data_dir: str | None) -> str:
    if data_dir:
        return os.path.abspath(os.path.expanduser(data_dir))
    # builder.data_dir is <root>/<name>[/<config>]/<version>.
    depth = 2 + (1 if builder.builder_config is not None else 0)
    path = builder.data_dir
    for _ in range(depth):
        path = os.path.dirname(path)
    return path


def _not_prepared(builder, name: str, data_dir: str | None) -> DatasetNotPreparedError:
    root = _data_root(builder, data_dir)
    dataset_dir = os.path.relpath(os.path.dirname(builder.data_dir), root)
    dataset_dir = dataset_dir.split(os.sep)[0]
    hint = PREPARE_HINT.format(name=name, root=root, dataset_dir=dataset_dir)
    where = (f"data_dir={data_dir!r}" if data_dir
             else "no data_dir given, so tfds's default (TFDS_DATA_DIR or ~/tensorflow_datasets)")
    return DatasetNotPreparedError(
        f"dataset {name!r} is not prepared: no files at {builder.data_dir} "
        f"({where}).\n{hint}")


def tfds_info(name: str, data_dir: str | None = None) -> DatasetInfo:
    """Classes, image shape and split sizes of a tfds image-classification dataset.

    Reads only the builder's metadata (no examples); works whether or not the
    data is prepared, except that ``split_sizes`` is empty when it is not.
    """
    builder = _builder(name, data_dir)
    image_key, label_key = _image_label_keys(builder, name)
    features = builder.info.features
    shape = tuple(None if d is None else int(d) for d in features[image_key].shape)
    splits = {split: int(info.num_examples) for split, info in builder.info.splits.items()}
    return DatasetInfo(name=name, num_classes=int(features[label_key].num_classes),
                       image_shape=shape, split_sizes=splits,
                       data_dir=builder.data_dir if builder.is_prepared() else None)


def load_tfds(name: str, split: str, data_dir: str | None = None,
              shuffle_files: bool = False, decode_images: bool = True) -> tf.data.Dataset:
    """A prepared tfds image-classification split, never downloaded.

    Args:
        name: a tfds name, optionally with config and version (``"cifar10"``,
            ``"cifar100:3.0.2"``).
        split: a tfds split string, slices included (``"train[:-5000]"``,
            ``"train[45000:]"``, ``"test"``).
        data_dir: the directory holding prepared tfds datasets (None: tfds's
            default, ``TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        shuffle_files: shuffle the order of the files (False keeps the
            prepared order, so a slice like "the last 5,000" is well defined).
        decode_images: False yields the stored encoded bytes (JPEG, PNG) as a
            scalar string instead (``tfds.decode.SkipDecoding``), for
            pipelines that shuffle small encoded records and decode (or
            decode and crop) later.

    Returns:
        ``tf.data.Dataset`` of ``(image uint8 [H, W, C], label int64 [])``
        (``image`` a string ``[]`` when ``decode_images`` is False).

    Raises:
        UnknownDatasetError, NotImageClassificationError, DatasetNotPreparedError,
        and ValueError for a split that the prepared dataset does not have.
    """
    builder = _builder(name, data_dir)
    image_key, label_key = _image_label_keys(builder, name)
    known = set(builder.info.splits.keys())
    base = split.split("[")[0].strip()
    if known and base not in known:
        raise ValueError(f"dataset {name!r} has no split {base!r} (in {split!r}); "
                         f"its splits are {sorted(known)}")
    tfds = _tfds()
    try:
        decoders = None if decode_images else {image_key: tfds.decode.SkipDecoding()}
        ds = builder.as_dataset(split=split, shuffle_files=shuffle_files, decoders=decoders,
                                read_config=tfds.ReadConfig(try_autocache=False))
    except AssertionError:
        # tfds asserts that the prepared files exist; tfds.testing.mock_data
        # patches as_dataset, so a mocked dataset never gets here.
        if not builder.is_prepared():
            raise _not_prepared(builder, name, data_dir) from None
        raise
    return ds.map(lambda ex: (ex[image_key], tf.cast(ex[label_key], tf.int64)),
                  num_parallel_calls=tf.data.AUTOTUNE)


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")


@functools.lru_cache(maxsize=8)
def _digits_cached(image_size: int, seed: int, validation_fraction: float,
                   test_fraction: float, validation_size: int | None,
                   ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = data.images.astype(np.float32) * (255.0 / _DIGITS_MAX_VALUE)   # [N, 8, 8]
    labels = data.target.astype(np.int64)
    if image_size != images.shape[1]:
        resized = tf.image.resize(images[..., None], (image_size, image_size),
                                  method="bilinear", antialias=True)
        images = resized.numpy()[..., 0]
    images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    images = np.repeat(images[..., None], 3, axis=-1)                       # [N, S, S, 3]
    index = np.arange(len(labels))
    rest, test = train_test_split(index, test_size=test_fraction, random_state=seed,
                                  stratify=labels)
    held_out: float | int = (validation_fraction / (1.0 - test_fraction)
                             if validation_size is None else validation_size)
    train, validation = train_test_split(rest, test_size=held_out, random_state=seed,
                                         stratify=labels[rest])
    splits = {}
    for split, idx in (("train", train), ("validation", validation), ("test", test)):
        idx = np.sort(idx)
        x, y = images[idx], labels[idx]
        x.setflags(write=False)
        y.setflags(write=False)
        splits[split] = (x, y)
    return splits


def check_digits_validation_size(validation_size: int | None,
                                 test_fraction: float = DIGITS_TEST_FRACTION) -> None:
    """ValueError unless ``validation_size`` is None or an int that leaves every class
    in both parts of the images outside the test split (1497 with the default split)."""
    if validation_size is None:
        return
    if isinstance(validation_size, bool) or not isinstance(validation_size, int):
        raise ValueError(f"validation_size must be an int or None, got {validation_size!r}")
    non_test = _non_test_examples(test_fraction)
    if not DIGITS_MIN_PART <= validation_size <= non_test - DIGITS_MIN_PART:
        raise ValueError(f"validation_size must be in [{DIGITS_MIN_PART}, "
                         f"{non_test - DIGITS_MIN_PART}] for digits ({non_test} examples "
                         f"outside its test split), got {validation_size}")


def digits(image_size: int = 32, seed: int = 0,
           validation_fraction: float = DIGITS_VALIDATION_FRACTION,
           test_fraction: float = DIGITS_TEST_FRACTION,
           validation_size: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's handwritten digits as RGB uint8 images, split like CIFAR-10.

    Pixels (0..16 in ``load_digits``) are scaled to 0..255, resized bilinearly
    (antialiased) to ``image_size`` and repeated to 3 channels. The splits are
    class-stratified and fixed by ``seed`` (scikit-learn ``train_test_split``);
    each keeps the original example order. The test split is cut first, so it
    depends only on ``test_fraction`` and ``seed``; ``validation_size`` (a count,
    in place of ``validation_fraction``) then cuts the validation split from the
    rest: a larger one scores children on more images, the same test split stays
    held out.

    Returns:
        ``{"train" | "validation" | "test": (images uint8 [N, S, S, 3],
        labels int64 [N])}``, read-only arrays (cached per argument set). With
        the defaults N is 1347 / 150 / 300.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    _check_fraction("validation_fraction", validation_fraction)
    _check_fraction("test_fraction", test_fraction)
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(f"validation_fraction + test_fraction must be < 1, got "
                         f"{validation_fraction} + {test_fraction}")
    check_digits_validation_size(validation_size, test_fraction)
    return _digits_cached(image_size, int(seed), float(validation_fraction), float(test_fraction),
                          validation_size)


def digits_info(image_size: int = 32, seed: int = 0,
                validation_fraction: float = DIGITS_VALIDATION_FRACTION,
                test_fraction: float = DIGITS_TEST_FRACTION) -> DatasetInfo:
    """``DatasetInfo`` of ``digits(...)`` with the same arguments."""
    splits = digits(image_size, seed, validation_fraction, test_fraction)
    return DatasetInfo(name=DIGITS, num_classes=10, image_shape=(image_size, image_size, 3),
                       split_sizes={k: int(len(v[1])) for k, v in splits.items()})


def info(name: str, data_dir: str | None = None, image_size: int = 32) -> DatasetInfo:
    """``digits_info(image_size)`` for ``"digits"``, else ``tfds_info(name, data_dir)``."""
    if name == DIGITS:
        return digits_info(image_size)
    return tfds_info(name, data_dir)

