"""The evaluator protocol: ``evaluate(point, report=None) -> Result``. No TensorFlow here.

Every way of scoring an architecture has this one shape, so the search driver
(``scheduler.py``) and its executors never care which one runs:

* child training from scratch (``child_evaluator.ChildEvaluator``),
* a lookup in a table (``table_evaluator.TableEvaluator``),
* the synthetic problems (``objectives.py``, ``synthetic.SyntheticEvaluator``).

``point`` is the decoded ``nasnet.genotype.Genotype`` where the search space
decodes (``NasnetCellSpace``), else the tuple of choices (``CategoricalSpace``).
``report(epoch, metrics)``, when given, is called after every epoch (``epoch``
counts from 1); a return value of False asks the evaluator to stop that child
early (the hook for ASHA-style schedulers; NAS-Bench-101's table and training
share one result shape in the same way). A wrapper whose reward multiplies the
inner reward by a factor known before training (a cost-aware reward,
``reward.CostAwareEvaluator``) adds that factor to every epoch's metrics as
``REWARD_FACTOR``, so that early stopping compares rewards, not accuracies;
it may also offer ``recover(point, result) -> Result``, which the driver
calls on a result it rebuilt itself (a child stopped at a rung before a kill)
to finish it as ``evaluate`` would have.

``Result(reward, metrics, error)``: a finite float reward and ``error=None``
for a success, reward None and the failure's text for a failure; it validates
itself on construction, which is the only reward validation of the search.

Two adapters, used at the edges:

* ``from_function(fn)``: a user's plain ``fn(point) -> float | None`` as an
  evaluator (its value is turned into a Result once, by ``result_of``);
* ``CachedEvaluator(factory, cache_key)``: picklable; builds the real evaluator
  once per process on first use (a Ray worker loads the dataset once and
  reuses it for every child it trains).

This module imports no TensorFlow (tested), so the driver, the Ray workers of
a synthetic search and the strategies' benchmarks never pay for it.

Example:
    >>> evaluator = from_function(lambda choices: sum(choices) / 10)
    >>> evaluator.evaluate((1, 2, 3))
    Result(reward=0.6, metrics={}, error=None)
    >>> result_of(float("nan")).error
    'objective returned nan, not a finite number'
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Callable, Protocol

#: ``report(epoch, metrics) -> bool | None``: False stops the child early.
Report = Callable[[int, dict[str, Any]], Any]
#: An epoch's metric: the factor the child's reward multiplies its accuracy-based
#: reward by (module docstring); absent: 1.
REWARD_FACTOR = "reward_factor"


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of one evaluation.

    ``reward`` is a finite float for a success, None for a failure; ``error``
    is None for a success and the failure's text otherwise. ``metrics`` is
    JSON-serialisable (per-epoch history, timings, sizes).
    """

    reward: float | None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None

    def __post_init__(self):
        if self.error is None:
            if not _is_finite_number(self.reward):
                raise ValueError(f"a Result without an error needs a finite reward, "
                                 f"got {self.reward!r}")
            if type(self.reward) is not float:
                object.__setattr__(self, "reward", float(self.reward))
        else:
            if not isinstance(self.error, str) or not self.error:
                raise ValueError(f"error must be a non-empty string or None, got {self.error!r}")
            if self.reward is not None:
                raise ValueError(f"a failed Result has reward None, got {self.reward!r} "
                                 f"with error {self.error!r}")
        if not isinstance(self.metrics, dict):
            raise ValueError(f"metrics must be a dict, got {type(self.metrics).__name__}")

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failure(cls, error: str, metrics: dict[str, Any] | None = None) -> "Result":
        return cls(reward=None, metrics=dict(metrics or {}), error=error)


def _is_finite_number(value: Any) -> bool:
    if type(value) is float:  # the common case first: every trial of a search passes here
        return math.isfinite(value)
    # numbers.Real covers numpy's float32 / int64 scalars as well as int.
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


class Evaluator(Protocol):
    """Scores one architecture (see the module docstring)."""

    def evaluate(self, point: Any, report: Report | None = None) -> Result:
        """Never raises for a failure of the architecture: that is a failed Result."""


def result_of(value: Any) -> Result:
    """A user objective's return value as a Result: a Result as is, a finite number
    as the reward, anything else (None, NaN, a string) as a failure naming it."""
    if isinstance(value, Result):
        return value
    if _is_finite_number(value):
        return Result(reward=value)
    return Result.failure(f"objective returned {value!r}, not a finite number")


class FunctionEvaluator:
    """``fn(point) -> float | None`` as an evaluator (see ``from_function``)."""

    def __init__(self, fn: Callable[[Any], Any]):
        if not callable(fn):
            raise ValueError(f"an objective must be callable, got {fn!r}")
        self.fn = fn

    def evaluate(self, point: Any, report: Report | None = None) -> Result:
        del report  # a plain function has no epochs
        return result_of(self.fn(point))


def from_function(objective: Any) -> Evaluator:
    """``objective`` as an evaluator: an evaluator as is, a plain callable wrapped.

    An exception raised by a wrapped function is a failed trial (the executors
    record it), like any evaluator's.
    """
    if callable(getattr(objective, "evaluate", None)):
        return objective
    return FunctionEvaluator(objective)


class CachedEvaluator:
    """A picklable evaluator that builds the real one once per process.

    ``factory()`` builds it (for a child evaluator: loads the dataset, seconds);
    Ray reuses worker processes, so each builds it on its first trial and keeps
    it under ``cache_key`` for the next ones.
    """

    _cache: dict[str, Any] = {}

    def __init__(self, factory: Callable[[], Any], cache_key: str):
        if not callable(factory):
            raise ValueError(f"factory must be callable, got {factory!r}")
        self.factory = factory
        self.cache_key = cache_key

    def evaluator(self) -> Evaluator:
        if self.cache_key not in CachedEvaluator._cache:
            CachedEvaluator._cache[self.cache_key] = self.factory()
        return CachedEvaluator._cache[self.cache_key]

    def evaluate(self, point: Any, report: Report | None = None) -> Result:
        return self.evaluator().evaluate(point, report)
