"""The three data streams of a weight-sharing search, each a pure function of (seed, epoch, position).

Built on ``search_cifar.data`` (the project's split, augmentation and
normalisation; the decoded images are loaded once, ``load_sources``):

* ``train(epoch, skip)``: epoch ``epoch``'s training batches (shuffled and
  augmented with seeds derived from ``(data.seed, epoch)``), ``steps_per_epoch``
  of them, the first ``skip`` left out. Global batch = ``data.batch_size`` x
  replicas.
* ``rewards(epoch, skip)``: the controller phase's validation minibatches of
  ``reward_batch_size`` images (shuffled per epoch, repeated, never
  augmented; ENAS ``build_valid_rl``), the first ``skip`` left out.
* ``validation(num_batches)``: the first ``num_batches`` validation batches in
  a fixed order (None: the whole validation set), the same for every
  candidate the derivation scores.

Why not checkpoint ``tf.data`` iterators: an iterator's checkpoint holds its
shuffle buffer, i.e. up to all 45,000 CIFAR training images in every
checkpoint. Since each stream is a deterministic function of the seed, the
epoch and the number of batches consumed, the search's checkpoint stores
those numbers and a resumed run rebuilds the stream and skips what was used
(``Dataset.skip``: the skipped batches are read and augmented, not trained).

Example:
    >>> data = SearchData(DataConfig(dataset="digits", image_size=16, batch_size=32),
    ...                   replicas=1, reward_batch_size=50)
    >>> data.steps_per_epoch, data.info.validation_examples
    (42, 150)
    >>> train = data.train(epoch=3, skip=10)    # the rest of epoch 3: 32 batches
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from search_cifar import data as data_lib

#: Sub-streams of the per-epoch seeds.
_TRAIN_STREAM, _REWARD_STREAM = 1, 2


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 31-bit seed for ``(seed, epoch, stream)``, independent across all three."""
    return int(np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(1)[0]
               >> 1)


class SearchData:
    """The train / reward / validation streams of a search (see the module docstring).

    Raises (before anything is written): the dataset errors of
    ``search_cifar.data`` (a missing tfds dataset fails within a second), and
    ValueError when a batch does not fit the data.
    """

    def __init__(self, config: data_lib.DataConfig, replicas: int, reward_batch_size: int,
                 steps_per_epoch: int | None = None):
        self.config = dataclasses.replace(config, batch_size=config.batch_size * replicas)
        self.reward_batch_size = reward_batch_size
        self.sources = data_lib.load_sources(self.config)
        train, self._validation, self.info = data_lib.make_datasets(self.config, self.sources)
        n_val = self.info.validation_examples
        if n_val is not None and reward_batch_size > n_val:
            raise ValueError(f"controller.reward_batch_size {reward_batch_size} is larger than "
                             f"the {n_val} validation examples of {config.dataset!r}")
        if steps_per_epoch is None:
            steps_per_epoch = data_lib.steps_per_epoch(train, self.info)
        self.steps_per_epoch = steps_per_epoch

    def train(self, epoch: int, skip: int = 0) -> tf.data.Dataset:
        config = dataclasses.replace(self.config,
                                     seed=epoch_seed(self.config.seed, epoch, _TRAIN_STREAM))
        train, _, _ = data_lib.make_datasets(config, self.sources)
        # repeat(): a fixed steps_per_epoch may exceed one pass (each pass reshuffles).
        return train.repeat().take(self.steps_per_epoch).skip(skip)

    def rewards(self, epoch: int, skip: int = 0) -> tf.data.Dataset:
        seed = epoch_seed(self.config.seed, epoch, _REWARD_STREAM)
        examples = self._validation.unbatch()
        buffer = self.info.validation_examples or 10_000
        # Batches of an endless stream are all full; without drop_remainder their
        # static batch size stays None, as the validation stream's: one trace of
        # the evaluation step serves both.
        return (examples.shuffle(buffer, seed=seed, reshuffle_each_iteration=True).repeat()
                .batch(self.reward_batch_size).skip(skip).prefetch(tf.data.AUTOTUNE))

    def validation(self, num_batches: int | None = None) -> tf.data.Dataset:
        return self._validation if num_batches is None else self._validation.take(num_batches)
