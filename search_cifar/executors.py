"""Where the search driver's trials run: the executor interface and the in-process executor.

The driver (``scheduler.run``) hands an executor ``submit(trial_id, evaluator,
point)`` calls, up to its ``capacity`` at a time, and takes finished trials
back from ``wait() -> (trial_id, Result, duration in seconds)``, first
finished first. Two executors:

* ``InProcessExecutor`` (here): runs trials in this process, one at a time.
  The cheap-objective path of tests and benchmarks, and the foreground
  ``--workers=0`` mode of the search binary (the child's Keras progress bar is
  the terminal's). It does no per-trial work beyond the evaluation and its
  wall time (a few microseconds matter when the objective is a table
  lookup): the metrics are the evaluator's. A trial that kills the process
  ends the search; resume runs it again.
* ``ray_executor.RayExecutor``: each trial a Ray core task, on an embedded
  local Ray or a cluster.

Both evaluate through ``evaluate_point``, so a trial fails the same way
everywhere: an exception raised by the evaluator, or a return value that is
not a ``Result``, becomes a failed Result (the traceback in
``metrics["traceback"]``), never a crash of the search.

Early stopping (``early_stopping.py``): ``submit(..., rungs=(1, 3),
decide=fn)`` gives the evaluator a ``RungReporter`` as its ``report`` hook.
It keeps the child's per-epoch metrics (as JSON values) and, at the rung
epochs only, asks the driver ``decide(trial_id, epoch, history) -> bool``
whether the child continues, and waits for the answer; other epochs continue
without asking. The in-process executor calls ``decide`` directly; the Ray
executor carries the question from the worker to the driver and the answer
back (``ray_executor``), answering inside its ``wait``. So ``decide`` always
runs in the driver's process, in the thread that called ``wait``.

Example:
    >>> executor = InProcessExecutor()
    >>> executor.submit(0, evaluator.from_function(lambda c: 0.5), (1, 2))
    >>> executor.wait()[1].reward
    0.5
"""

from __future__ import annotations

import math
import time
import traceback
from typing import Any, Callable, Protocol, Sequence

from search_cifar.evaluator import Evaluator, Report, Result

#: ``decide(trial_id, epoch, history) -> bool``: whether a child continues after a rung
#: (``history``: its per-epoch metrics so far); runs in the driver.
Decide = Callable[[int, int, list], bool]

class Executor(Protocol):
    """What the driver needs of an executor (see the module docstring)."""

    capacity: int

    @property
    def num_running(self) -> int:
        """Trials submitted and not yet returned by ``wait``."""

    def submit(self, trial_id: int, evaluator: Evaluator, point: Any,
               rungs: Sequence[int] = (), decide: Decide | None = None) -> None:
        """Starts (or queues) one trial; with ``rungs`` and ``decide``, the trial asks
        ``decide`` at those epochs whether it continues (see the module docstring)."""

    def wait(self) -> tuple[int, Result, float | None]:
        """Blocks until a trial finishes: its id, Result and duration (None if unknown)."""

    def describe(self) -> str:
        """One line for the search's start-up message."""

    def close(self) -> None:
        """Releases workers; running trials are abandoned (resume re-runs them)."""


def jsonable(value: Any) -> Any:
    """Metrics as JSON values: numpy scalars to numbers, NaN kept as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float)):
        return value
    return str(value)


class RungReporter:
    """A child's ``report(epoch, metrics)`` hook under early stopping.

    Keeps every epoch's metrics (as JSON values); at the epochs in ``rungs``
    returns ``ask(epoch, history)`` (the driver's decision), at other epochs
    True (continue), and False at every epoch after a stop.
    """

    def __init__(self, rungs: Sequence[int], ask: Callable[[int, list], Any]):
        self.rungs = frozenset(rungs)
        self.ask = ask
        self.history: list[dict[str, Any]] = []
        self.stopped = False

    def __call__(self, epoch: int, metrics: dict[str, Any]) -> bool:
        self.history.append(jsonable(dict(metrics)))
        if self.stopped:
            return False
        if epoch in self.rungs and not self.ask(epoch, list(self.history)):
            self.stopped = True
        return not self.stopped


def evaluate_point(evaluator: Evaluator, point: Any, report: Report | None = None) -> Result:
    """``evaluator.evaluate(point, report)``, with every failure turned into a failed Result
    (``report`` is passed only when given, so an ``evaluate(point)`` without it works)."""
    try:
        result = evaluator.evaluate(point) if report is None else evaluator.evaluate(point, report)
    except Exception as e:  # noqa: BLE001 -- a failed trial is a record, not a crash
        return Result.failure(f"{type(e).__name__}: {e}",
                              {"traceback": traceback.format_exc()})
    if not isinstance(result, Result):
        return Result.failure(f"the evaluator returned a {type(result).__name__}, not a Result "
                              f"(search_cifar.evaluator.Result)")
    return result


class _DecideFailed(BaseException):
    """Carries an exception of the driver's ``decide`` through the evaluator (which turns
    any ``Exception`` into a failed child) to ``wait``, which raises it: a failure of the
    driver stops the search, as it does on Ray."""

    def __init__(self, error: Exception):
        super().__init__(error)
        self.error = error


class InProcessExecutor:
    """Runs trials in this process, one at a time (see the module docstring)."""

    capacity = 1

    def __init__(self):
        self._queue: list[tuple[int, Evaluator, Any, Report | None]] = []

    @property
    def num_running(self) -> int:
        return len(self._queue)

    def submit(self, trial_id: int, evaluator: Evaluator, point: Any,
               rungs: Sequence[int] = (), decide: Decide | None = None) -> None:
        report = None
        if rungs and decide is not None:
            def ask(epoch: int, history: list) -> bool:
                try:
                    return decide(trial_id, epoch, history)
                except Exception as e:  # noqa: BLE001 -- re-raised by wait()
                    raise _DecideFailed(e) from e

            report = RungReporter(rungs, ask)
        self._queue.append((trial_id, evaluator, point, report))

    def wait(self) -> tuple[int, Result, float | None]:
        if not self._queue:
            raise ValueError("wait() with no trial submitted")
        trial_id, evaluator, point, report = self._queue.pop(0)
        start = time.monotonic()
        try:
            result = evaluate_point(evaluator, point, report)
        except _DecideFailed as e:
            raise e.error from None
        return trial_id, result, time.monotonic() - start

    def describe(self) -> str:
        return "in-process (1 trial at a time)"

    def close(self) -> None:
        self._queue.clear()
