"""Fake evaluators for the runner tests: the evaluator interface, no TensorFlow.

``FakeEvaluator.evaluate(genotype, report=None) -> FakeResult(reward, metrics,
error)`` like the child-training evaluator. Rewards are a deterministic
function of the architecture, so a resumed search sees the same rewards as an
uninterrupted one. Behaviours by reward bucket: ``raise_below`` raises,
``nan_below`` returns NaN, ``crash_below`` kills the worker process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from typing import Any


@dataclasses.dataclass(frozen=True)
class FakeResult:
    reward: float | None
    metrics: dict[str, Any]
    error: str | None = None


def score(point: Any) -> float:
    """A reward in [0, 1) from the genotype fingerprint (or the choices)."""
    key = point.fingerprint() if hasattr(point, "fingerprint") else repr(tuple(point))
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 16 ** 8


@dataclasses.dataclass
class FakeEvaluator:
    raise_below: float = -1.0
    nan_below: float = -1.0
    crash_below: float = -1.0
    sleep: float = 0.0

    def evaluate(self, point, report=None):
        r = score(point)
        if self.sleep:
            time.sleep(self.sleep)
        if r < self.crash_below:
            os._exit(3)
        if r < self.raise_below:
            raise RuntimeError(f"fake child failed ({r:.3f})")
        if r < self.nan_below:
            return FakeResult(float("nan"), {"loss": float("nan")})
        if report is not None:
            report(0, {"accuracy": r})
        return FakeResult(r, {"val_accuracy": r, "epochs": 1})


def fake_factory(**kwargs):
    return FakeEvaluator(**kwargs)
