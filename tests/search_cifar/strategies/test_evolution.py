"""Evolution: who leaves the population (aging: the oldest; non-aging: the worst) and its options.

The conformance suite checks every strategy's contract; these tests check the
one rule that tells regularized (aging) evolution from the non-aging evolution
of Real et al. 2017, so that swapping them cannot pass unnoticed.
"""

from __future__ import annotations

import json

import pytest

from search_cifar import strategies
from search_cifar.space import CategoricalSpace

SPACE = CategoricalSpace((4, 4, 4))


def _tell_in_order(strategy, rewards):
    """Asks one proposal per reward and tells it at once; returns the proposals' choices."""
    asked = []
    for reward in rewards:
        p = strategy.ask()
        strategy.tell(p, reward)
        asked.append(tuple(p.choices))
    return asked


@pytest.mark.parametrize("removal, survivors", [
    ("oldest", [0.1, 0.5, 0.3]),  # aging: the best (and oldest) member dies
    ("worst", [0.9, 0.5, 0.3]),   # non-aging: the worst member dies
])
def test_a_full_population_loses_its_oldest_or_its_worst_member(removal, survivors):
    s = strategies.make("evolution", SPACE, seed=0, population_size=3, tournament_size=2,
                        removal=removal)
    asked = _tell_in_order(s, [0.9, 0.1, 0.5, 0.3])
    assert [r for _, r in s.population] == survivors
    kept = {0.9: asked[0], 0.1: asked[1], 0.5: asked[2], 0.3: asked[3]}
    assert [c for c, _ in s.population] == [kept[r] for r in survivors]


def test_ties_remove_the_oldest_of_the_worst():
    s = strategies.make("evolution", SPACE, seed=0, population_size=3, tournament_size=2,
                        removal="worst")
    asked = _tell_in_order(s, [0.2, 0.8, 0.2, 0.5])
    assert s.population == [(asked[1], 0.8), (asked[2], 0.2), (asked[3], 0.5)]


def test_only_non_aging_evolution_keeps_the_best_architecture_ever_found():
    rewards = [0.99] + [0.1 * (i % 7) for i in range(40)]
    best_kept = {}
    for removal in ("oldest", "worst"):
        s = strategies.make("evolution", SPACE, seed=3, population_size=5, tournament_size=2,
                            removal=removal)
        _tell_in_order(s, rewards)
        best_kept[removal] = max(r for _, r in s.population)
    assert best_kept == {"oldest": pytest.approx(0.4), "worst": 0.99}  # aging: the last 5


def test_removal_is_an_option_of_the_state():
    aging = strategies.make("evolution", SPACE, seed=0, population_size=4, tournament_size=2)
    # The default leaves the saved options as they were before the option existed.
    assert aging.get_state()["options"] == {"population_size": 4, "tournament_size": 2}
    non_aging = strategies.make("evolution", SPACE, seed=0, population_size=4,
                                tournament_size=2, removal="worst")
    _tell_in_order(non_aging, [0.3, 0.2, 0.5])
    state = json.loads(json.dumps(non_aging.get_state()))
    assert state["options"]["removal"] == "worst"
    with pytest.raises(ValueError, match="options"):
        aging.set_state(state)
    resumed = strategies.make("evolution", SPACE, seed=9, population_size=4, tournament_size=2,
                              removal="worst")
    resumed.set_state(state)
    assert resumed.population == non_aging.population


@pytest.mark.parametrize("removal", ["newest", None, 1])
def test_an_unknown_removal_is_refused(removal):
    with pytest.raises(ValueError, match=f"unknown removal {removal!r}; known: "
                                         r"\['oldest', 'worst'\]"):
        strategies.make("evolution", SPACE, removal=removal)
