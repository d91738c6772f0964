"""PNAS: what its surrogate is for, and that the beam is the surrogate's top-K.

The surrogate (``progressive.MLPEnsemble`` on ``ProgressiveSearch.features``)
must rank cells it was not trained on better than chance, including larger
cells than it saw (the premise of PNAS: small cells teach the search about
large ones). The threshold is one that random rankings of the same cells do
not reach (checked below over 1,000 of them).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import spearmanr

from search_cifar import objectives, strategies
from search_cifar.space import NasnetCellSpace
from search_cifar.strategies import base, progressive

THRESHOLD = 0.6  # Spearman's rho of the held-out ranking


@pytest.fixture(scope="module")
def table():
    """200 uniform full cells of the 3-block synthetic objective, with rewards and true values."""
    objective = objectives.NasnetCellObjective(num_blocks=3, seed=0, threshold_samples=1000)
    rng = np.random.default_rng(0)
    cells = [base.random_choices(rng, objective.space.num_choices) for _ in range(200)]
    return objective, cells, rng


def _features(objective, cells):
    return strategies.make("progressive", objective.space).features(cells)


def test_random_rankings_of_the_held_out_cells_stay_below_the_threshold(table):
    objective, cells, _ = table
    truth = [objective.true_value(c) for c in cells[100:]]
    rho = [spearmanr(np.random.default_rng(k).permutation(100), truth).statistic
           for k in range(1000)]
    assert max(rho) < THRESHOLD - 0.15


def test_trained_on_half_of_the_cells_it_ranks_the_other_half(table):
    objective, cells, _ = table
    x = _features(objective, cells)
    rewards = np.array([objective.reward(c) for c in cells[:100]])
    model = progressive.MLPEnsemble().fit(x[:100], rewards, np.random.default_rng(1))
    truth = [objective.true_value(c) for c in cells[100:]]
    assert spearmanr(model.predict(x[100:]), truth).statistic > THRESHOLD


def test_trained_on_smaller_cells_it_ranks_full_cells(table):
    objective, cells, rng = table
    per_block = objective.space.decisions_per_block
    small = [base.random_choices(rng, objective.space.num_choices)[:b * per_block]
             for b in (1, 2) for _ in range(100)]
    model = progressive.MLPEnsemble().fit(
        _features(objective, small), np.array([objective.reward(c) for c in small]),
        np.random.default_rng(2))
    truth = [objective.true_value(c) for c in cells[100:]]
    assert spearmanr(model.predict(_features(objective, cells[100:])), truth).statistic \
        > THRESHOLD


def test_the_beam_is_the_surrogate_s_top_k(monkeypatch):
    """Stage 2 proposes exactly the K best-scored expansions of the K best 1-block cells,
    scored by a surrogate fitted on every cell told so far."""
    space = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "identity"))
    k = 3
    s = strategies.make("progressive", space, seed=0, beam_size=k, num_initial=6,
                        max_candidates=100_000)
    width = s.features([(0,) * space.decisions_per_block]).shape[1]
    weights = np.random.default_rng(7).normal(size=width)
    fitted = []

    def fit(self, x, y, rng):
        fitted.append((np.array(x), np.array(y)))
        return self

    monkeypatch.setattr(progressive.MLPEnsemble, "fit", fit)
    monkeypatch.setattr(progressive.MLPEnsemble, "predict", lambda self, x: x @ weights)
    told = []
    for i in range(6):  # stage 1: six 1-block cells
        p = s.ask()
        told.append((p.choices, 0.1 * ((7 * i) % 6)))
        s.tell(p, told[-1][1])
    beam = [s.ask().choices for _ in range(k)]

    x, y = fitted[-1]
    np.testing.assert_array_equal(y, [r for _, r in told])
    np.testing.assert_array_equal(x, s.features([c for c, _ in told]))
    parents = [c for c, _ in sorted(told, key=lambda cr: (-cr[1], cr[0]))[:k]]
    block = space.num_choices[space.decisions_per_block:]
    candidates = [parent + tail for parent in parents
                  for tail in itertools.product(*(range(n) for n in block))]
    top_k = np.sort(s.features(candidates) @ weights)[::-1][:k]
    # In rank order; cells of equal score (the features average over blocks) may swap.
    np.testing.assert_allclose(s.features(beam) @ weights, top_k)
    assert len(set(beam)) == k and set(beam) <= set(candidates)
