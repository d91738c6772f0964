"""Trial records, the strategy state of a search work directory, and a search's result.

What the search driver (``scheduler.py``) records and returns; the only code
that reads or writes these files::

    <workdir>/trials/000000.json   one record per finished trial (``Trial``)
    <workdir>/state.json           {"format_version": 1, "strategy": strategy.get_state()}

Every file is written atomically (``nasnet.io_utils``), so a search killed at
any moment leaves whole files only. The order of writes is what makes resume
exact: a trial's record is written before the strategy is told its reward,
and the state is written after every ask and every tell. So on restart each
proposal in the saved state's ``pending`` list either has a record (the
search died between the record and the tell: tell it the recorded reward) or
was still running (run it again).

``SearchResult``: what the driver returns, every ``Trial`` in id order.

Example:
    >>> store = TrialStore("/tmp/search")
    >>> store.save_trial(trial); store.save_state(strategy.get_state())
    >>> store.load_trials()[trial.id] == trial
    True
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
from typing import TYPE_CHECKING, Any, Callable

from nasnet import artifacts, io_utils

if TYPE_CHECKING:
    from search_cifar.strategies.base import Strategy

FORMAT_VERSION = 1
STATUSES = ("ok", "failed", "duplicate")


@dataclasses.dataclass(frozen=True)
class Trial:
    """One finished trial.

    ``id`` is the proposal id; ``evaluation`` counts evaluated trials from 0 in
    the order they finished (None for a duplicate); ``duplicate_of`` is the id
    of the trial whose reward a duplicate reused; ``key`` is the architecture's
    identity (``space.key``: the genotype fingerprint for the NASNet space);
    ``genotype`` is ``Genotype.to_dict()`` where the space decodes.
    ``metrics`` are what the evaluator reported (accuracy, loss, epochs, ...)
    plus what the executor adds (``cpu_seconds``; on Ray the node id, host
    and pid) and ``duration`` the evaluation's wall time in seconds; both None
    for duplicates. ``finished_at`` is the Unix time the record was made.
    """

    id: int
    choices: tuple[int, ...]
    key: str
    status: str
    reward: float | None
    error: str | None = None
    evaluation: int | None = None
    duplicate_of: int | None = None
    genotype: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    duration: float | None = None
    finished_at: float | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"trial status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "ok" and (not isinstance(self.reward, (int, float))
                                    or not math.isfinite(self.reward)):
            raise ValueError(f"an ok trial needs a finite reward, got {self.reward!r}")
        if self.status == "failed" and self.reward is not None:
            raise ValueError(f"a failed trial has no reward, got {self.reward!r}")

    @property
    def fingerprint(self) -> str:
        """The architecture id (``key``; the genotype fingerprint in the NASNet space)."""
        return self.key

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["choices"] = list(self.choices)
        data["format_version"] = FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Trial":
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a trial record of format {FORMAT_VERSION}: {str(data)[:80]!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields - {"format_version"})
        if unknown:
            raise ValueError(f"trial record has unknown key(s) {unknown}")
        values = {k: v for k, v in data.items() if k in fields}
        values["choices"] = tuple(int(c) for c in values["choices"])
        return cls(**values)


@dataclasses.dataclass
class SearchResult:
    """What the search driver returns: every trial in proposal (id) order.

    ``stopped`` is ``"budget"`` or ``"repeats"`` (``max_repeats`` consecutive
    duplicates); ``num_evaluated`` counts the trials that were not duplicates.
    """

    trials: list[Trial]
    num_evaluated: int
    stopped: str
    strategy: Strategy

    @property
    def evaluated(self) -> list[Trial]:
        return [t for t in self.trials if t.status != "duplicate"]

    def best(self, where: Callable[[Trial], bool] | None = None) -> Trial | None:
        """The evaluated trial with the highest reward (the first on ties)."""
        ok = [t for t in self.evaluated if t.status == "ok" and (where is None or where(t))]
        return max(ok, key=lambda t: t.reward) if ok else None


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays in metrics as JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"a trial record cannot hold a {type(value).__name__}: {value!r}")


def trial_path(workdir: str, trial_id: int) -> str:
    return os.path.join(workdir, artifacts.TRIALS_DIR, f"{trial_id:06d}.json")


def load_trials(workdir: str) -> dict[int, Trial]:
    """The trial records of a workdir, by id; ValueError naming a bad file."""
    trials = {}
    for path in sorted(glob.glob(os.path.join(workdir, artifacts.TRIALS_DIR, "*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                trial = Trial.from_dict(json.load(f))
        except (OSError, json.JSONDecodeError, ValueError, TypeError, KeyError) as e:
            raise ValueError(f"bad trial record {path}: {e}") from None
        trials[trial.id] = trial
    return trials


class TrialStore:
    """The records and strategy state of one work directory (see the module docstring)."""

    def __init__(self, workdir: str):
        if not isinstance(workdir, str) or not workdir:
            raise ValueError(f"workdir must be a non-empty path, got {workdir!r}")
        self.workdir = workdir
        self.state_path = os.path.join(workdir, artifacts.SEARCH_STATE_FILE)

    def create(self) -> None:
        os.makedirs(os.path.join(self.workdir, artifacts.TRIALS_DIR), exist_ok=True)

    def load_trials(self) -> dict[int, Trial]:
        return load_trials(self.workdir)

    def save_trial(self, trial: Trial) -> None:
        text = json.dumps(trial.to_dict(), indent=2, sort_keys=True, default=_json_default)
        io_utils.atomic_write_text(trial_path(self.workdir, trial.id), text + "\n")

    def load_state(self) -> dict[str, Any] | None:
        """The saved strategy state, or None when there is none yet."""
        if not os.path.exists(self.state_path):
            return None
        try:
            with open(self.state_path, encoding="utf-8") as f:
                saved = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{self.state_path}: cannot read the search state: {e}") from None
        if not isinstance(saved, dict) or saved.get("format_version") != FORMAT_VERSION \
                or "strategy" not in saved:
            raise ValueError(f"{self.state_path}: not a search state of format {FORMAT_VERSION}")
        return saved["strategy"]

    def save_state(self, strategy_state: dict[str, Any]) -> None:
        io_utils.atomic_write_json(
            self.state_path, {"format_version": FORMAT_VERSION, "strategy": strategy_state})
