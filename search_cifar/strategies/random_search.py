"""Random search: every decision uniform and independent.

The baseline every NAS paper compares against (Li & Talwalkar 2019, "Random
Search and Reproducibility for Neural Architecture Search"). It ignores
rewards; its only state is the RNG.

Example:
    >>> from search_cifar import strategies
    >>> from search_cifar.space import CategoricalSpace
    >>> s = strategies.make("random", CategoricalSpace((3, 4)), seed=0)
    >>> p = s.ask(); s.tell(p, None)
"""

from __future__ import annotations

from typing import Any

from search_cifar.strategies import base, registry


@registry.register
class RandomSearch(base.Strategy):
    """Uniform sampling over the full-length choice tuples of the space."""

    name = "random"

    def __init__(self, space: base.SpaceLike, seed: int = 0):
        super().__init__(space, seed=seed)
        self._rng = base.new_rng(self.seed)
        self._num_told = 0
        self._num_failed = 0

    @property
    def num_random_proposals(self) -> None:
        """Every proposal is uniform at random."""
        return None

    def _propose(self) -> tuple[int, ...]:
        return base.random_choices(self._rng, self.space.num_choices)

    def _observe(self, proposal: base.Proposal, reward: float | None) -> None:
        self._num_told += 1
        self._num_failed += reward is None

    def _get_algorithm_state(self) -> dict[str, Any]:
        return {"rng": base.rng_state(self._rng), "num_told": self._num_told,
                "num_failed": self._num_failed}

    def _set_algorithm_state(self, state: dict[str, Any]) -> None:
        self._rng = base.restore_rng(state["rng"])
        self._num_told = int(state["num_told"])
        self._num_failed = int(state["num_failed"])
