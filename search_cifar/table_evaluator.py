"""Table lookup: ``TableEvaluator`` scores an architecture by looking it up instead of training.

The NAS-Bench style drop-in for child training (Ying et al. 2019's table and
its training share one result shape): the same ``evaluate(genotype, report,
*, epochs, logdir) -> Result`` as ``child_evaluator.ChildEvaluator``,
per-epoch histories replayed through ``report`` (so an early-stopping
scheduler can be tested without training), failures as failed Results. For
tests, benchmarks and precomputed tables. No TensorFlow.

Example:
    >>> table = TableEvaluator({genotype.fingerprint(): 0.93})
    >>> table.evaluate(genotype).reward
    0.93
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Mapping

from nasnet.genotype import Genotype
from search_cifar.evaluator import Report, Result


class TableEvaluator:
    """Looks rewards up instead of training (tests, benchmarks, NAS-Bench-style tables).

    ``table`` is either a mapping from ``Genotype.fingerprint()`` (or from
    whatever ``key(genotype)`` returns) to an entry, or a callable
    ``genotype -> entry``. An entry is

    * a number: the reward;
    * a ``Result``: returned as is;
    * a mapping with ``"reward"`` and optionally ``"metrics"`` and
      ``"history"`` (a list of per-epoch metric dicts with ``"val_accuracy"``):
      with a history, ``report`` is called for each epoch as a trained child
      would call it, and returning False stops there with reward = that epoch's
      ``val_accuracy`` and ``metrics["stopped_early"] = True``; ``epochs``
      truncates the history likewise.

    A missing key, a callable that raises or returns None, or a non-finite
    reward gives a failed Result, as a failing child would.
    """

    def __init__(self, table: Mapping[str, Any] | Callable[[Genotype], Any],
                 key: Callable[[Genotype], str] | None = None):
        if not (callable(table) or isinstance(table, Mapping)):
            raise ValueError(f"table must be a mapping or a callable, got {type(table).__name__}")
        self.table = table
        self.key = key or (lambda genotype: genotype.fingerprint())

    def evaluate(self, genotype: Genotype, report: Report | None = None, *,
                 epochs: int | None = None, logdir: str | None = None) -> Result:
        del logdir  # nothing to log
        try:
            if callable(self.table) and not isinstance(self.table, Mapping):
                entry = self.table(genotype)
            else:
                key = self.key(genotype)
                if key not in self.table:
                    return Result.failure(f"no table entry for key {key!r}", {"key": key})
                entry = self.table[key]
            return self._result(entry, report, epochs)
        except Exception as e:  # noqa: BLE001 -- a failed lookup is a failed trial
            return Result.failure(f"{type(e).__name__}: {e}",
                                  {"traceback": traceback.format_exc()})

    @staticmethod
    def _result(entry: Any, report: Report | None, epochs: int | None) -> Result:
        if isinstance(entry, Result):
            return entry
        if entry is None:
            return Result.failure("table entry is None")
        if isinstance(entry, Mapping):
            unknown = set(entry) - {"reward", "metrics", "history"}
            if unknown:
                raise ValueError(f"unknown table entry keys {sorted(unknown)}; "
                                 f"known: ['history', 'metrics', 'reward']")
            metrics = dict(entry.get("metrics") or {})
            history = [dict(m) for m in entry.get("history") or []]
            reward = entry.get("reward")
            if epochs is not None:
                if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
                    raise ValueError(f"epochs must be an int > 0, got {epochs!r}")
                if epochs < len(history):
                    history = history[:epochs]
                    reward = history[-1]["val_accuracy"]
            stopped = False
            if report is not None:
                for i, epoch_metrics in enumerate(history):
                    if report(i + 1, dict(epoch_metrics)) is False:
                        stopped = i + 1 < len(history)
                        history = history[:i + 1]
                        if stopped:
                            reward = epoch_metrics["val_accuracy"]
                        break
            metrics.update(history=history, epochs_completed=len(history), stopped_early=stopped)
        else:
            reward, metrics = entry, {}
        try:
            return Result(reward=reward, metrics=metrics)  # validates the reward
        except ValueError:
            return Result.failure(f"table reward is not a finite number: {reward!r}", metrics)
