"""A synthetic evaluator: the evaluator protocol over a seeded table, no training.

``SyntheticEvaluator(num_blocks, ops, seconds=0.5).evaluate(genotype)``
returns a ``Result`` whose reward is ``objectives.NasnetCellObjective``'s (an
additive-over-blocks score with a known optimum), after ``seconds`` of sleep
per epoch that stands in for training. With ``epochs=1`` (the default) the
child has one "epoch" and ``report`` is called once; with more, the reward is
reached along ``objectives.LearningCurveObjective``'s learning curve, reported
epoch by epoch, and ``report`` returning False stops the child there (early
stopping, ``early_stopping.py``). It imports no TensorFlow, so Ray workers
start in a second: the ``synthetic`` experiments and the driver's tests use it
to exercise scheduling, early stopping, failures and resume.

Example:
    >>> ev = SyntheticEvaluator(num_blocks=3, ops=("sep_conv_3x3", "identity"))
    >>> ev.evaluate(genotype).reward
    0.61...
    >>> curves = SyntheticEvaluator(num_blocks=3, ops=("sep_conv_3x3", "identity"), epochs=9)
    >>> curves.evaluate(genotype, report=lambda epoch, m: epoch < 3).metrics["epochs_completed"]
    3
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from search_cifar import objectives
from search_cifar.evaluator import Report, Result


class SyntheticEvaluator:
    """``evaluate(genotype, report=None) -> Result`` (see the module docstring)."""

    def __init__(self, num_blocks: int, ops: Sequence[str], seconds: float = 0.0,
                 noise_sd: float = 0.02, seed: int = 0, epochs: int = 1):
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self.seconds = float(seconds)
        self.objective = objectives.NasnetCellObjective(num_blocks=num_blocks, ops=ops,
                                                        seed=seed, noise_sd=noise_sd)
        self.curves = objectives.LearningCurveObjective(self.objective, epochs=epochs, seed=seed)
        self.max_epochs = epochs

    def evaluate(self, genotype: Any, report: Report | None = None) -> Result:
        def epoch_end(epoch: int, metrics: dict[str, Any]) -> Any:
            time.sleep(self.seconds)  # the epoch's "training"
            return None if report is None else report(epoch, metrics)

        result = self.curves.evaluate(genotype, epoch_end)
        metrics: dict[str, Any] = {"val_accuracy": result.reward,
                                   "epochs_completed": result.metrics["epochs_completed"],
                                   "synthetic": True}
        if self.max_epochs > 1:
            metrics.update(history=result.metrics["history"],
                           stopped_early=result.metrics["stopped_early"])
        return Result(reward=result.reward, metrics=metrics)
