"""strategies registry: names without imports, errors that are not swallowed, a new strategy
added with its module and one registry line, and the random baseline each strategy declares."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from search_cifar import experiments, strategies
from search_cifar.space import CategoricalSpace, NasnetCellSpace
from search_cifar.strategies import base, registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_registered_module_defines_its_strategy():
    assert strategies.names() == sorted(strategies.MODULES)
    for name, module in strategies.MODULES.items():
        cls = strategies.strategy_class(name)
        assert cls.name == name and cls.__module__ == f"search_cifar.strategies.{module}"


def test_listing_the_names_imports_no_strategy_module():
    code = ("import sys\nfrom search_cifar import strategies\nnames = strategies.names()\n"
            "print(sorted(m for m in sys.modules if m.startswith('search_cifar.strategies.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(["search_cifar.strategies.base",
                                      "search_cifar.strategies.registry"])


def test_a_strategy_module_that_fails_to_import_is_an_error(monkeypatch):
    monkeypatch.setitem(strategies.MODULES, "broken", "no_such_module")
    with pytest.raises(ModuleNotFoundError, match="search_cifar.strategies.no_such_module"):
        strategies.make("broken", CategoricalSpace((2,)))
    # A module that imports but registers no strategy of that name.
    monkeypatch.setitem(strategies.MODULES, "mislabelled", "random_search")
    with pytest.raises(ValueError, match="random_search registers no strategy named "
                                         "'mislabelled'"):
        strategies.make("mislabelled", CategoricalSpace((2,)))


def test_register_rejects_what_is_not_a_named_strategy(monkeypatch):
    monkeypatch.setattr(registry, "_CLASSES", dict(registry._CLASSES))
    with pytest.raises(ValueError, match="only a Strategy subclass can be registered"):
        registry.register(object)

    class Nameless(strategies.Strategy):
        pass

    with pytest.raises(ValueError, match="Nameless has no name"):
        registry.register(Nameless)
    strategies.strategy_class("random")

    class Impostor(strategies.Strategy):
        name = "random"

    with pytest.raises(ValueError, match="strategy name 'random' is taken by "
                                         "search_cifar.strategies.random_search.RandomSearch"):
        registry.register(Impostor)


class FirstChoice(base.Strategy):
    """A strategy written outside the package: always the first choices, then random."""

    name = "first_choice"

    def __init__(self, space, seed: int = 0, warmup: int = 2):
        super().__init__(space, seed=seed)
        self.warmup = warmup
        self._rng = base.new_rng(self.seed)

    @property
    def num_random_proposals(self) -> int:
        return 0

    def _propose(self):
        if self.num_asked < self.warmup:
            return (0,) * len(self.space.num_choices)
        return base.random_choices(self._rng, self.space.num_choices)

    def _observe(self, proposal, reward):
        pass

    def _options(self):
        return {"warmup": self.warmup}

    def _get_algorithm_state(self):
        return {"rng": base.rng_state(self._rng)}

    def _set_algorithm_state(self, state):
        self._rng = base.restore_rng(state["rng"])


def test_a_new_strategy_runs_a_search_with_nothing_else_changed(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "_CLASSES", dict(registry._CLASSES))
    registry.register(FirstChoice)
    assert "first_choice" in strategies.names()
    config = experiments.apply_overrides(experiments.get("synthetic"), {
        "strategy": "first_choice", "strategy_options": {"warmup": 3}, "budget": 5,
        "workers": 0, "synthetic.seconds": 0, "tensorboard": False})
    out = experiments.run_experiment(config, str(tmp_path), stream=io.StringIO())
    assert out["result"].num_evaluated == 5
    assert out["summary"]["num_random"] == 0 and out["summary"]["random_count"] == 0
    with pytest.raises(ValueError, match="strategy 'first_choice' does not take option"):
        experiments.apply_overrides(config, {"strategy_options.warm": 1}).build_strategy()


@pytest.mark.parametrize("name, options, expected", [
    ("random", {}, None),
    ("evolution", {"population_size": 7, "tournament_size": 2}, 7),
    ("bayesian", {"n_startup_trials": 4}, 4),
    ("progressive", {"num_initial": 5}, 0),   # 1-block cells: no baseline for full cells
    ("rl", {}, 0),                            # the controller samples from the start
])
def test_each_strategy_declares_its_random_baseline(name, options, expected):
    s = strategies.make(name, NasnetCellSpace(num_blocks=2, ops=("identity", "max_pool_3x3")),
                        seed=0, **options)
    assert s.num_random_proposals == expected
