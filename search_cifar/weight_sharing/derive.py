"""Deriving the final cell (ENAS, Pham et al. 2018, Sec. 2.4): sample, score, keep the best.

``derive(strategy, evaluator, dataset, num_candidates)`` draws
``num_candidates`` points of the strategy's final policy (``strategy.sample``:
the rl controller's distribution, evolution's population, uniform for
random search, where this is Li & Talwalkar 2019's random search with weight
sharing), drops repeats (same genotype fingerprint), scores each on every
batch of ``dataset`` with the shared weights, and returns them best first
(ties: the earlier draw), each as a ``Candidate``.

Example:
    >>> candidates = derive(strategy, evaluator, data.validation(10), num_candidates=100)
    >>> best = candidates[0].genotype
"""

from __future__ import annotations

import dataclasses
from typing import Any

import tensorflow as tf

from nasnet.genotype import Genotype
from search_cifar.strategies import Strategy
from search_cifar.weight_sharing.evaluator import SupernetEvaluator


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One derived cell: its draw number, choices, genotype and shared-weight accuracy."""

    draw: int
    choices: tuple[int, ...]
    genotype: Genotype
    accuracy: float
    examples: int

    def to_dict(self) -> dict[str, Any]:
        return {"draw": self.draw, "choices": list(self.choices),
                "fingerprint": self.genotype.fingerprint(), "accuracy": self.accuracy,
                "examples": self.examples, "genotype": self.genotype.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Candidate":
        return cls(draw=int(data["draw"]), choices=tuple(int(c) for c in data["choices"]),
                   genotype=Genotype.from_dict(data["genotype"]),
                   accuracy=float(data["accuracy"]), examples=int(data["examples"]))


def derive(strategy: Strategy, evaluator: SupernetEvaluator, dataset: tf.data.Dataset,
           num_candidates: int) -> list[Candidate]:
    """The distinct sampled candidates, scored on ``dataset``, best first."""
    space = evaluator.space
    seen: set[str] = set()
    candidates = []
    for draw, choices in enumerate(strategy.sample(num_candidates)):
        genotype = space.decode(choices)
        if genotype.fingerprint() in seen:
            continue
        seen.add(genotype.fingerprint())
        estimate = evaluator.score(choices, dataset)
        candidates.append(Candidate(draw=draw, choices=tuple(choices), genotype=genotype,
                                    accuracy=estimate.reward,
                                    examples=estimate.metrics["examples"]))
    return sorted(candidates, key=lambda c: (-c.accuracy, c.draw))
