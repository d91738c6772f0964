"""Input pipelines for classifier training and serving: Inception-style preprocessing.

The images come from ``nasnet.datasets`` (tfds by name, never downloaded, or
the embedded digits); this module only prepares them:

* ``preprocess_for_train``: slim ``inception_preprocessing.preprocess_for_train``
  (tensorflow/models research/slim/preprocessing/inception_preprocessing.py):
  a random crop covering 5-100 % of the image with aspect ratio 3/4..4/3
  (``sample_distorted_bounding_box``, min_object_covered 0.1, 100 attempts),
  resized to the network's size, a random left-right flip and, in slim's fast
  mode, one of two random orders of brightness (32/255), saturation
  (0.5-1.5), hue (0.2) and contrast (0.5-1.5); then scaled to [-1, 1].
* ``preprocess_for_eval``: the central 87.5 % of the image, resized, scaled to
  [-1, 1] (slim ``preprocess_for_eval`` with ``central_fraction=0.875``).
  Serving uses exactly this function, so an exported model sees what the
  evaluation saw.
* ``"resize"`` preprocessing: resize and scale only, for tiny images (digits).
* Training pipelines (``make_dataset``) shuffle the encoded bytes and decode
  afterwards, only the random crop of a JPEG
  (``decode_and_preprocess_for_train``); ``benchmarks/input_pipeline.py``
  measures the difference.

Resizing is TF2's bilinear with half-pixel centres; slim used TF1's
``resize_bilinear(align_corners=False)``, which samples a quarter pixel off.

Datasets yield ``(images float32 [B, S, S, 3] in [-1, 1], targets)`` where
``targets`` is ``{"logits": one-hot [B, classes]}`` plus ``"aux_logits"``
when the network has an auxiliary head (one-hot because label smoothing needs
it). Grey images are repeated to three channels.

Example:
    >>> info = dataset_info(DataConfig(dataset="digits"), image_size=16)
    >>> ds = make_dataset(DataConfig(dataset="digits", preprocessing="resize"), "train",
    ...                   training=True, image_size=16, batch_size=32, num_classes=10)
    >>> images, targets = next(iter(ds))      # [32, 16, 16, 3], {"logits": [32, 10], ...}
"""

from __future__ import annotations

import os

import tensorflow as tf

from nasnet import datasets
from transfer.config import PREPROCESSING, DataConfig

#: slim inception_preprocessing defaults.
CENTRAL_FRACTION = 0.875
CROP_AREA_RANGE = (0.05, 1.0)
CROP_ASPECT_RATIO_RANGE = (3.0 / 4.0, 4.0 / 3.0)
CROP_MIN_OBJECT_COVERED = 0.1
CROP_MAX_ATTEMPTS = 100

#: Files tfds's imagenet2012 builder reads from its manual directory.
IMAGENET_MANUAL_FILES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")


def _check_preprocessing(preprocessing: str) -> None:
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"preprocessing must be one of {PREPROCESSING}, got {preprocessing!r}")


def to_rgb(image: tf.Tensor) -> tf.Tensor:
    """``[..., H, W, 1 or 3]`` -> ``[..., H, W, 3]`` (grey repeated); other channel counts fail."""
    image = tf.convert_to_tensor(image)
    channels = image.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    if channels == 3:
        return image
    if channels is None:
        raise ValueError("images need a static channel count (1 or 3), got None")
    raise ValueError(f"images must have 1 or 3 channels, got {channels}")


def _scale(image: tf.Tensor) -> tf.Tensor:
    """[0, 1] -> [-1, 1] (slim: ``(x - 0.5) * 2``)."""
    return (image - 0.5) * 2.0


def preprocess_for_eval(images: tf.Tensor, image_size: int, preprocessing: str) -> tf.Tensor:
    """uint8 ``[H, W, C]`` or ``[B, H, W, C]`` -> float32 ``[(B,) S, S, 3]`` in [-1, 1].

    Inception: central 87.5 % crop, then bilinear resize to ``image_size``.
    Resize: bilinear resize only. Deterministic: serving calls this too.
    """
    _check_preprocessing(preprocessing)
    images = to_rgb(images)
    x = tf.image.convert_image_dtype(images, tf.float32)    # uint8 -> [0, 1]
    if preprocessing == "inception":
        x = tf.image.central_crop(x, central_fraction=CENTRAL_FRACTION)
    x = tf.image.resize(x, (image_size, image_size), method="bilinear")
    return _scale(tf.clip_by_value(x, 0.0, 1.0))


def _distort_color(image: tf.Tensor, ordering: tf.Tensor) -> tf.Tensor:
    """slim ``distort_color`` in fast mode: two random orderings of four distortions."""
    def order_0():
        x = tf.image.random_brightness(image, max_delta=32.0 / 255.0)
        x = tf.image.random_saturation(x, lower=0.5, upper=1.5)
        x = tf.image.random_hue(x, max_delta=0.2)
        return tf.image.random_contrast(x, lower=0.5, upper=1.5)

    def order_1():
        x = tf.image.random_brightness(image, max_delta=32.0 / 255.0)
        x = tf.image.random_contrast(x, lower=0.5, upper=1.5)
        x = tf.image.random_saturation(x, lower=0.5, upper=1.5)
        return tf.image.random_hue(x, max_delta=0.2)

    x = tf.cond(tf.equal(ordering, 0), order_0, order_1)
    return tf.clip_by_value(x, 0.0, 1.0)


def _crop_window(shape: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """slim's distorted bounding box for an image of ``shape`` ``[H, W, C]``:
    ``(begin [y, x, 0], size [h, w, -1])``."""
    whole_image = tf.constant([0.0, 0.0, 1.0, 1.0], dtype=tf.float32, shape=[1, 1, 4])
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        shape, bounding_boxes=whole_image,
        min_object_covered=CROP_MIN_OBJECT_COVERED,
        aspect_ratio_range=CROP_ASPECT_RATIO_RANGE, area_range=CROP_AREA_RANGE,
        max_attempts=CROP_MAX_ATTEMPTS, use_image_if_no_bounding_boxes=True)
    return begin, size


def _augment_crop(crop: tf.Tensor, image_size: int) -> tf.Tensor:
    """A uint8 crop ``[h, w, 3]`` -> resized, flipped, colour-distorted, in [-1, 1]."""
    x = tf.image.convert_image_dtype(crop, tf.float32)
    x = tf.image.resize(x, (image_size, image_size), method="bilinear")
    x.set_shape([image_size, image_size, 3])
    x = tf.image.random_flip_left_right(x)
    x = _distort_color(x, tf.random.uniform([], maxval=2, dtype=tf.int32))
    return _scale(x)


def preprocess_for_train(image: tf.Tensor, image_size: int, preprocessing: str) -> tf.Tensor:
    """uint8 ``[H, W, C]`` -> float32 ``[S, S, 3]`` in [-1, 1], randomly augmented.

    Inception: distorted bounding-box crop, resize, flip, colour distortion
    (see the module docstring). Resize: resize only (no augmentation).
    """
    _check_preprocessing(preprocessing)
    image = to_rgb(image)
    if preprocessing == "resize":
        x = tf.image.convert_image_dtype(image, tf.float32)
        return _scale(tf.image.resize(x, (image_size, image_size), method="bilinear"))
    begin, size = _crop_window(tf.shape(image))
    return _augment_crop(tf.slice(image, begin, size), image_size)


def decode_and_preprocess_for_train(encoded: tf.Tensor, image_size: int,
                                    preprocessing: str) -> tf.Tensor:
    """Encoded image bytes (scalar string) -> ``preprocess_for_train`` of the image.

    Inception on a JPEG reads only the header (``tf.image.extract_jpeg_shape``),
    draws the crop window, and decodes just that window
    (``tf.image.decode_and_crop_jpeg``): the random crop keeps 5-100 % of the
    image's area (about half on average), and a full decode would also decode
    the rest.
    Other formats (PNG, ...) are decoded whole, then cropped. The crop
    distribution is the same either way.
    """
    _check_preprocessing(preprocessing)
    if preprocessing == "resize":
        return preprocess_for_train(decode_image(encoded), image_size, preprocessing)

    def jpeg():
        begin, size = _crop_window(tf.image.extract_jpeg_shape(encoded))
        window = tf.stack([begin[0], begin[1], size[0], size[1]])
        return tf.image.decode_and_crop_jpeg(encoded, window, channels=3)

    def other():
        image = decode_image(encoded)
        begin, size = _crop_window(tf.shape(image))
        return tf.slice(image, begin, size)

    crop = tf.cond(tf.io.is_jpeg(encoded), jpeg, other)
    crop.set_shape([None, None, 3])
    return _augment_crop(crop, image_size)


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
    """JPEG/PNG/GIF/BMP bytes (scalar string) -> uint8 ``[H, W, 3]``."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


# -- datasets -----------------------------------------------------------------

def dataset_info(config: DataConfig, image_size: int) -> datasets.DatasetInfo:
    """Classes and split sizes, checking that the data exists (fails fast otherwise).

    For a tfds dataset that is not prepared: prepares it from
    ``config.manual_dir`` when that is set (ImageNet), else raises
    ``nasnet.datasets.DatasetNotPreparedError`` with how to prepare it.
    """
    if config.dataset == datasets.DIGITS:
        return datasets.digits_info(image_size)
    info = datasets.tfds_info(config.dataset, config.data_dir)
    if not info.split_sizes or info.data_dir is None:
        if config.manual_dir:
            prepare_from_manual_dir(config)
            info = datasets.tfds_info(config.dataset, config.data_dir)
        else:
            _raise_not_prepared(config)
    for split in (config.train_split, config.eval_split):
        base = split.split("[")[0].strip()
        if info.split_sizes and base not in info.split_sizes:
            raise ValueError(f"dataset {config.dataset!r} has no split {base!r}; its splits "
                             f"are {sorted(info.split_sizes)}")
    return info


def _raise_not_prepared(config: DataConfig) -> None:
    try:  # load_tfds builds the canonical "not prepared" message.
        datasets.load_tfds(config.dataset, config.train_split, config.data_dir)
    except datasets.DatasetNotPreparedError as e:
        if config.dataset.split(":")[0].split("/")[0] == "imagenet2012":
            raise datasets.DatasetNotPreparedError(
                f"{e}\nimagenet2012 needs a manual download: put "
                f"{' and '.join(IMAGENET_MANUAL_FILES)} (from image-net.org) in a directory "
                f"and pass it as data.manual_dir (--manual_dir) to prepare it here, without "
                f"network access.") from None
        raise


def prepare_from_manual_dir(config: DataConfig) -> None:
    """Prepares a tfds dataset from files in ``config.manual_dir`` (no network).

    For imagenet2012 the two ILSVRC-2012 tars must be there; anything missing
    fails before tfds starts.
    """
    manual_dir = os.path.abspath(os.path.expanduser(config.manual_dir))
    if not os.path.isdir(manual_dir):
        raise ValueError(f"manual_dir {manual_dir!r} is not a directory")
    if config.dataset.split(":")[0].split("/")[0] == "imagenet2012":
        missing = [f for f in IMAGENET_MANUAL_FILES
                   if not os.path.isfile(os.path.join(manual_dir, f))]
        if missing:
            raise ValueError(
                f"manual_dir {manual_dir!r} lacks {missing}: imagenet2012 is prepared from "
                f"{list(IMAGENET_MANUAL_FILES)}, downloaded by hand from image-net.org")
    import tensorflow_datasets as tfds
    builder = tfds.builder(config.dataset, data_dir=config.data_dir, try_gcs=False)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir, try_download_gcs=False))


def _source(config: DataConfig, split: str, image_size: int, shuffle_files: bool,
            encoded: bool = False):
    """``(image, label int64)`` examples of one split: the image uint8 ``[H, W, C]``,
    or, with ``encoded``, a tfds dataset's stored bytes (string ``[]``; digits
    are always arrays)."""
    if config.dataset == datasets.DIGITS:
        splits = datasets.digits(image_size)
        if split not in splits:
            raise ValueError(f"digits has no split {split!r}; its splits are {sorted(splits)}")
        images, labels = splits[split]
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        return ds.with_options(options)
    return datasets.load_tfds(config.dataset, split, config.data_dir,
                              shuffle_files=shuffle_files, decode_images=not encoded)


def make_dataset(config: DataConfig, split: str, *, training: bool, image_size: int,
                 batch_size: int, num_classes: int, with_aux: bool = True,
                 seed: int = 0, deterministic: bool = False) -> tf.data.Dataset:
    """Batched ``(images [B, S, S, 3], {"logits": one-hot [B, C], "aux_logits": ...})``.

    ``pipeline`` over the split's examples, tfds images still encoded (see there).
    ``batch_size`` is the global batch; ``tf.distribute`` splits it.
    """
    source = _source(config, split, image_size, shuffle_files=training, encoded=True)
    return pipeline(source, config, training=training, image_size=image_size,
                    batch_size=batch_size, num_classes=num_classes, with_aux=with_aux,
                    seed=seed, deterministic=deterministic)


def pipeline(source: tf.data.Dataset, config: DataConfig, *, training: bool, image_size: int,
             batch_size: int, num_classes: int, with_aux: bool = True, seed: int = 0,
             deterministic: bool = False) -> tf.data.Dataset:
    """``(image, label)`` examples -> batched ``(images, targets)`` (see ``make_dataset``).

    ``image`` is encoded bytes (string ``[]``) or uint8 ``[H, W, C]``.
    Training: shuffled (``seed``, ``config.shuffle_buffer``), repeated forever,
    augmented, whole batches only. Evaluation: one pass in order, the last
    batch may be partial.

    Encoded images stay encoded until after the shuffle: the shuffle buffer
    holds ``shuffle_buffer`` JPEGs (about 110 kB each for ImageNet) instead of
    as many decoded images (about 500 kB each), and training decodes only the
    random crop (``decode_and_preprocess_for_train``).

    ``deterministic``: keep the element order of the training map. Only data
    sharding needs it (several input workers each keeping every k-th element
    of the same sequence: ``nasnet.distribute.num_input_workers`` > 1); on
    one host any finished element may go first, so a slow image does not
    hold up the batch. Evaluation always keeps its order.
    """
    ds = source
    if training:
        ds = ds.shuffle(config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        ds = ds.repeat()

    def prepare(image, label):
        if image.dtype == tf.string:
            if training:
                x = decode_and_preprocess_for_train(image, image_size, config.preprocessing)
            else:
                x = preprocess_for_eval(decode_image(image), image_size, config.preprocessing)
        else:
            fn = preprocess_for_train if training else preprocess_for_eval
            x = fn(image, image_size, config.preprocessing)
        y = tf.one_hot(tf.cast(label, tf.int32), num_classes, dtype=tf.float32)
        targets = {"logits": y}
        if with_aux:
            targets["aux_logits"] = y
        return x, targets

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=deterministic or not training)
    ds = ds.batch(batch_size, drop_remainder=training)
    return ds.prefetch(tf.data.AUTOTUNE)
