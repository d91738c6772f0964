"""A synthetic evaluator: the evaluator protocol over a seeded table, no training.

``SyntheticEvaluator(num_blocks, ops, seconds=0.5).evaluate(genotype)``
returns a ``Result`` whose reward is ``objectives.NasnetCellObjective``'s (an
additive-over-blocks score with a known optimum), after ``seconds`` of sleep
that stands in for training; ``report`` is called once, for its one "epoch".
It imports no TensorFlow, so Ray workers start in a second: the ``synthetic``
experiment and the driver's tests use it to exercise scheduling, failures and
resume.

Example:
    >>> ev = SyntheticEvaluator(num_blocks=3, ops=("sep_conv_3x3", "identity"))
    >>> ev.evaluate(genotype).reward
    0.61...
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from search_cifar import objectives
from search_cifar.evaluator import Report, Result


class SyntheticEvaluator:
    """``evaluate(genotype, report=None) -> Result`` (see the module docstring)."""

    def __init__(self, num_blocks: int, ops: Sequence[str], seconds: float = 0.0,
                 noise_sd: float = 0.02, seed: int = 0):
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self.seconds = float(seconds)
        self.objective = objectives.NasnetCellObjective(num_blocks=num_blocks, ops=ops,
                                                        seed=seed, noise_sd=noise_sd)

    def evaluate(self, genotype: Any, report: Report | None = None) -> Result:
        time.sleep(self.seconds)
        reward = self.objective.reward(genotype)
        if report is not None:
            report(1, {"epoch": 1, "val_accuracy": reward})
        return Result(reward=reward, metrics={"val_accuracy": reward, "epochs_completed": 1,
                                              "synthetic": True})
