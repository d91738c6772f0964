"""Every learning strategy beats random search on problems with a known optimum.

Slow (about ten minutes on 2 cores): run with ``pytest -m slow``. Each case runs
20 seeds (seed s: objective instance s, its noise, strategy seed s) at a
budget of 100 evaluations and compares the mean regret of the incumbent with
random search's on the same seeds. Everything is seeded, so the outcome is
deterministic, not flaky. The full table (more budgets, spread, P(top 0.1%))
is ``benchmarks/search_strategies.py``; both use ``objectives.run_seeds`` and
``objectives.STRATEGY_OPTIONS``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from search_cifar.objectives import run_seeds

SEEDS = tuple(range(20))
BUDGET = 100

CASES = [("evolution", "interaction_6x5"), ("bayesian", "interaction_6x5"),
         ("rl", "interaction_6x5"), ("evolution", "nasnet_b3_5ops"),
         ("progressive", "nasnet_b3_5ops")]


@functools.lru_cache(maxsize=None)
def mean_regret(strategy: str, objective: str) -> float:
    result = run_seeds(strategy, objective, SEEDS, budgets=(BUDGET,))
    return float(np.mean(result[BUDGET]["regret"]))


@pytest.mark.slow
@pytest.mark.parametrize("strategy, objective", CASES, ids=[f"{s}-{o}" for s, o in CASES])
def test_strategy_beats_random(strategy, objective):
    ours, random = mean_regret(strategy, objective), mean_regret("random", objective)
    print(f"{strategy} on {objective}: mean regret {ours:.3f} vs random {random:.3f}")
    assert ours < random


#: The strategy benchmark's default objectives (synthetic and NAS-Bench-Graph).
GOAL_OBJECTIVES = ("interaction_6x5", "nasnet_b3_5ops", "nas_bench_graph_cora",
                   "nas_bench_graph_citeseer", "nas_bench_graph_arxiv")


@functools.lru_cache(maxsize=None)
def mean_regret_at(strategy: str, objective: str, budget: int, num_seeds: int) -> float:
    result = run_seeds(strategy, objective, tuple(range(num_seeds)), budgets=(budget,))
    return float(np.mean(result[budget]["regret"]))


@pytest.mark.slow
@pytest.mark.parametrize("objective", GOAL_OBJECTIVES)
def test_the_default_rl_is_within_1_25x_of_evolution_at_150(objective):
    """Issue 14's goal, as ``benchmarks/search_strategies.py`` measures it (30 seeds)."""
    rl = mean_regret_at("rl", objective, 150, 30)
    evolution = mean_regret_at("evolution", objective, 150, 30)
    print(f"{objective}: rl {rl:.4f} vs evolution {evolution:.4f} ({rl / evolution:.2f}x)")
    assert rl <= 1.25 * evolution


@pytest.mark.slow
def test_evolution_halves_random_regret_on_the_6x5_problem():
    """The issue's goal for evolution at 100 queries on 6 decisions of 5 choices."""
    assert mean_regret("evolution", "interaction_6x5") <= 0.5 * mean_regret(
        "random", "interaction_6x5")
