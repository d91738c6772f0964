"""The shared-weights evaluator: a point's reward is the supernet's accuracy on validation data.

``SupernetEvaluator(trainer, space)`` follows the project's evaluator
protocol (``evaluate(point) -> Result`` with ``reward``, ``metrics`` and
``error``; ``Estimate`` here has that shape): ``evaluate`` scores a point (a
choice tuple of ``space``, a whole-block prefix, or a ``Genotype`` of it) on
the NEXT minibatch of the stream given to ``use_batches`` (ENAS: one shuffled
validation minibatch per sampled architecture). ``score`` evaluates a point
on every batch of a dataset (the derivation, where all candidates see the
same images).

Architectures run in the supernet's traced ``eval_step``: no drop path, no
dropout, batch statistics (see ``supernet_cell.py``). Nothing here decides
what to evaluate or when.

Example:
    >>> evaluator = SupernetEvaluator(trainer, space)
    >>> evaluator.use_batches(data.rewards(epoch=0))
    >>> evaluator.evaluate(strategy.ask().choices).reward
    0.43125
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import tensorflow as tf

from nasnet.genotype import Genotype
from search_cifar.space import NasnetCellSpace
from search_cifar.weight_sharing import architecture as arch_lib
from search_cifar.weight_sharing.training import SupernetTrainer


@dataclasses.dataclass(frozen=True)
class Estimate:
    """An evaluation's outcome, shaped as the project's ``Result`` (reward, metrics, error)."""

    reward: float | None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None


class SupernetEvaluator:
    """Scores points of ``space`` with the supernet of ``trainer`` (see the module docstring)."""

    def __init__(self, trainer: SupernetTrainer, space: NasnetCellSpace):
        arch_lib.check_space(space, trainer.model.holds)
        self.trainer = trainer
        self.space = space
        self._iterator = None

    def architecture(self, point: Sequence[int] | Genotype) -> tf.Tensor:
        """The ``[2, num_blocks, 5]`` architecture tensor of a point or a genotype."""
        holds = self.trainer.model.holds
        if isinstance(point, Genotype):
            return tf.constant(arch_lib.encode_genotype(self.space, holds, point))
        return tf.constant(arch_lib.encode(self.space, holds, point))

    def use_batches(self, dataset: tf.data.Dataset) -> None:
        """Later ``evaluate`` calls read consecutive batches of ``dataset``."""
        self._iterator = iter(self.trainer.strategy.experimental_distribute_dataset(dataset))

    def evaluate(self, point: Sequence[int] | Genotype) -> Estimate:
        """Accuracy on the next minibatch; ``metrics``: ``correct`` and ``examples``."""
        if self._iterator is None:
            raise ValueError("SupernetEvaluator.evaluate needs batches: call use_batches first")
        correct, count = self.trainer.eval_step(self._iterator, self.architecture(point))
        correct, count = int(correct), int(count)
        return Estimate(reward=correct / count, metrics={"correct": correct, "examples": count})

    def score(self, point: Sequence[int] | Genotype, dataset: tf.data.Dataset) -> Estimate:
        """Accuracy over every batch of ``dataset`` (a fresh pass)."""
        arch = self.architecture(point)
        num_batches = int(dataset.cardinality())
        if num_batches < 0:  # unknown (some tfds splits): count once
            num_batches = int(dataset.reduce(0, lambda n, _: n + 1))
        if num_batches == 0:
            raise ValueError("SupernetEvaluator.score was given an empty dataset")
        iterator = iter(self.trainer.strategy.experimental_distribute_dataset(dataset))
        total_correct, total = 0, 0
        for _ in range(num_batches):
            correct, count = self.trainer.eval_step(iterator, arch)
            total_correct, total = total_correct + int(correct), total + int(count)
        return Estimate(reward=total_correct / total,
                        metrics={"correct": total_correct, "examples": total})
