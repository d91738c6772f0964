"""One conformance test for every registered strategy, on every space.

Each strategy must: propose valid points; give the same proposals for the
same seed; survive a JSON round trip of its state; resume from a state saved
mid-run (with proposals still outstanding, told out of order) and continue
exactly like an uninterrupted run; handle failed trials (None); and reject
bad input with a clear ValueError.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from search_cifar import strategies
from search_cifar.space import CategoricalSpace, NasnetCellSpace
from search_cifar.strategies.base import Proposal

SPACES = {
    "categorical": lambda: CategoricalSpace((5, 4, 3, 2, 6)),
    "nasnet": lambda: NasnetCellSpace(
        num_blocks=2, ops=("sep_conv_3x3", "max_pool_3x3", "avg_pool_3x3", "identity")),
}
# Small options where a default would make 40 steps too short to leave the
# random initialisation (the defaults are exercised by the quality tests).
OPTIONS = {"evolution": {"population_size": 8, "tournament_size": 3},
           "progressive": {"beam_size": 4}}


def _supports(name: str, space_name: str) -> bool:
    return not (name == "progressive" and space_name == "categorical")


# Variants that the conformance test covers beside each strategy's defaults.
# The GP sampler refits a GP on every ask (seconds each here): slow suite.
VARIANTS = {"bayesian_gp": ("bayesian", {"sampler": "gp", "n_startup_trials": 5}),
            "evolution_non_aging": ("evolution", {**OPTIONS["evolution"], "removal": "worst"})}
SLOW_VARIANTS = {"bayesian_gp"}

# PyTorch is an optional extra (requirements-gp.txt; CI installs it): without it the GP
# sampler cannot run, which test_bayesian_gp_without_torch_is_a_clear_error checks.
HAVE_TORCH = importlib.util.find_spec("torch") is not None
NEEDS_TORCH = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch (make setup-gp) not installed")

CASES = [pytest.param(name, space_name, id=f"{name}-{space_name}",
                      marks=[pytest.mark.slow, NEEDS_TORCH] if name in SLOW_VARIANTS else [])
         for name in [*strategies.names(), *VARIANTS] for space_name in SPACES
         if _supports(name, space_name)]


def registered_name(name: str) -> str:
    """The strategy's registered name (a variant's is its strategy's)."""
    return VARIANTS.get(name, (name,))[0]


def make(name: str, space, seed: int = 0):
    name, options = VARIANTS.get(name, (name, OPTIONS.get(name, {})))
    return strategies.make(name, space, seed=seed, **options)


def reward_of(choices) -> float | None:
    """A deterministic reward with structure; every 5th point (by hash) fails."""
    h = sum((i + 1) * (c + 1) for i, c in enumerate(choices))
    if h % 5 == 0:
        return None
    return sum(c * (-1) ** i for i, c in enumerate(choices)) / len(choices) + 0.01 * (h % 7)


def drive(strategy, steps: int, batch: int = 3, history=None, outstanding=None,
          stop_after=None):
    """Asks ``batch`` at a time and tells them in reverse order, for ``steps`` asks.

    Returns (history of choices, proposals still outstanding). With
    ``stop_after``, stops right after that many asks, leaving the current
    batch outstanding (a snapshot point with pending proposals).
    """
    history = [] if history is None else history
    outstanding = [] if outstanding is None else list(outstanding)
    while len(history) < steps or outstanding:
        while len(outstanding) < batch and len(history) < steps:
            p = strategy.ask()
            history.append(tuple(p.choices))
            outstanding.append(p)
            if stop_after is not None and len(history) == stop_after:
                return history, outstanding
        for p in reversed(outstanding):
            strategy.tell(p, reward_of(p.choices))
        outstanding = []
    return history, outstanding


@pytest.mark.parametrize("name, space_name", CASES)
def test_proposals_are_valid_and_failures_are_handled(name, space_name):
    space = SPACES[space_name]()
    s = make(name, space, seed=1)
    history, _ = drive(s, 40)
    for choices in history:
        space.validate(choices)
        if name != "progressive":  # progressive proposes smaller cells first
            assert len(choices) == len(space.num_choices)
    assert any(reward_of(c) is None for c in history)  # failures were told
    # A run of nothing but failures does not break the strategy.
    s = make(name, space, seed=2)
    for _ in range(12):
        p = s.ask()
        s.tell(p, None)
    p = s.ask()
    s.tell(p, float("nan"))  # NaN counts as a failure
    space.validate(s.ask().choices)


@pytest.mark.parametrize("name, space_name", CASES)
def test_same_seed_same_proposals(name, space_name):
    space = SPACES[space_name]()
    a, _ = drive(make(name, space, seed=7), 30)
    b, _ = drive(make(name, space, seed=7), 30)
    c, _ = drive(make(name, space, seed=8), 30)
    assert a == b
    assert a != c


@pytest.mark.parametrize("name, space_name", CASES)
def test_state_survives_json_and_resume_is_exact(name, space_name):
    space = SPACES[space_name]()
    steps, k = 40, 23
    uninterrupted, _ = drive(make(name, space, seed=5), steps)

    first = make(name, space, seed=5)
    history, outstanding = drive(first, steps, stop_after=k)
    assert outstanding, "the snapshot should have proposals outstanding"
    state = json.loads(json.dumps(first.get_state()))
    assert state["strategy"] == registered_name(name)

    # A fresh instance (constructed with another seed: the state must win).
    resumed = make(name, space, seed=99)
    resumed.set_state(state)
    assert json.loads(json.dumps(resumed.get_state())) == state
    assert sorted(p.id for p in resumed.pending) == sorted(p.id for p in outstanding)
    history, _ = drive(resumed, steps, history=list(history), outstanding=outstanding)
    assert history == uninterrupted


@pytest.mark.parametrize("name, space_name", CASES)
def test_bad_input_is_rejected(name, space_name):
    space = SPACES[space_name]()
    s = make(name, space, seed=0)
    p = s.ask()
    with pytest.raises(ValueError, match="has not asked"):
        s.tell(Proposal(id=p.id + 100, choices=p.choices), 1.0)
    with pytest.raises(ValueError, match="has not asked"):
        s.tell(Proposal(id=p.id, choices=tuple(reversed(p.choices)) + (0,)), 1.0)
    s.tell(p, 1.0)
    with pytest.raises(ValueError, match="already told"):
        s.tell(p, 1.0)
    with pytest.raises(ValueError, match="does not take option"):
        strategies.make(registered_name(name), space, seed=0, no_such_option=1)

    # A state from another strategy, from another space, or malformed.
    other_name = "random" if registered_name(name) != "random" else "evolution"
    other = strategies.make(other_name, space, seed=0)
    with pytest.raises(ValueError, match="belongs to strategy"):
        s.set_state(other.get_state())
    other_space = (CategoricalSpace((5, 4, 3, 2, 7)) if space_name == "categorical"
                   else NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "identity")))
    foreign = make(name, other_space, seed=0)
    with pytest.raises(ValueError, match="saved for space"):
        s.set_state(foreign.get_state())
    with pytest.raises(ValueError, match="not a strategy state"):
        s.set_state({"population": []})
    broken = s.get_state()
    broken["algorithm"] = {}
    with pytest.raises(ValueError):
        make(name, space, seed=0).set_state(broken)


def _number_paths(value, path=()):
    """Paths (key / index tuples) of the numbers (not booleans) inside ``value``."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _number_paths(v, path + (k,))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _number_paths(v, path + (i,))]
    return []


@pytest.mark.parametrize("name, space_name", CASES)
def test_a_saved_state_with_true_for_a_number_is_refused(name, space_name):
    # JSON's true is not the number 1 (Python's True == 1 would let it through).
    space = SPACES[space_name]()
    s = make(name, space, seed=0)
    drive(s, 12)
    state = json.loads(json.dumps(s.get_state()))
    paths = _number_paths(state["algorithm"])
    assert paths, "every strategy keeps some numbers in its state"
    for path in paths[:: max(1, len(paths) // 5)]:
        broken = json.loads(json.dumps(state))
        parent = broken["algorithm"]
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = True
        with pytest.raises(ValueError, match="true/false where a number"):
            make(name, space, seed=0).set_state(broken)
    for key in ("seed", "next_id", "num_sampled"):
        for bad in (True, None, -1, "3"):
            with pytest.raises(ValueError, match=f"'{key}' must be an integer >= 0"):
                make(name, space, seed=0).set_state({**state, key: bad})
    numeric_options = [k for k, v in state["options"].items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool) and v == 1]
    for key in numeric_options:
        with pytest.raises(ValueError, match="options"):
            make(name, space, seed=0).set_state(
                {**state, "options": {**state["options"], key: True}})


def test_unknown_strategy_name():
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        strategies.make("nope", CategoricalSpace((2,)))


def test_every_issue_strategy_is_registered():
    assert {"random", "evolution", "progressive", "bayesian"} <= set(strategies.names())


def test_progressive_needs_a_block_structured_space():
    with pytest.raises(ValueError, match="block-structured"):
        strategies.make("progressive", CategoricalSpace((3, 3)))


def test_options_are_part_of_the_state():
    space = CategoricalSpace((4, 4, 4))
    s = strategies.make("evolution", space, seed=0, population_size=10, tournament_size=2)
    with pytest.raises(ValueError, match="options"):
        strategies.make("evolution", space, seed=0, population_size=12,
                        tournament_size=2).set_state(s.get_state())


@pytest.mark.parametrize("options, message", [
    ({"population_size": 1}, "population_size"),
    ({"population_size": 5, "tournament_size": 6}, "tournament_size"),
    ({"tournament_size": 0}, "tournament_size"),
])
def test_evolution_option_errors(options, message):
    with pytest.raises(ValueError, match=message):
        strategies.make("evolution", CategoricalSpace((3, 3)), **options)


@pytest.mark.parametrize("options, message", [
    ({"sampler": "cmaes"}, "unknown sampler"),
    ({"n_startup_trials": 0}, "n_startup_trials"),
    ({"multivariate": "yes"}, "multivariate"),
])
def test_bayesian_option_errors(options, message):
    with pytest.raises(ValueError, match=message):
        strategies.make("bayesian", CategoricalSpace((3, 3)), **options)


@NEEDS_TORCH
def test_bayesian_gp_sampler_proposes_after_its_startup_trials():
    space = CategoricalSpace((3, 3, 3))
    s = strategies.make("bayesian", space, seed=0, sampler="gp", n_startup_trials=2)
    for _ in range(4):
        p = s.ask()
        space.validate(p.choices)
        s.tell(p, float(sum(p.choices)))


def test_bayesian_gp_without_torch_is_a_clear_error(monkeypatch):
    import importlib.util
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real_find_spec(name, *a))
    with pytest.raises(ValueError, match=r"needs PyTorch .* not installed: make setup-gp "
                                         r"\(or: pip install -r requirements-gp.txt"):
        strategies.make("bayesian", CategoricalSpace((3, 3, 3)), sampler="gp")
    strategies.make("bayesian", CategoricalSpace((3, 3, 3)))  # TPE, the default, needs none


@pytest.mark.parametrize("options, message", [
    ({"beam_size": 0}, "beam_size"),
    ({"num_initial": 0}, "num_initial"),
    ({"max_candidates": 0}, "max_candidates"),
])
def test_progressive_option_errors(options, message):
    with pytest.raises(ValueError, match=message):
        strategies.make("progressive", NasnetCellSpace(num_blocks=2), **options)


def test_evolution_mutates_exactly_one_decision_of_the_right_kind():
    space = NasnetCellSpace(num_blocks=3, ops=("sep_conv_3x3", "max_pool_3x3", "identity"))
    s = strategies.make("evolution", space, seed=0, population_size=4, tournament_size=2)
    kinds = space.decision_kinds()
    parent = (0,) * len(space.num_choices)
    seen = set()
    for _ in range(200):
        child = s.mutate(parent)
        diff = [i for i, (a, b) in enumerate(zip(parent, child)) if a != b]
        assert len(diff) == 1
        seen.add(kinds[diff[0]])
        space.validate(child)
    assert seen == {"input", "op"}


def test_progressive_grows_cells_block_by_block():
    space = NasnetCellSpace(num_blocks=3, ops=("sep_conv_3x3", "max_pool_3x3", "identity"))
    s = strategies.make("progressive", space, seed=0, beam_size=3, num_initial=5)
    sizes = []
    for _ in range(5 + 3 + 3 + 3):
        p = s.ask()
        sizes.append(space.num_blocks_of(p.choices))
        s.tell(p, reward_of(p.choices) or 0.0)
    assert sizes == [1] * 5 + [2] * 3 + [3] * 3 + [3] * 3
