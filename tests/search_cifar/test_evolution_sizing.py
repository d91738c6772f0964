"""Evolution's population sized from the budget when the user sets none (experiments.py).

A population of 100 (the paper's default) makes a search of 100 children pure
random search; the search binary knows its budget, so it sizes P and S from it,
says so in config.json, and keeps the sizes a resumed search started with.
"""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from search_cifar import experiments

SYNTHETIC = dataclasses.replace(experiments.get("synthetic"), strategy_options={},
                                workers=0, synthetic=experiments.SyntheticConfig(seconds=0.0))


@pytest.mark.parametrize("budget, sizes", [(24, (10, 2)), (50, (14, 4)), (150, (24, 6)),
                                           (200, (28, 7)), (2_500, (100, 25)),
                                           (20_000, (100, 25)), (1, (8, 2))])
def test_evolution_sizes_grow_with_the_budget_up_to_the_paper_s(budget, sizes):
    assert experiments.evolution_sizes(budget) == sizes


def test_only_unset_options_of_evolution_are_sized():
    config = dataclasses.replace(SYNTHETIC, budget=150)
    sized = experiments.size_strategy_options(config)
    assert sized.strategy_options == {"population_size": 24, "tournament_size": 6}
    assert sized.strategy_options_from_budget == ("population_size", "tournament_size")
    assert sized.build_strategy().num_random_proposals == 24
    # A tournament the user chose is kept; the population is at least that.
    chosen = experiments.size_strategy_options(
        dataclasses.replace(config, strategy_options={"tournament_size": 30}))
    assert chosen.strategy_options == {"population_size": 30, "tournament_size": 30}
    assert chosen.strategy_options_from_budget == ("population_size",)
    # A population the user set, another strategy, or a named experiment's own sizes: unchanged.
    for unchanged in (dataclasses.replace(config, strategy_options={"population_size": 50}),
                      dataclasses.replace(config, strategy="random"),
                      experiments.get("quickstart"), experiments.get("amoebanet_cifar10")):
        assert experiments.size_strategy_options(unchanged) is unchanged


def test_config_json_says_what_was_sized_and_a_resume_keeps_it(tmp_path):
    workdir = str(tmp_path / "w")
    stream = io.StringIO()
    out = experiments.run_experiment(dataclasses.replace(SYNTHETIC, budget=12), workdir,
                                     stream=stream)
    assert "evolution: population_size=8, tournament_size=2, sized from the budget" in \
        stream.getvalue()
    assert out["result"].strategy.population_size == 8
    saved = json.loads((tmp_path / "w" / "config.json").read_text())
    assert saved["strategy_options"] == {"population_size": 8, "tournament_size": 2}
    assert saved["strategy_options_from_budget"] == ["population_size", "tournament_size"]
    assert experiments.load_workdir_config(workdir).strategy_options_from_budget == (
        "population_size", "tournament_size")
    # A larger budget on resume would size P = 13: the search keeps its P = 8.
    out = experiments.run_experiment(dataclasses.replace(SYNTHETIC, budget=40), workdir,
                                     stream=io.StringIO())
    assert out["resumed"] and out["result"].num_evaluated == 40
    assert out["result"].strategy.population_size == 8
    # Setting the population now is another search: refused, as any other setting.
    with pytest.raises(ValueError, match="strategy_options"):
        experiments.validate(dataclasses.replace(
            SYNTHETIC, budget=40, strategy_options={"population_size": 13, "tournament_size": 3}),
            workdir)


def test_a_search_started_before_sizing_resumes_with_the_default(tmp_path):
    workdir = tmp_path / "w"
    old = dataclasses.replace(SYNTHETIC, budget=3).to_dict()
    del old["strategy_options_from_budget"]
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps(old))
    config = dataclasses.replace(SYNTHETIC, budget=3)
    assert experiments.size_strategy_options(config, str(workdir)) is config


@pytest.mark.parametrize("value", [("population_size",), ["nope"], "population_size"])
def test_sized_options_must_be_options_of_the_config(value):
    with pytest.raises(ValueError, match="strategy_options_from_budget must name options"):
        dataclasses.replace(SYNTHETIC, strategy_options={}, strategy_options_from_budget=value)
