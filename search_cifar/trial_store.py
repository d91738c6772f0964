"""Trial records, the strategy state of a search work directory, and a search's result.

What the search driver (``scheduler.py``) records and returns; the only code
that reads or writes these files::

    <workdir>/trials/000000.json   one record per finished trial (``Trial``)
    <workdir>/state.json           {"format_version": 1, "strategy": strategy.get_state()}
    <workdir>/rungs/000003.json    early stopping only: the rung history of a child
                                   still running (``RungRecord``)

Every file is written atomically (``nasnet.io_utils``), so a search killed at
any moment leaves whole files only. The order of writes is what makes resume
exact: a trial's record is written before the strategy is told its reward,
and the state is written after every ask and every tell. So on restart each
proposal in the saved state's ``pending`` list either has a record (the
search died between the record and the tell: tell it the recorded reward) or
was still running (run it again).

Under early stopping (``early_stopping.py``) the driver also writes a
running child's ``RungRecord`` at every rung it decides, before the child
hears the decision, and removes it once the child's ``Trial`` is written
(whose ``fidelity`` then holds the same decisions). So a pending proposal
may also have a rung record: its decisions survive the kill (a child stopped
at a rung is recorded from it, never trained again; see ``scheduler.py``).

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

from nasnet import artifacts, io_utils, json_types

if TYPE_CHECKING:
    from search_cifar.strategies.base import Strategy

FORMAT_VERSION = 1
STATUSES = ("ok", "failed", "duplicate")
#: What the driver decides for a child at a rung (``early_stopping.py``).
DECISIONS = ("continue", "stop")


def _check_int(what: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class RungDecision:
    """The driver's decision for one child at one rung: after ``epoch`` epochs its
    ``value`` (the compared metric, None when it was not a finite number) made it
    ``"continue"`` to the next rung or ``"stop"`` there."""

    epoch: int
    value: float | None
    decision: str

    def __post_init__(self):
        _check_int("a rung decision's epoch", self.epoch, 1)
        if self.value is not None and (isinstance(self.value, bool)
                                       or not isinstance(self.value, (int, float))
                                       or not math.isfinite(self.value)):
            raise ValueError(f"a rung decision's value must be a finite number or null, "
                             f"got {self.value!r}")
        if self.decision not in DECISIONS:
            raise ValueError(f"a rung decision must be one of {DECISIONS}, got {self.decision!r}")

    @classmethod
    def from_dict(cls, data: Any) -> "RungDecision":
        return _strict_dataclass(cls, data, "rung decision")


def _check_decisions(decisions: Any) -> tuple[RungDecision, ...]:
    """Decisions as a tuple of RungDecision: epochs increasing, only the last a stop."""
    if isinstance(decisions, (str, bytes)) or not isinstance(decisions, (list, tuple)):
        raise ValueError(f"rung decisions must be a list, got {decisions!r}")
    out = tuple(d if isinstance(d, RungDecision) else RungDecision.from_dict(d)
                for d in decisions)
    epochs = [d.epoch for d in out]
    if any(b <= a for a, b in zip(epochs, epochs[1:])):
        raise ValueError(f"rung decisions must be at increasing epochs, got epochs {epochs}")
    if any(d.decision == "stop" for d in out[:-1]):
        raise ValueError(f"only the last rung decision can be a stop, got "
                         f"{[d.decision for d in out]}")
    return out


@dataclasses.dataclass(frozen=True)
class Fidelity:
    """At which fidelity a child was evaluated under early stopping.

    ``epochs`` trained out of ``max_epochs``; ``rung``: the highest rung of the
    ladder (the decision rungs, then ``max_epochs``) it completed, counted from 0
    (None: none); ``stopped_early``: the driver stopped it before ``max_epochs``;
    ``decisions``: the driver's decision at each rung it reached.
    """

    epochs: int
    max_epochs: int
    rung: int | None
    stopped_early: bool
    decisions: tuple[RungDecision, ...] = ()

    def __post_init__(self):
        _check_int("fidelity epochs", self.epochs, 0)
        _check_int("fidelity max_epochs", self.max_epochs, 1)
        if self.rung is not None:
            _check_int("fidelity rung", self.rung, 0)
        if not isinstance(self.stopped_early, bool):
            raise ValueError(f"fidelity stopped_early must be true or false, "
                             f"got {self.stopped_early!r}")
        object.__setattr__(self, "decisions", _check_decisions(self.decisions))

    @property
    def full(self) -> bool:
        """Trained for every epoch (the fidelity of a search without early stopping)."""
        return self.epochs >= self.max_epochs

    @classmethod
    def from_dict(cls, data: Any) -> "Fidelity":
        return _strict_dataclass(cls, data, "fidelity")


@dataclasses.dataclass(frozen=True)
class RungRecord:
    """The rung history of one child still running under early stopping (``rungs/<id>.json``).

    ``trial`` is its proposal id and ``key`` its architecture identity;
    ``decisions`` the driver's decisions so far; ``history`` the child's
    per-epoch metrics up to the last decided rung, from which a child stopped
    there is recorded if the search dies before its result arrives.
    """

    trial: int
    key: str
    decisions: tuple[RungDecision, ...]
    history: tuple[dict[str, Any], ...] = ()

    def __post_init__(self):
        _check_int("a rung record's trial", self.trial, 0)
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"a rung record's key must be a non-empty string, got {self.key!r}")
        object.__setattr__(self, "decisions", _check_decisions(self.decisions))
        if isinstance(self.history, (str, bytes)) or not isinstance(self.history, (list, tuple)) \
                or not all(isinstance(m, dict) for m in self.history):
            raise ValueError(f"a rung record's history must be a list of objects, "
                             f"got {self.history!r}")
        object.__setattr__(self, "history", tuple(self.history))

    @property
    def stopped(self) -> bool:
        return bool(self.decisions) and self.decisions[-1].decision == "stop"

    def decision_at(self, epoch: int) -> str | None:
        """The recorded decision at ``epoch`` (None when there is none)."""
        return next((d.decision for d in self.decisions if d.epoch == epoch), None)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["format_version"] = FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "RungRecord":
        version = data.get("format_version") if isinstance(data, dict) else None
        if isinstance(version, bool) or version != FORMAT_VERSION:
            raise ValueError(f"not a rung record of format {FORMAT_VERSION}: "
                             f"{json_types.show(data)}")
        return _strict_dataclass(cls, {k: v for k, v in data.items() if k != "format_version"},
                                 "rung record")


def _strict_dataclass(cls, data: Any, what: str):
    """``cls(**data)``: unknown or missing keys and wrong JSON types are ValueErrors."""
    if isinstance(data, cls):
        return data
    json_types.check(cls, data, what)
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{what} has unknown key(s) {unknown}")
    missing = sorted(f.name for f in fields if f.name not in data
                     and f.default is dataclasses.MISSING)
    if missing:
        raise ValueError(f"{what} is missing key(s) {missing}")
    return cls(**data)


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
    ``fidelity`` (early stopping only, else None): the epochs the child trained,
    the rung it reached, whether it was stopped early, and the driver's rung
    decisions (``Fidelity``).
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
    fidelity: Fidelity | None = None

    def __post_init__(self):
        if isinstance(self.fidelity, dict):
            object.__setattr__(self, "fidelity", Fidelity.from_dict(self.fidelity))
        if self.fidelity is not None and not isinstance(self.fidelity, Fidelity):
            raise ValueError(f"a trial's fidelity must be a Fidelity or None, "
                             f"got {self.fidelity!r}")
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
    def from_dict(cls, data: Any) -> "Trial":
        """Strict: the keys of ``to_dict`` with their JSON types (booleans are not
        numbers, ``nasnet.json_types``); ValueError naming the bad key otherwise."""
        version = data.get("format_version") if isinstance(data, dict) else None
        if isinstance(version, bool) or version != FORMAT_VERSION:
            raise ValueError(f"not a trial record of format {FORMAT_VERSION}: "
                             f"{json_types.show(data)}")
        fields = dataclasses.fields(cls)
        names = {f.name for f in fields}
        unknown = sorted(set(data) - names - {"format_version"})
        if unknown:
            raise ValueError(f"trial record has unknown key(s) {unknown}")
        missing = sorted(f.name for f in fields if f.name not in data
                         and f.default is dataclasses.MISSING)
        if missing:
            raise ValueError(f"trial record is missing key(s) {missing}")
        json_types.check(cls, data, "trial record")
        values = {k: v for k, v in data.items() if k in names}
        values["choices"] = tuple(values["choices"])
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
            trial = Trial.from_dict(io_utils.read_json(path, "trial record"))
        except ValueError as e:
            raise ValueError(f"bad trial record {path}: {e}") from None
        trials[trial.id] = trial
    return trials


def rungs_path(workdir: str, trial_id: int) -> str:
    return os.path.join(workdir, artifacts.RUNGS_DIR, f"{trial_id:06d}.json")


def load_rungs(workdir: str) -> dict[int, RungRecord]:
    """The rung records of a workdir, by trial id; ValueError naming a bad file."""
    records = {}
    for path in sorted(glob.glob(os.path.join(workdir, artifacts.RUNGS_DIR, "*.json"))):
        try:
            record = RungRecord.from_dict(io_utils.read_json(path, "rung record"))
        except ValueError as e:
            raise ValueError(f"bad rung record {path}: {e}") from None
        if os.path.basename(path) != os.path.basename(rungs_path(workdir, record.trial)):
            raise ValueError(f"bad rung record {path}: it holds trial {record.trial}")
        records[record.trial] = record
    return records


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

    def load_rungs(self) -> dict[int, RungRecord]:
        return load_rungs(self.workdir)

    def save_rungs(self, record: RungRecord) -> None:
        text = json.dumps(record.to_dict(), indent=2, sort_keys=True, default=_json_default)
        io_utils.atomic_write_text(rungs_path(self.workdir, record.trial), text + "\n")

    def remove_rungs(self, trial_id: int) -> None:
        """Removes a finished child's rung record (its Trial holds the decisions now)."""
        try:
            os.remove(rungs_path(self.workdir, trial_id))
        except FileNotFoundError:
            pass

    def load_state(self) -> dict[str, Any] | None:
        """The saved strategy state, or None when there is none yet."""
        if not os.path.exists(self.state_path):
            return None
        try:
            saved = io_utils.read_json(self.state_path, "search state")
        except ValueError as e:
            raise ValueError(f"cannot read the search state: {e}") from None
        version = saved.get("format_version") if isinstance(saved, dict) else None
        if isinstance(version, bool) or version != FORMAT_VERSION \
                or not isinstance(saved.get("strategy"), dict):
            raise ValueError(f"{self.state_path}: not a search state of format "
                             f"{FORMAT_VERSION} (an object with format_version "
                             f"{FORMAT_VERSION} and a strategy object)")
        return saved["strategy"]

    def save_state(self, strategy_state: dict[str, Any]) -> None:
        io_utils.atomic_write_json(
            self.state_path, {"format_version": FORMAT_VERSION, "strategy": strategy_state})
