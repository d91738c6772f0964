"""``Strategy.sample(n)``: points of the current policy without proposals, for every strategy.

The weight-sharing search (``search_cifar/weight_sharing``) trains its shared
weights on ``sample`` and scores ``ask`` proposals; ``sample`` must therefore
return valid full-length points, create nothing pending, leave the ``ask``
sequence unchanged, be reproducible from the seed and survive a state round
trip, and for ``rl`` follow the policy and for ``evolution`` the population.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from search_cifar import strategies
from search_cifar.space import CategoricalSpace, NasnetCellSpace

SPACES = {
    "categorical": lambda: CategoricalSpace((5, 4, 3, 2, 6)),
    "nasnet": lambda: NasnetCellSpace(
        num_blocks=2, ops=("sep_conv_3x3", "max_pool_3x3", "avg_pool_3x3", "identity")),
}
OPTIONS = {"evolution": {"population_size": 8, "tournament_size": 3},
           "progressive": {"beam_size": 4}}
CASES = [pytest.param(name, space_name, id=f"{name}-{space_name}")
         for name in strategies.names() for space_name in SPACES
         if not (name == "progressive" and space_name == "categorical")]


def make(name, space, seed=0):
    return strategies.make(name, space, seed=seed, **OPTIONS.get(name, {}))


def reward_of(choices) -> float:
    return sum(c * (-1) ** i for i, c in enumerate(choices)) / len(choices)


def run(strategy, asks: int, sample_every: int | None):
    """Asks and tells ``asks`` times, sampling 3 points every ``sample_every`` asks."""
    asked, sampled = [], []
    for i in range(asks):
        if sample_every and i % sample_every == 0:
            sampled.append(strategy.sample(3))
        p = strategy.ask()
        asked.append(p.choices)
        strategy.tell(p, reward_of(p.choices))
    return asked, sampled


@pytest.mark.parametrize("name, space_name", CASES)
def test_sample_is_valid_creates_nothing_and_leaves_ask_unchanged(name, space_name):
    space = SPACES[space_name]()
    s = make(name, space, seed=3)
    pending_before = s.pending
    points = s.sample(5)
    assert len(points) == 5 and s.pending == pending_before and s.num_asked == 0
    for point in points:
        assert len(point) == len(space.num_choices) and space.validate(point) == point
    plain, _ = run(make(name, space, seed=3), 20, None)
    with_samples, sampled = run(make(name, space, seed=3), 20, sample_every=4)
    assert with_samples == plain
    again, sampled_again = run(make(name, space, seed=3), 20, sample_every=4)
    assert sampled_again == sampled
    other = make(name, space, seed=4)
    assert [other.sample(3) for _ in range(3)] != sampled[:3]


@pytest.mark.parametrize("name, space_name", CASES)
def test_sample_continues_exactly_after_a_state_round_trip(name, space_name):
    space = SPACES[space_name]()
    first = make(name, space, seed=5)
    run(first, 10, sample_every=3)
    state = json.loads(json.dumps(first.get_state()))
    assert state["num_sampled"] == 4
    resumed = make(name, space, seed=99)
    resumed.set_state(state)
    assert resumed.sample(4) == first.sample(4)
    p, q = resumed.ask(), first.ask()
    assert p == q


def test_old_states_without_a_sample_count_still_load():
    space = SPACES["categorical"]()
    state = make("random", space).get_state()
    del state["num_sampled"]
    s = make("random", space)
    s.set_state(state)
    assert s.get_state()["num_sampled"] == 0


@pytest.mark.parametrize("num", [0, -1, 2.0, True, None])
def test_sample_needs_a_positive_count(num):
    with pytest.raises(ValueError, match="sample needs a number of points >= 1"):
        make("random", SPACES["categorical"]()).sample(num)


def test_rl_samples_follow_the_policy():
    space = CategoricalSpace((4, 4))
    s = strategies.make("rl", space, seed=0, learning_rate=0.05)
    before = Counter(c[0] for c in s.sample(400))
    for _ in range(150):
        p = s.ask()
        s.tell(p, 1.0 if p.choices[0] == 2 else 0.0)
    after = Counter(c[0] for c in s.sample(400))
    assert after[2] > 300 > before[2]
    # The empirical frequencies match the controller's own probabilities.
    draws = s.sample(2000)
    freq = sum(c == draws[0] for c in draws) / len(draws)
    assert freq == pytest.approx(float(s.probabilities([draws[0]])[0]), abs=0.05)


def test_evolution_samples_its_population_once_it_has_one():
    space = CategoricalSpace((6, 6, 6))
    s = strategies.make("evolution", space, seed=0, population_size=4, tournament_size=2)
    assert len(set(s.sample(50))) > 4          # no population yet: uniform draws
    run(s, 10, None)
    members = {choices for choices, _ in s.population}
    assert set(s.sample(50)) <= members


def test_a_strategy_that_samples_partial_points_is_caught():
    from search_cifar.strategies import base

    class Truncating(base.Strategy):
        name = "truncating"

        def _propose(self):
            return (0,) * len(self.space.num_choices)

        def _sample(self, rng, num):
            return [(0,)] * num

        def _observe(self, proposal, reward):
            pass

        def _get_algorithm_state(self):
            return {}

        def _set_algorithm_state(self, state):
            pass

    with pytest.raises(ValueError, match="'truncating' sampled 1 choices, not the space's 5"):
        Truncating(SPACES["categorical"]()).sample(2)
