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
      or another space, or one saved with other options (``_options``).
    * ``ask()`` checks each proposal with ``space.validate`` where the space
      has it.
    * ``sample(n)`` returns ``n`` full-length points drawn from the strategy's
      current policy WITHOUT creating proposals: nothing becomes pending and
      nothing is told. A weight-sharing search trains its shared weights on
      them (``search_cifar/weight_sharing``). The default, for strategies
      without a policy of their own, is uniform draws from the space (the
      single-path one-shot training of Guo et al. 2020); ``rl`` samples its
      controller, ``evolution`` its living population. Draws come from a
      generator derived from ``(seed, call number)``, so ``sample`` never
      changes what ``ask`` proposes next, and the call count is in the state.

A strategy also says how many of its first proposals are uniform random draws
of the whole space (``num_random_proposals``), the baseline a search report
compares the strategy's later proposals with.

Strategies are made by name through ``registry.py``.

Helpers for implementations: ``new_rng(seed, *stream)`` (numpy
``Generator(PCG64)``), ``rng_state`` / ``restore_rng`` (its JSON-serialisable
state) and ``random_choices``.

Example:
    >>> from search_cifar import strategies
    >>> s = strategies.make("random", space, seed=0)
    >>> p = s.ask(); s.tell(p, 0.9)
"""

from __future__ import annotations

import abc
import dataclasses
import json
from typing import Any, Callable, ClassVar, Protocol, Sequence

import numpy as np


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
        """Strict: ``{"id": int, "choices": [int, ...]}`` (booleans are not integers)."""
        if not (isinstance(data, dict) and set(data) == {"id", "choices"}
                and _is_int(data["id"]) and isinstance(data["choices"], list)
                and all(_is_int(c) for c in data["choices"])):
            raise ValueError(f"not a proposal (an object of an integer 'id' and a list of "
                             f"integer 'choices'): {str(data)[:80]!r}")
        return cls(id=data["id"], choices=tuple(data["choices"]))


def _is_int(value: Any) -> bool:
    """An integer of a JSON state; booleans are not integers."""
    return isinstance(value, int) and not isinstance(value, bool)


#: The sub-stream of ``new_rng(seed, SAMPLE_STREAM, call)`` that ``Strategy.sample`` draws from.
SAMPLE_STREAM = 0x5A3D1E

# -- helpers for strategies -----------------------------------------------------
def new_rng(seed: int, *stream: int) -> np.random.Generator:
    """A numpy ``Generator(PCG64)`` for ``seed`` (and an optional sub-stream).

    ``new_rng(seed, 3)`` is independent of ``new_rng(seed)`` and of
    ``new_rng(seed, 4)``: use sub-streams to re-derive a generator (for example
    to retrain a surrogate) instead of storing it.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), *map(int, stream)])))


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's state as a JSON-serialisable dict (ints only)."""
    return rng.bit_generator.state


def restore_rng(state: dict[str, Any]) -> np.random.Generator:
    """A generator in exactly the state ``rng_state`` returned."""
    if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
        raise ValueError(f"not a PCG64 generator state: {str(state)[:80]!r}")
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


def random_choices(rng: np.random.Generator, num_choices: Sequence[int]) -> tuple[int, ...]:
    """One uniform point of a categorical space."""
    return tuple(int(c) for c in rng.integers(np.asarray(num_choices, dtype=np.int64)))


class Strategy(abc.ABC):
    """Base class: proposal bookkeeping shared by all strategies."""

    name: ClassVar[str] = ""
    #: Keys of the algorithm state whose values are booleans; a boolean anywhere else in
    #: a saved state is refused (JSON's ``true`` is not the integer 1).
    boolean_state_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, space: SpaceLike, seed: int = 0):
        if not hasattr(space, "num_choices") or not hasattr(space, "signature"):
            raise ValueError(f"not a search space (needs num_choices and signature()): {space!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an int, got {seed!r}")
        self.space = space
        self.seed = int(seed)
        self._next_id = 0
        self._pending: dict[int, Proposal] = {}
        self._num_sampled = 0  # sample() calls so far

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

    def _sample(self, rng: np.random.Generator, num: int) -> list[tuple[int, ...]]:
        """``num`` full-length points of the current policy (default: uniform), from ``rng``."""
        return [random_choices(rng, self.space.num_choices) for _ in range(num)]

    @property
    def num_random_proposals(self) -> int | None:
        """How many first proposals (ids ``0 .. n-1``) are uniform random draws of the
        whole space: a search's random baseline. None: every proposal is (random
        search); 0 (the default): none is, so a report shows no random baseline."""
        return 0

    def _options(self) -> dict[str, Any]:
        """The constructor options that shape the algorithm (JSON values).

        Saved in the state; ``set_state`` refuses a state saved with other
        options. Strategies should override it; the default is no options.
        """
        return {}

    # -- the public contract ----------------------------------------------
    def ask(self) -> Proposal:
        choices = tuple(int(c) for c in self._propose())
        validate = getattr(self.space, "validate", None)
        if validate is not None:
            validate(choices)  # A strategy bug, not a user error, if this raises.
        proposal = Proposal(id=self._next_id, choices=choices)
        self._next_id += 1
        self._pending[proposal.id] = proposal
        return proposal

    def sample(self, num: int) -> list[tuple[int, ...]]:
        """``num`` points of the current policy, no proposals created (see the module docstring)."""
        if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
            raise ValueError(f"sample needs a number of points >= 1, got {num!r}")
        rng = new_rng(self.seed, SAMPLE_STREAM, self._num_sampled)
        points = [tuple(int(c) for c in p) for p in self._sample(rng, int(num))]
        validate = getattr(self.space, "validate", None)
        for point in points:
            if len(point) != len(self.space.num_choices):
                raise ValueError(  # A strategy bug, not a user error, if this raises.
                    f"{self.name!r} sampled {len(point)} choices, not the space's "
                    f"{len(self.space.num_choices)}")
            if validate is not None:
                validate(point)
        self._num_sampled += 1
        return points

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

    @property
    def num_asked(self) -> int:
        """How many proposals were ever asked (the id the next one gets)."""
        return self._next_id

    def get_state(self) -> dict[str, Any]:
        return {"strategy": self.name, "space": self.space.signature(),
                "options": self._options(), "seed": self.seed,
                "next_id": self._next_id, "num_sampled": self._num_sampled,
                "pending": [p.to_dict() for p in self._pending.values()],
                "algorithm": self._get_algorithm_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "strategy" not in state:
            raise ValueError(f"not a strategy state: {str(state)[:80]!r}")
        if state["strategy"] != self.name:
            raise ValueError(
                f"state belongs to strategy {state['strategy']!r}, not {self.name!r}")
        if _canonical_json(state.get("space")) != _canonical_json(self.space.signature()):
            raise ValueError(
                f"state was saved for space {state.get('space')!r}, not "
                f"{self.space.signature()!r}")
        missing = sorted({"options", "seed", "next_id", "pending", "algorithm"} - set(state))
        if missing:
            raise ValueError(f"strategy state is missing key(s) {missing}")
        for key in ("seed", "next_id", "num_sampled"):
            if key == "num_sampled" and key not in state:
                continue  # states written before Strategy.sample existed: no sample drawn
            if not _is_int(state[key]) or state[key] < 0:
                raise ValueError(f"strategy state {key!r} must be an integer >= 0, got "
                                 f"{repr(state[key])[:80]}")
        if not isinstance(state["pending"], list):
            raise ValueError(f"strategy state 'pending' must be a list, got "
                             f"{repr(state['pending'])[:80]}")
        if _canonical_json(state["options"]) != _canonical_json(self._options()):
            raise ValueError(
                f"state was saved with {self.name!r} options {state['options']!r}, "
                f"not {self._options()!r}")
        pending = {p.id: p for p in map(Proposal.from_dict, state["pending"])}
        if not isinstance(state["algorithm"], dict):
            raise ValueError(f"strategy state 'algorithm' must be a dict, got {state['algorithm']!r}")
        misplaced = _boolean_paths(state["algorithm"], self.boolean_state_keys)
        if misplaced:
            raise ValueError(f"{self.name!r} algorithm state has true/false where a number or "
                             f"list belongs, at {misplaced[:5]}")
        old_seed = self.seed
        # The saved run's seed: generators derived from it (new_rng(seed, ...)) must match.
        self.seed = int(state["seed"])
        try:
            self._set_algorithm_state(state["algorithm"])
        except (KeyError, TypeError, IndexError, OverflowError) as e:
            self.seed = old_seed
            raise ValueError(
                f"malformed {self.name!r} algorithm state: {type(e).__name__}: {e}") from None
        except BaseException:
            self.seed = old_seed
            raise
        self._next_id = int(state["next_id"])
        self._num_sampled = int(state.get("num_sampled", 0))
        self._pending = pending


def _canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text: ``true`` and ``1`` differ here, unlike ``==``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _boolean_paths(value: Any, allowed: frozenset[str], path: str = "") -> list[str]:
    """Paths in ``value`` holding a boolean, except under a key named in ``allowed``."""
    if isinstance(value, bool):
        return [path or "."]
    if isinstance(value, dict):
        return [p for k, v in value.items() if k not in allowed
                for p in _boolean_paths(v, allowed, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _boolean_paths(v, allowed, f"{path}[{i}]")]
    return []
