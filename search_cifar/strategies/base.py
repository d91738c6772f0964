"""The ask/tell contract every search strategy implements.

A strategy sees only proposals (tuples of categorical choices) and rewards
(floats, or None for a failed trial). Evaluation, persistence and scheduling
live elsewhere (Vizier's Designer.suggest/update; KerasTuner's Oracle).

Contract:
    * ``ask()`` returns a new Proposal; several may be outstanding at once.
    * ``tell(proposal, reward)`` accepts them in any order; ``reward`` None
      means the trial failed. Telling a proposal that was never asked (or
      twice) raises ValueError.
    * ``get_state()`` returns a JSON-serialisable dict that includes the
      strategy name, the space signature and the RNG state; ``set_state``
      restores it exactly, so a resumed run continues exactly like an
      uninterrupted one. It raises ValueError for a state of another strategy
      or another space.

Example:
    >>> from search_cifar import strategies
    >>> s = strategies.make("random", space, seed=0)
    >>> p = s.ask(); s.tell(p, 0.9)
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
from typing import Any, Callable, ClassVar, Protocol, Sequence


class SpaceLike(Protocol):
    """What a strategy may know of a space (see ``search_cifar/space.py``)."""

    num_choices: tuple[int, ...]

    def signature(self) -> dict[str, Any]:
        """A JSON-serialisable description that identifies the space."""


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One suggested point: ``choices[i]`` is in ``range(space.num_choices[i])``."""

    id: int
    choices: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "choices": list(self.choices)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Proposal":
        return cls(id=int(data["id"]), choices=tuple(int(c) for c in data["choices"]))


class Strategy(abc.ABC):
    """Base class: proposal bookkeeping shared by all strategies."""

    name: ClassVar[str] = ""

    def __init__(self, space: SpaceLike, seed: int = 0):
        self.space = space
        self.seed = seed
        self._next_id = 0
        self._pending: dict[int, Proposal] = {}

    # -- to implement -----------------------------------------------------
    @abc.abstractmethod
    def _propose(self) -> tuple[int, ...]:
        """Returns the choices of the next proposal."""

    @abc.abstractmethod
    def _observe(self, proposal: Proposal, reward: float | None) -> None:
        """Learns from one finished trial."""

    @abc.abstractmethod
    def _get_algorithm_state(self) -> dict[str, Any]:
        """JSON-serialisable algorithm state (RNG included)."""

    @abc.abstractmethod
    def _set_algorithm_state(self, state: dict[str, Any]) -> None:
        """Restores what ``_get_algorithm_state`` returned."""

    # -- the public contract ----------------------------------------------
    def ask(self) -> Proposal:
        choices = tuple(int(c) for c in self._propose())
        proposal = Proposal(id=self._next_id, choices=choices)
        self._next_id += 1
        self._pending[proposal.id] = proposal
        return proposal

    def tell(self, proposal: Proposal, reward: float | None) -> None:
        known = self._pending.get(proposal.id)
        if known is None or known.choices != tuple(proposal.choices):
            raise ValueError(
                f"tell for proposal {proposal.id} {list(proposal.choices)} that this "
                f"{self.name!r} strategy has not asked (or was already told)")
        if reward is not None:
            reward = float(reward)
            if reward != reward:  # NaN counts as a failed trial.
                reward = None
        del self._pending[proposal.id]
        self._observe(proposal, reward)

    @property
    def pending(self) -> list[Proposal]:
        return list(self._pending.values())

    def get_state(self) -> dict[str, Any]:
        return {"strategy": self.name, "space": self.space.signature(),
                "next_id": self._next_id,
                "pending": [p.to_dict() for p in self._pending.values()],
                "algorithm": self._get_algorithm_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "strategy" not in state:
            raise ValueError(f"not a strategy state: {str(state)[:80]!r}")
        if state["strategy"] != self.name:
            raise ValueError(
                f"state belongs to strategy {state['strategy']!r}, not {self.name!r}")
        if state.get("space") != self.space.signature():
            raise ValueError(
                f"state was saved for space {state.get('space')!r}, not "
                f"{self.space.signature()!r}")
        self._next_id = int(state["next_id"])
        self._pending = {p.id: p for p in map(Proposal.from_dict, state["pending"])}
        self._set_algorithm_state(state["algorithm"])


_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: makes ``cls`` available to ``make(cls.name, ...)``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    return sorted(_REGISTRY)


def make(name: str, space: SpaceLike, seed: int = 0, **options: Any) -> Strategy:
    """Builds the strategy called ``name``; options are its keyword arguments."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown strategy {name!r}; known: {names()}")
    cls = _REGISTRY[name]
    params = inspect.signature(cls.__init__).parameters
    allowed = {p for p in params if p not in ("self", "space", "seed")}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"strategy {name!r} does not take option(s) {unknown}; it takes {sorted(allowed)}")
    return cls(space, seed=seed, **options)
