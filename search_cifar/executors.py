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

Example:
    >>> executor = InProcessExecutor()
    >>> executor.submit(0, evaluator.from_function(lambda c: 0.5), (1, 2))
    >>> executor.wait()[1].reward
    0.5
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Protocol

from search_cifar.evaluator import Evaluator, Result

class Executor(Protocol):
    """What the driver needs of an executor (see the module docstring)."""

    capacity: int

    @property
    def num_running(self) -> int:
        """Trials submitted and not yet returned by ``wait``."""

    def submit(self, trial_id: int, evaluator: Evaluator, point: Any) -> None:
        """Starts (or queues) one trial."""

    def wait(self) -> tuple[int, Result, float | None]:
        """Blocks until a trial finishes: its id, Result and duration (None if unknown)."""

    def describe(self) -> str:
        """One line for the search's start-up message."""

    def close(self) -> None:
        """Releases workers; running trials are abandoned (resume re-runs them)."""


def evaluate_point(evaluator: Evaluator, point: Any) -> Result:
    """``evaluator.evaluate(point)``, with every failure turned into a failed Result."""
    try:
        result = evaluator.evaluate(point)
    except Exception as e:  # noqa: BLE001 -- a failed trial is a record, not a crash
        return Result.failure(f"{type(e).__name__}: {e}",
                              {"traceback": traceback.format_exc()})
    if not isinstance(result, Result):
        return Result.failure(f"the evaluator returned a {type(result).__name__}, not a Result "
                              f"(search_cifar.evaluator.Result)")
    return result


class InProcessExecutor:
    """Runs trials in this process, one at a time (see the module docstring)."""

    capacity = 1

    def __init__(self):
        self._queue: list[tuple[int, Evaluator, Any]] = []

    @property
    def num_running(self) -> int:
        return len(self._queue)

    def submit(self, trial_id: int, evaluator: Evaluator, point: Any) -> None:
        self._queue.append((trial_id, evaluator, point))

    def wait(self) -> tuple[int, Result, float | None]:
        if not self._queue:
            raise ValueError("wait() with no trial submitted")
        trial_id, evaluator, point = self._queue.pop(0)
        start = time.monotonic()
        result = evaluate_point(evaluator, point)
        return trial_id, result, time.monotonic() - start

    def describe(self) -> str:
        return "in-process (1 trial at a time)"

    def close(self) -> None:
        self._queue.clear()
