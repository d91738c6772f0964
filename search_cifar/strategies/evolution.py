"""Regularized (aging) evolution (Real et al. 2019, "Regularized Evolution for
Image Classifier Architecture Search", Sec. 3, Algorithm 1), and its non-aging
variant.

The population is a queue of the last P evaluated architectures, oldest first.
Each cycle samples S of them at random, mutates the best of the sample (the
parent) and, once the child is evaluated, appends it and removes one member:

* ``removal="oldest"`` (the default): the oldest, whatever its reward (aging:
  every architecture dies, which Real et al. 2019 find regularises against
  architectures that were lucky once);
* ``removal="worst"``: the one with the lowest reward (the oldest of them on a
  tie), so the best architecture found never leaves: the non-aging evolution
  of Real et al. 2017 ("Large-Scale Evolution of Image Classifiers", where a
  tournament of two kills the worse), which Real et al. 2019 compare against
  with everything else equal, as here.

* The first P proposals are uniform random (the initial population).
* A failed child (reward None) is dropped: it never enters the population.
* Mutations (Sec. 3, Fig. 3): on a block-structured space (``NasnetCellSpace``)
  either a *hidden-state mutation* (one input of one block of one cell changes
  to another hidden state that block may read) or an *op mutation* (one op of
  one block of one cell changes to another op; with ``search_combine`` the
  combine decision is part of this group), each chosen with probability 1/2.
  On a plain categorical space one decision changes to another value. A
  mutation always changes exactly one decision.
* Asynchronous workers: each ``ask`` runs one tournament on the population
  as it is then; children join in the order they are told.

Defaults ``population_size=100, tournament_size=25`` are the paper's for the
CIFAR-10 search that produced AmoebaNet-A (Real et al. 2019: P = 100,
S = 25), where about 20,000 models were evaluated. With budgets of a few hundred trials a
population that large is still being initialised when the budget ends: the
search binary sizes P and S from its budget when they are not set
(``experiments.size_strategy_options``), and the benchmark uses P=20, S=5
(``benchmarks/search_strategies.py``).

Example:
    >>> from search_cifar import strategies
    >>> from search_cifar.space import NasnetCellSpace
    >>> s = strategies.make("evolution", NasnetCellSpace(num_blocks=2), seed=0,
    ...                     population_size=10, tournament_size=3)
    >>> p = s.ask(); s.tell(p, 0.9)
"""

from __future__ import annotations

import collections
from typing import Any, Sequence

import numpy as np

from search_cifar.strategies import base, registry

#: Mutation groups of a block-structured space (its ``decision_kinds()``).
_GROUPS = {"input": "hidden_state", "op": "op", "combine": "op"}
#: Which member leaves the population when a child joins a full one.
REMOVALS = ("oldest", "worst")


@registry.register
class RegularizedEvolution(base.Strategy):
    """Aging (or non-aging) evolution with tournament selection.

    Args:
        population_size: P, how many evaluated architectures stay alive (>= 2).
        tournament_size: S, how many members are sampled to pick a parent
            (1 <= S <= P; S = 1 is a random walk, S = P is greedy hill climbing).
        removal: "oldest" (aging, Real et al. 2019) or "worst" (non-aging,
            Real et al. 2017): who leaves when a child joins a full population.
    """

    name = "evolution"

    def __init__(self, space: base.SpaceLike, seed: int = 0, population_size: int = 100,
                 tournament_size: int = 25, removal: str = "oldest"):
        super().__init__(space, seed=seed)
        if removal not in REMOVALS:
            raise ValueError(f"unknown removal {removal!r}; known: {list(REMOVALS)}")
        for label, value in (("population_size", population_size),
                             ("tournament_size", tournament_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{label} must be an int, got {value!r}")
        if population_size < 2:
            raise ValueError(f"population_size must be >= 2, got {population_size}")
        if not 1 <= tournament_size <= population_size:
            raise ValueError(
                f"tournament_size must be in 1..population_size={population_size}, "
                f"got {tournament_size}")
        self.population_size = int(population_size)
        self.tournament_size = int(tournament_size)
        self.removal = removal
        self._groups = self._mutation_groups(space)
        self._rng = base.new_rng(self.seed)
        # (choices, reward), oldest first.
        self._population: collections.deque[tuple[tuple[int, ...], float]] = collections.deque()
        self._num_random = 0
        self._num_failed = 0

    @staticmethod
    def _mutation_groups(space: base.SpaceLike) -> list[list[int]]:
        """Lists of mutable decision indices; a mutation picks a group, then a decision."""
        mutable = [i for i, n in enumerate(space.num_choices) if n > 1]
        kinds = getattr(space, "decision_kinds", None)
        if getattr(space, "is_block_structured", False) and kinds is not None:
            by_group: dict[str, list[int]] = {}
            for i, kind in enumerate(kinds()):
                if i in mutable:
                    by_group.setdefault(_GROUPS.get(kind, kind), []).append(i)
            return [by_group[g] for g in sorted(by_group)]
        return [mutable] if mutable else []

    @property
    def num_random_proposals(self) -> int:
        """The initial population: P uniform random architectures."""
        return self.population_size

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"population_size": self.population_size,
                                   "tournament_size": self.tournament_size}
        if self.removal != "oldest":  # absent: aging, as in states saved before the option
            options["removal"] = self.removal
        return options

    # -- the algorithm ----------------------------------------------------
    def _propose(self) -> tuple[int, ...]:
        if self._num_random < self.population_size or not self._population:
            self._num_random += 1
            return base.random_choices(self._rng, self.space.num_choices)
        size = min(self.tournament_size, len(self._population))
        picks = self._rng.choice(len(self._population), size=size, replace=False)
        # Ties go to the member sampled first.
        parent = max((self._population[int(i)] for i in picks), key=lambda m: m[1])[0]
        return self.mutate(parent)

    def mutate(self, choices: Sequence[int]) -> tuple[int, ...]:
        """``choices`` with exactly one decision changed (unchanged if none can)."""
        child = list(choices)
        if not self._groups:
            return tuple(child)
        group = self._groups[int(self._rng.integers(len(self._groups)))]
        i = group[int(self._rng.integers(len(group)))]
        # A different value, uniform among the n - 1 others.
        value = int(self._rng.integers(self.space.num_choices[i] - 1))
        child[i] = value + (value >= child[i])
        return tuple(child)

    def _sample(self, rng: np.random.Generator, num: int) -> list[tuple[int, ...]]:
        """Living members, uniformly with replacement (uniform points while none lives)."""
        if not self._population:
            return super()._sample(rng, num)
        picks = rng.integers(len(self._population), size=num)
        return [self._population[int(i)][0] for i in picks]

    def _observe(self, proposal: base.Proposal, reward: float | None) -> None:
        if reward is None:
            self._num_failed += 1
            return
        self._population.append((tuple(proposal.choices), float(reward)))
        while len(self._population) > self.population_size:
            if self.removal == "oldest":
                self._population.popleft()
            else:  # the lowest reward; the oldest of them on a tie
                worst = min(range(len(self._population)), key=lambda i: self._population[i][1])
                del self._population[worst]

    # -- state ------------------------------------------------------------
    @property
    def population(self) -> list[tuple[tuple[int, ...], float]]:
        """The living members (choices, reward), oldest first."""
        return list(self._population)

    def _get_algorithm_state(self) -> dict[str, Any]:
        return {"rng": base.rng_state(self._rng),
                "population": [[list(c), r] for c, r in self._population],
                "num_random": self._num_random, "num_failed": self._num_failed}

    def _set_algorithm_state(self, state: dict[str, Any]) -> None:
        rng = base.restore_rng(state["rng"])
        population = collections.deque(
            (tuple(int(c) for c in choices), float(reward))
            for choices, reward in state["population"])
        if len(population) > self.population_size:
            raise ValueError(
                f"evolution state has {len(population)} members, more than "
                f"population_size={self.population_size}")
        self._rng = rng
        self._population = population
        self._num_random = int(state["num_random"])
        self._num_failed = int(state["num_failed"])
