"""Fake evaluators for the driver's tests: the evaluator protocol, no TensorFlow.

``FakeEvaluator.evaluate(point, report=None) -> Result`` like the child
evaluator. Rewards are a deterministic function of the architecture, so a
resumed search sees the same rewards as an uninterrupted one. Behaviours by
reward bucket: ``crash_below`` kills the worker process, ``raise_below``
raises, ``bad_below`` returns a bare NaN instead of a Result, ``fail_below``
returns a failed Result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time

from search_cifar.evaluator import Result


def score(point) -> float:
    """A reward in [0, 1) from the genotype fingerprint (or the choices)."""
    key = point.fingerprint() if hasattr(point, "fingerprint") else repr(tuple(point))
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 16 ** 8


@dataclasses.dataclass
class FakeEvaluator:
    crash_below: float = -1.0
    raise_below: float = -1.0
    bad_below: float = -1.0
    fail_below: float = -1.0
    sleep: float = 0.0

    def evaluate(self, point, report=None):
        r = score(point)
        if self.sleep:
            time.sleep(self.sleep)
        if r < self.crash_below:
            os._exit(3)
        if r < self.raise_below:
            raise RuntimeError(f"fake child failed ({r:.3f})")
        if r < self.bad_below:
            return float("nan")
        if r < self.fail_below:
            return Result.failure(f"NaN loss ({r:.3f})", {"loss": None})
        if report is not None:
            report(1, {"val_accuracy": r})
        return Result(r, {"val_accuracy": r, "epochs": 1})


def fake_factory(**kwargs):
    return FakeEvaluator(**kwargs)
