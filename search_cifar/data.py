"""Train and validation pipelines for child networks (never the test split).

``make_datasets(DataConfig(...)) -> (train_ds, val_ds, info)``:

* Source: a prepared tfds image-classification dataset by name (``cifar10``,
  ``cifar100``, any other; see ``nasnet/datasets.py``, which never downloads
  and fails within a second when the data is missing), or ``"digits"``,
  scikit-learn's embedded handwritten digits for offline runs.
* Split: the validation set is the LAST ``validation_size`` examples of the
  training split, the training set the examples before them. CIFAR-10 and
  CIFAR-100 default to 5,000 (45,000 / 5,000, the split of Zoph et al. 2018's
  search). Other tfds datasets default to 10 % of their training split
  (our choice). Digits uses its own seeded stratified split (1347 / 150, with
  300 test images never read here; ``nasnet.datasets.digits``), where
  ``validation_size`` sets the validation split's size instead. The test split
  is never read: a ``train_split`` naming it is rejected.
* Preprocessing: images resized to ``image_size`` (when their size differs)
  and grey images repeated to 3 channels, cached as uint8; then, for training
  only, the standard CIFAR augmentation: zero-pad 4 pixels per side (scaled
  with ``image_size / 32``), random ``image_size`` crop, random horizontal flip
  (off for digits, where mirrored digits are other symbols) (He et al. 2016,
  Sec. 4.2; DARTS ``utils._data_transforms_cifar10``); then per-channel
  normalisation ``(x / 255 - mean) / std`` with the mean and std of (up to
  ``normalization_examples`` of) the training images, computed once per
  process (our choice over hard-coded CIFAR constants, so that every dataset
  is treated alike). Augmentation uses stateless random ops seeded from
  ``seed``, so a run is reproducible and each epoch sees new crops.
* Batching: training batches drop the remainder (one static batch shape, which
  XLA needs); validation keeps every example. Both prefetch.

Shapes: ``train_ds`` and ``val_ds`` yield ``(images float32 [B, S, S, 3],
labels int64 [B])``.

``load_sources(config)`` does the expensive part once (reading, decoding,
resizing, statistics); ``make_datasets(config, sources)`` then builds fresh
pipelines over it, e.g. one per child network.

Example:
    >>> train_ds, val_ds, info = make_datasets(DataConfig(dataset="digits", image_size=16))
    >>> info.num_classes, info.train_examples, info.validation_examples
    (10, 1347, 150)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import tensorflow as tf

from nasnet import datasets

#: Validation examples held out from the end of the training split by default
#: (CIFAR: 45,000 / 5,000, as in Zoph et al. 2018's search).
CIFAR_VALIDATION_SIZE = 5000
DEFAULT_VALIDATION_SIZES = {"cifar10": CIFAR_VALIDATION_SIZE, "cifar100": CIFAR_VALIDATION_SIZE}
#: Fraction of the training split held out for other tfds datasets (our choice).
DEFAULT_VALIDATION_FRACTION = 0.1
#: He et al. 2016 (Sec. 4.2): 4 pixels of padding on 32x32 CIFAR images.
CIFAR_PAD = 4
CIFAR_SIZE = 32


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are split, augmented and batched.

    Attributes:
        dataset: ``"cifar10"``, ``"cifar100"``, any tfds image-classification
            name, or ``"digits"`` (embedded, offline).
        data_dir: the directory of prepared tfds datasets (None: tfds's default).
        image_size: S, the side of the square images the network sees.
        train_split: the tfds split the train and validation sets are cut from.
        validation_size: examples held out from the end of ``train_split``
            (None: 5,000 for CIFAR, 10 % otherwise). For digits, the size of
            its stratified validation split (None: 150, leaving 1347 for
            training), cut from the 1497 images outside its fixed 300-image
            test split.
        train_limit: use only the first ``train_limit`` training examples
            (None: all; for small budgets and tests).
        batch_size: training batch size (32: slim's CIFAR recipe, nasnet.py).
        eval_batch_size: validation batch size (None: ``batch_size``).
        augment: pad + random crop (+ flip) on training images.
        flip: random horizontal flip (None: on, except for digits).
        pad: padding before the random crop (None: 4 x S / 32, at least 1).
        shuffle_buffer: training shuffle buffer (50,000: all of CIFAR).
        cache: keep the decoded uint8 images in memory (CIFAR-10: 150 MB).
        normalization_examples: training images the mean and std are computed on.
        seed: shuffling and augmentation seed.
        split_seed: the digits split's seed (fixed across a search, so every
            child is scored on the same validation images).
    """

    dataset: str = "cifar10"
    data_dir: str | None = None
    image_size: int = CIFAR_SIZE
    train_split: str = "train"
    validation_size: int | None = None
    train_limit: int | None = None
    batch_size: int = 32
    eval_batch_size: int | None = None
    augment: bool = True
    flip: bool | None = None
    pad: int | None = None
    shuffle_buffer: int = 50_000
    cache: bool = True
    normalization_examples: int = 10_000
    seed: int = 0
    split_seed: int = 0

    def __post_init__(self):
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise ValueError(f"dataset must be a non-empty name, got {self.dataset!r}")
        _check_int("image_size", self.image_size, minimum=8)
        if "test" in self.train_split.lower():
            raise ValueError(f"train_split must not be a test split (the search never reads "
                             f"the test set), got {self.train_split!r}")
        for name in ("validation_size", "train_limit", "eval_batch_size"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum=1)
        if self.is_digits:
            datasets.check_digits_validation_size(self.validation_size)
        if self.is_digits and self.train_split != "train":
            raise ValueError(f"train_split must be 'train' for digits, got {self.train_split!r}")
        _check_int("batch_size", self.batch_size, minimum=1)
        _check_int("shuffle_buffer", self.shuffle_buffer, minimum=1)
        _check_int("normalization_examples", self.normalization_examples, minimum=1)
        if self.pad is not None:
            _check_int("pad", self.pad, minimum=0)

    @property
    def is_digits(self) -> bool:
        return self.dataset == datasets.DIGITS

    @property
    def base_name(self) -> str:
        """The tfds name without config and version: ``"cifar10:3.0.2"`` -> ``"cifar10"``."""
        return self.dataset.split(":")[0].split("/")[0]

    @property
    def use_flip(self) -> bool:
        return (not self.is_digits) if self.flip is None else bool(self.flip)

    @property
    def crop_pad(self) -> int:
        if self.pad is not None:
            return self.pad
        return max(1, round(CIFAR_PAD * self.image_size / CIFAR_SIZE))


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What ``make_datasets`` built. Counts are None when unknown (tfds mock data)."""

    dataset: str
    num_classes: int
    image_size: int
    train_examples: int | None
    validation_examples: int | None
    train_batches: int | None     # training steps per epoch (remainder dropped)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    train_split: str
    validation_split: str

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data


def to_rgb_size(image: tf.Tensor, size: int, channels: int) -> tf.Tensor:
    """uint8 ``[H, W, C]`` -> uint8 ``[S, S, 3]``."""
    if channels == 1:
        image = tf.image.grayscale_to_rgb(image)
    static = image.shape
    if static[0] != size or static[1] != size:
        image = tf.image.resize(image, (size, size), method="bilinear", antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
    return tf.ensure_shape(image, (size, size, 3))


@functools.lru_cache(maxsize=16)
def _tfds_stats(dataset: str, data_dir: str | None, split: str, size: int, channels: int,
                count: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    ds = datasets.load_tfds(dataset, split, data_dir).take(count)
    ds = ds.map(lambda x, y: to_rgb_size(x, size, channels),
                num_parallel_calls=tf.data.AUTOTUNE).batch(1000)
    return _channel_stats(batch.numpy() for batch in ds)


def _channel_stats(batches) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 ``[N, S, S, 3]`` batches, on the 0..1 scale."""
    total = np.zeros(3)
    total_sq = np.zeros(3)
    n = 0
    for batch in batches:
        x = batch.astype(np.float64) / 255.0
        total += x.sum(axis=(0, 1, 2))
        total_sq += (x ** 2).sum(axis=(0, 1, 2))
        n += x.shape[0] * x.shape[1] * x.shape[2]
    if n == 0:
        raise ValueError("no training images to compute the normalisation statistics from")
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean ** 2, 0.0))
    std = np.where(std < 1e-3, 1.0, std)   # a constant channel: only centre it
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _tfds_sources(config: DataConfig):
    """(train_ds, val_ds of uint8 images, DataInfo fields) for a tfds dataset."""
    ds_info = datasets.tfds_info(config.dataset, config.data_dir)
    channels = ds_info.image_shape[2]
    if channels not in (1, 3):
        raise ValueError(f"dataset {config.dataset!r} has {channels}-channel images; "
                         f"only grey (1) and RGB (3) are supported")
    total = ds_info.split_sizes.get(config.train_split)
    if ds_info.split_sizes and total is None:
        raise ValueError(f"dataset {config.dataset!r} has no split {config.train_split!r}; "
                         f"its splits are {sorted(ds_info.split_sizes)}")
    val_size = config.validation_size
    if val_size is None:
        val_size = DEFAULT_VALIDATION_SIZES.get(config.base_name)
    if val_size is None:
        if total is None:
            raise ValueError(f"validation_size must be given for dataset {config.dataset!r}: "
                             f"its split sizes are unknown")
        val_size = max(1, round(DEFAULT_VALIDATION_FRACTION * total))
    if total is not None and val_size >= total:
        raise ValueError(f"validation_size {val_size} leaves no training examples: split "
                         f"{config.train_split!r} of {config.dataset!r} has {total}")
    train_split = f"{config.train_split}[:-{val_size}]"
    val_split = f"{config.train_split}[-{val_size}:]"
    train = datasets.load_tfds(config.dataset, train_split, config.data_dir)
    val = datasets.load_tfds(config.dataset, val_split, config.data_dir)
    if config.train_limit is not None:
        train = train.take(config.train_limit)
    prep = functools.partial(to_rgb_size, size=config.image_size, channels=channels)
    train = train.map(lambda x, y: (prep(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    val = val.map(lambda x, y: (prep(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    stats_split = train_split if config.train_limit is None else (
        f"{config.train_split}[:{min(config.train_limit, config.normalization_examples)}]")
    mean, std = _tfds_stats(config.dataset, config.data_dir, stats_split, config.image_size,
                            channels, config.normalization_examples)
    n_train = None if total is None else total - val_size
    if n_train is not None and config.train_limit is not None:
        n_train = min(n_train, config.train_limit)
    return train, val, dict(
        num_classes=ds_info.num_classes, train_examples=n_train,
        validation_examples=None if total is None else val_size,
        mean=mean, std=std, train_split=train_split, validation_split=val_split)


def _digits_sources(config: DataConfig):
    splits = datasets.digits(config.image_size, config.split_seed,
                             validation_size=config.validation_size)
    x_train, y_train = splits["train"]
    x_val, y_val = splits["validation"]
    if config.train_limit is not None:
        x_train, y_train = x_train[:config.train_limit], y_train[:config.train_limit]
    mean, std = _channel_stats([x_train[:config.normalization_examples]])
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val))
    return train, val, dict(
        num_classes=10, train_examples=len(y_train), validation_examples=len(y_val),
        mean=mean, std=std, train_split=f"digits train (split_seed={config.split_seed})",
        validation_split=f"digits validation (split_seed={config.split_seed})")


def augment(image: tf.Tensor, seed: tf.Tensor, pad: int, flip: bool) -> tf.Tensor:
    """Pad-and-crop (+ flip) of one float image ``[S, S, C]`` with a ``[2]`` int seed."""
    size = image.shape
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if pad:
        image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        image = tf.image.stateless_random_crop(image, size, seed=crop_seed)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return image


#: DataConfig fields that decide the decoded images (the rest only shapes the pipeline).
SOURCE_FIELDS = ("dataset", "data_dir", "image_size", "train_split", "validation_size",
                 "train_limit", "cache", "normalization_examples", "split_seed")


@dataclasses.dataclass(frozen=True)
class Sources:
    """Decoded, resized uint8 train and validation examples (cached in memory
    after their first pass when ``config.cache``), before any randomness.

    Build once per process with ``load_sources`` and pass to ``make_datasets``
    for every new pipeline: the decoding and the normalisation statistics are
    then not repeated.
    """

    key: tuple
    train: tf.data.Dataset        # (uint8 [S, S, 3], int64 [])
    validation: tf.data.Dataset   # (uint8 [S, S, 3], int64 [])
    fields: dict[str, Any]


def _source_key(config: DataConfig) -> tuple:
    return tuple((name, getattr(config, name)) for name in SOURCE_FIELDS)


def load_sources(config: DataConfig) -> Sources:
    """Reads (or fails fast on) the dataset of ``config``; see ``Sources``."""
    if config.is_digits:
        train, val, fields = _digits_sources(config)
    else:
        train, val, fields = _tfds_sources(config)
    if config.cache:
        train, val = train.cache(), val.cache()
    return Sources(key=_source_key(config), train=train, validation=val, fields=fields)


def make_datasets(config: DataConfig, sources: Sources | None = None,
                  ) -> tuple[tf.data.Dataset, tf.data.Dataset, DataInfo]:
    """The training and validation pipelines of ``config`` (see the module docstring).

    Args:
        config: the data config.
        sources: ``load_sources(config)`` from earlier (None: load now). Any
            config with the same ``SOURCE_FIELDS`` may reuse them.

    Returns:
        ``train_ds``: shuffled, augmented, normalised ``(float32 [B, S, S, 3],
        int64 [B])`` batches, a new order and new crops on each iteration;
        ``val_ds``: the same without shuffling or augmentation, last batch kept;
        ``info``: a ``DataInfo``.

    Reproducibility: the shuffle and augmentation seeds are ``config.seed``
    combined, as in all of TensorFlow, with the global seed at the time of
    the call (``tf.random.set_seed``): two pipelines made after the same
    global seeding yield the same batches. Iterating one pipeline again gives
    the next epoch's order, so train each network on a pipeline of its own.

    Raises:
        nasnet.datasets.DatasetNotPreparedError / UnknownDatasetError /
        NotImageClassificationError, and ValueError for impossible splits or
        sources of another config.
    """
    if sources is None:
        sources = load_sources(config)
    elif sources.key != _source_key(config):
        theirs, ours = dict(sources.key), dict(_source_key(config))
        diff = {k: (theirs[k], ours[k]) for k in ours if theirs[k] != ours[k]}
        raise ValueError(f"sources were loaded for another data config: (theirs, ours) = {diff}")
    fields = sources.fields
    n_train = fields["train_examples"]
    if n_train is not None and n_train < config.batch_size:
        raise ValueError(f"batch_size {config.batch_size} is larger than the "
                         f"{n_train} training examples of {config.dataset!r}")
    mean = tf.constant(fields["mean"], tf.float32)
    std = tf.constant(fields["std"], tf.float32)

    def normalize(image):
        return (tf.cast(image, tf.float32) / 255.0 - mean) / std

    train = sources.train.shuffle(config.shuffle_buffer, seed=config.seed,
                                  reshuffle_each_iteration=True)
    if config.augment:
        seeds = tf.data.Dataset.random(seed=config.seed, rerandomize_each_iteration=True).batch(2)
        pad, flip = config.crop_pad, config.use_flip
        train = tf.data.Dataset.zip((train, seeds)).map(
            lambda example, seed: (normalize(augment(example[0], seed, pad, flip)), example[1]),
            num_parallel_calls=tf.data.AUTOTUNE)
    else:
        train = train.map(lambda x, y: (normalize(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    train = train.batch(config.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    val = sources.validation.map(lambda x, y: (normalize(x), y),
                                 num_parallel_calls=tf.data.AUTOTUNE)
    val = val.batch(config.eval_batch_size or config.batch_size).prefetch(tf.data.AUTOTUNE)
    info = DataInfo(dataset=config.dataset, image_size=config.image_size,
                    train_batches=None if n_train is None else n_train // config.batch_size,
                    **fields)
    return train, val, info


def steps_per_epoch(train_ds: tf.data.Dataset, info: DataInfo) -> int:
    """Training batches per epoch: from ``info``, the cardinality, or one counting pass."""
    if info.train_batches is not None:
        return info.train_batches
    cardinality = int(train_ds.cardinality())
    if cardinality >= 0:
        return cardinality
    return int(train_ds.reduce(0, lambda count, _: count + 1))


def num_examples_hint(info: DataInfo) -> str:
    """A one-line description for logs: ``"cifar10: 45000 train / 5000 validation"``."""
    n_train = "?" if info.train_examples is None else info.train_examples
    n_val = "?" if info.validation_examples is None else info.validation_examples
    return f"{info.dataset}: {n_train} train / {n_val} validation at {info.image_size}px"


__all__ = ["DataConfig", "DataInfo", "Sources", "load_sources", "make_datasets", "augment", "to_rgb_size", "steps_per_epoch",
           "num_examples_hint", "CIFAR_VALIDATION_SIZE"]
