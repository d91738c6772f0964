"""The shared-weights evaluator: a point's reward is the supernet's accuracy on validation data.

``SupernetEvaluator(trainer, space)`` follows the project's evaluator
protocol (``search_cifar/evaluator.py``: ``evaluate(point, report=None) ->
Result``): ``evaluate`` scores a point (a choice tuple of ``space``, a
whole-block prefix, or a ``Genotype`` of it) on the NEXT minibatch of the
stream given to ``use_batches`` (ENAS: one shuffled validation minibatch per
sampled architecture). ``score`` evaluates a point on every batch of a
dataset (the derivation, where all candidates see the same images). Both
return a ``Result`` whose reward is the accuracy and whose ``metrics`` hold
``correct`` and ``examples``.

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

from typing import Sequence

import tensorflow as tf

from nasnet.genotype import Genotype
from search_cifar.evaluator import Report, Result
from search_cifar.space import NasnetCellSpace
from search_cifar.weight_sharing import architecture as arch_lib
from search_cifar.weight_sharing.training import SupernetTrainer


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

    def evaluate(self, point: Sequence[int] | Genotype, report: Report | None = None) -> Result:
        """Accuracy on the next minibatch; ``metrics``: ``correct`` and ``examples``.

        ``report`` (the protocol's per-epoch hook) is never called: there are no epochs.
        """
        del report
        if self._iterator is None:
            raise ValueError("SupernetEvaluator.evaluate needs batches: call use_batches first")
        correct, count = self.trainer.eval_step(self._iterator, self.architecture(point))
        correct, count = int(correct), int(count)
        return Result(reward=correct / count, metrics={"correct": correct, "examples": count})

    def score(self, point: Sequence[int] | Genotype, dataset: tf.data.Dataset) -> Result:
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
        return Result(reward=total_correct / total,
                        metrics={"correct": total_correct, "examples": total})
