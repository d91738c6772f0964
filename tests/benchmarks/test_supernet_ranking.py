"""benchmarks/supernet_ranking.py: a tiny finished search ranked end to end, the resume after a
failed training, the statistics and the noise floor, the held-out test split, and bad input
refused before anything is written."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys

import pytest
import tensorflow_datasets as tfds

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "search_cifar", "weight_sharing"))
import ws_helpers  # noqa: E402

from benchmarks import supernet_ranking as ranking  # noqa: E402
from nasnet import datasets  # noqa: E402
from search_cifar import child_config  # noqa: E402
from search_cifar.data import DataConfig, load_sources  # noqa: E402
from search_cifar.space import NasnetCellSpace  # noqa: E402
from search_cifar.weight_sharing import loop  # noqa: E402


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory):
    """A finished tiny search whose retrain recipe is the tiny child."""
    workdir = str(tmp_path_factory.mktemp("ranking") / "search")
    config = ws_helpers.tiny_config(retrain=ws_helpers.tiny_child_dict())
    loop.run_weight_sharing(config, workdir, stream=None)
    return workdir


def _args(search_dir, out, *extra):
    return [f"--search_dir={search_dir}", f"--output_dir={out}", "--cells=3", *extra]


def test_a_finished_search_is_ranked_and_a_failed_run_resumes(search_dir, tmp_path, capsys,
                                                              monkeypatch):
    out = tmp_path / "out"
    real_run, calls = ranking.Retrainer.run, []

    def fail_second(self, genotype, seed):
        calls.append(genotype.fingerprint())
        if len(calls) == 2:
            raise KeyboardInterrupt   # as a kill during the second training
        return real_run(self, genotype, seed)

    monkeypatch.setattr(ranking.Retrainer, "run", fail_second)
    with pytest.raises(KeyboardInterrupt):
        ranking.main(_args(search_dir, out))
    saved = json.loads((out / ranking.RANKING_JSON).read_text())
    # The search's derived cell is trained first, then the random cells.
    assert saved["derived"]["standalone"] is not None
    assert saved["derived"]["fingerprint"] == calls[0]
    calls_first = calls[0]
    assert [c["standalone"] for c in saved["cells"]] == [None, None, None]
    assert all(math.isfinite(c["supernet"]) for c in [saved["derived"], *saved["cells"]])
    assert not (out / ranking.RANKING_MD).exists()

    calls.clear()
    monkeypatch.setattr(ranking.Retrainer, "run", lambda self, g, s: (calls.append(
        g.fingerprint()), real_run(self, g, s))[1])
    capsys.readouterr()
    state = ranking.main(_args(search_dir, out))
    output = capsys.readouterr().out
    assert calls == [c["fingerprint"] for c in saved["cells"]]   # only the unfinished
    assert "resuming: 1 of 4 cells already trained" in output
    assert "cell 2/4 random_0" in output and "ETA" in output and "cell 4/4 random_2" in output
    # The estimates are the ones saved before the failure, not recomputed.
    assert [c["supernet"] for c in state["cells"]] == [c["supernet"] for c in saved["cells"]]
    assert state["derived"]["standalone"] == saved["derived"]["standalone"]
    assert state["statistics"]["derived"]["test"]["n"] == 3
    assert "The search's derived cell, trained alone: above " in output
    assert f"| derived: {state['derived']['name']} `{calls_first[:10]}` |" in output
    stats = state["statistics"]
    assert stats["n"] == 3
    assert all(-1.0 <= stats[s]["tau"] <= 1.0 or math.isnan(stats[s]["tau"])
               for s in ("test", "validation"))
    assert stats["test"]["noise"]["examples"] == 300      # the digits test split
    assert "| split | Kendall tau (p) | Spearman rho (p) |" in output
    assert (out / ranking.RANKING_MD).read_text() in output
    assert (out / ranking.RANKING_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads((out / ranking.RANKING_JSON).read_text())
    assert on_disk["statistics"]["n"] == 3

    # Another seed or recipe in the same output directory is refused, nothing changed.
    before = (out / ranking.RANKING_JSON).read_text()
    for extra, key in ((["--seed=1"], "seed"), (["--epochs=2"], "recipe.epochs"),
                       (["--no-derived"], "derived")):
        with pytest.raises(SystemExit) as exit_info:
            ranking.main(_args(search_dir, out, *extra))
        assert exit_info.value.code == 2
        assert f"was written with other arguments ({key})" in capsys.readouterr().err
    assert (out / ranking.RANKING_JSON).read_text() == before


def test_a_directory_without_a_search_is_refused_with_nothing_written(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ranking.main(_args(tmp_path / "nothing", tmp_path / "out"))
    assert exit_info.value.code == 2 and "not a search work directory" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow   # a second search (about 25 s)
def test_an_unfinished_search_is_refused_with_nothing_written(tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    loop.run_weight_sharing(ws_helpers.tiny_config(retrain=ws_helpers.tiny_child_dict()),
                            str(unfinished), stream=None, max_epochs=1)
    with pytest.raises(SystemExit) as exit_info:
        ranking.main(_args(unfinished, tmp_path / "out"))
    assert exit_info.value.code == 2
    assert "the search is not finished (phase 'train'); run it to the end first" in \
        capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, message", [
    (["--cells=2"], "--cells must be >= 3, got 2"),
    (["--seed=-1"], "--seed must be >= 0, got -1"),
    (["--epochs=0"], "--epochs must be >= 1, got 0"),
    (["--validation_batches=0"], "--validation_batches must be >= 1, got 0"),
    (["--child=huge"], "unknown child preset 'huge'"),
    (["--child=small"], "the recipe's data splits differently from the search's"),
])
def test_bad_arguments_exit_2_and_write_nothing(search_dir, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        ranking.main([f"--search_dir={search_dir}", f"--output_dir={tmp_path / 'out'}", *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_state_file_of_something_else_is_refused(tmp_path):
    path = tmp_path / "ranking.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="is not a ranking state of this script"):
        ranking.load_state(str(path), {"seed": 0})


def test_a_rerun_may_move_the_data_but_not_change_the_recipe(tmp_path):
    inputs = {"seed": 0, "recipe": {"epochs": 1, "data": {"data_dir": "/a"}}}
    path = tmp_path / "ranking.json"
    path.write_text(json.dumps({"inputs": inputs, "cells": []}))
    moved = {"seed": 0, "recipe": {"epochs": 1, "data": {"data_dir": "/b"}}}
    assert ranking.load_state(str(path), moved)["cells"] == []
    assert ranking.load_state(str(tmp_path / "absent.json"), inputs) is None


def test_the_recipe_is_the_searchs_retrain_or_a_preset_on_the_same_split():
    config = ws_helpers.tiny_config(retrain=ws_helpers.tiny_child_dict())
    assert ranking.resolve_recipe(config, None, None) == config.retrain
    assert ranking.resolve_recipe(config, None, 4).epochs == 4
    with pytest.raises(ValueError, match="the search has no retrain recipe; name a child "
                                         "preset with --child"):
        ranking.resolve_recipe(ws_helpers.tiny_config(), None, None)
    with pytest.raises(ValueError, match=r"\{'dataset': \('cifar10', 'digits'\)\}"):
        ranking.resolve_recipe(config, "small", None)
    recipe = ws_helpers.tiny_child_dict()
    recipe["data"]["split_seed"] = 3
    other_split = ws_helpers.tiny_config(retrain=recipe)
    with pytest.raises(ValueError, match=r"'split_seed': \(3, 0\)"):
        ranking.resolve_recipe(other_split, None, None)


def test_random_cells_are_distinct_seeded_and_a_longer_list_extends_a_shorter():
    space = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "identity"))
    cells = ranking.random_cells(space, 8, seed=0)
    assert len({c.fingerprint() for c in cells}) == 8
    assert [c.name for c in cells] == [f"random_{i}" for i in range(8)]
    assert [c.fingerprint() for c in ranking.random_cells(space, 5, seed=0)] == \
           [c.fingerprint() for c in cells[:5]]
    assert [c.fingerprint() for c in ranking.random_cells(space, 8, seed=1)] != \
           [c.fingerprint() for c in cells]


def test_random_cells_refuse_more_cells_than_the_space_holds():
    # One block over one op: two inputs for each of the two ops' inputs and the
    # combination, in a normal and a reduction cell: a handful of distinct cells.
    space = NasnetCellSpace(num_blocks=1, ops=("identity",))
    with pytest.raises(ValueError, match=r"the space holds fewer than 1000 distinct cells \(\d+ "
                                         r"found; 10,000 draws in a row gave no new one\)"):
        ranking.random_cells(space, 1000, seed=0)


def test_the_noise_floor_compares_the_spread_with_one_accuracys_binomial_error():
    noise = ranking.noise_floor([0.9, 0.92, 0.94], examples=100)
    assert noise["mean"] == pytest.approx(0.92)
    assert noise["spread"] == pytest.approx(0.02)
    assert noise["binomial_se"] == pytest.approx(math.sqrt(0.92 * 0.08 / 100))
    assert noise["ratio"] == pytest.approx(0.02 / math.sqrt(0.92 * 0.08 / 100))
    assert ranking.noise_floor([1.0, 1.0], examples=10)["ratio"] == math.inf


def test_the_statistics_and_tables_of_a_perfect_ranking():
    cells = [{"name": f"random_{i}", "fingerprint": f"{i}" * 12, "supernet": 0.1 * i,
              "standalone": {"test_accuracy": 0.5 + 0.1 * i, "accuracy": 0.9 - 0.1 * i,
                             "test_examples": 1000, "cpu_seconds": 12.0}} for i in range(4)]
    stats = ranking.statistics_of(cells)
    assert stats["test"]["tau"] == pytest.approx(1.0)
    assert stats["validation"]["tau"] == pytest.approx(-1.0)
    assert stats["test"]["spearman"]["rho"] == pytest.approx(1.0)
    recipe = dataclasses.replace(child_config.TINY, epochs=2).to_dict()
    state = {"inputs": {"search_dir": "/s", "seed": 0, "recipe": recipe}, "cells": cells,
             "statistics": stats}
    text = ranking.tables(state)
    assert "4 uniform random cells (seed 0); stand-alone: 1@F8, 2 epoch(s), digits" in text
    assert "| test | +1.000 (" in text and "| validation | -1.000 (" in text
    assert "one accuracy on 1,000 images" in text and "; the cells differ beyond the noise)" in text
    assert "| random_2 `2222222222` | 0.2000 | 0.7000 | 0.7000 | 12 |" in text
    assert ranking.scatter_png(state)[:4] == b"\x89PNG"


def test_the_held_out_split_is_digits_test_set_or_the_tfds_test_split():
    data = DataConfig(dataset="digits", image_size=8, batch_size=16)
    test = ranking.test_pipeline(data, load_sources(data))
    assert sum(int(y.shape[0]) for _, y in test) == 300
    with tfds.testing.mock_data(num_examples=24):
        data = DataConfig(dataset="cifar10", image_size=8, batch_size=8, validation_size=8)
        test = ranking.test_pipeline(data, load_sources(data))
        images, _ = next(iter(test))
        assert images.shape[1:] == (8, 8, 3) and sum(int(y.shape[0]) for _, y in test) == 24


def test_a_tfds_dataset_without_the_split_is_refused(monkeypatch):
    info = datasets.DatasetInfo(name="plain", num_classes=10, image_shape=(8, 8, 3),
                                split_sizes={"train": 100}, data_dir=None)
    monkeypatch.setattr(ranking.datasets, "tfds_info", lambda name, data_dir: info)
    data = DataConfig(dataset="plain", image_size=8, batch_size=8)
    with pytest.raises(ValueError, match=r"dataset 'plain' has no 'test' split to score on; "
                                         r"its splits are \['train'\]"):
        ranking.test_pipeline(data, None)


def test_a_constant_side_is_said_to_be_undefined_not_printed_as_a_number():
    cells = [{"name": f"random_{i}", "fingerprint": f"{i}" * 12, "supernet": 0.1 * i,
              "standalone": {"test_accuracy": 0.5, "accuracy": 0.5, "test_examples": 300,
                             "cpu_seconds": 1.0}} for i in range(3)]
    stats = ranking.statistics_of(cells)
    assert math.isnan(stats["test"]["tau"]) and math.isnan(stats["validation"]["spearman"]["rho"])
    state = {"inputs": {"search_dir": "/s", "seed": 0,
                        "recipe": child_config.TINY.to_dict()}, "cells": cells,
             "statistics": stats}
    text = ranking.tables(state)
    assert "| test | undefined (one side is constant) | undefined (one side is constant) |" \
        in text
    assert "ratio 0.00; the cells differ by no more than the noise, so no estimate" in text


@pytest.mark.slow   # a search and three trainings on mock CIFAR-10 (about a minute)
def test_a_cifar10_search_is_ranked_on_the_tfds_test_split(tmp_path):
    """The CIFAR-10 path end to end on tfds mock data: the search, the estimates on its
    validation split, the trainings and their scores on the ``test`` split."""
    data = {"dataset": "cifar10", "image_size": 8, "batch_size": 8, "validation_size": 16}
    recipe = ws_helpers.tiny_child_dict()
    recipe["data"].update(data)
    config = ws_helpers.tiny_config(data=data, retrain=recipe)
    with tfds.testing.mock_data(num_examples=64):
        loop.run_weight_sharing(config, str(tmp_path / "search"), stream=None)
        state = ranking.main(_args(tmp_path / "search", tmp_path / "out"))
    assert all(c["standalone"]["test_examples"] == 64 for c in state["cells"])
    assert all(0.0 <= c["supernet"] <= 1.0 for c in state["cells"])
    assert state["statistics"]["test"]["noise"]["examples"] == 64


def test_the_derived_cell_is_placed_among_the_random_cells_ties_counting_half():
    assert ranking.standing(0.9, [0.8, 0.9, 0.95, 0.7]) == {
        "above": 2, "tied": 1, "below": 1, "n": 4, "percentile": 62.5}
    assert ranking.standing(1.0, [0.5, 0.6])["percentile"] == 100.0
    assert ranking.standing(0.1, [0.5, 0.6])["percentile"] == 0.0
    cells = [{"supernet": 0.1 * i, "standalone": {"test_accuracy": 0.5 + 0.1 * i,
                                                  "accuracy": 0.9}} for i in range(4)]
    derived = {"supernet": 0.35, "standalone": {"test_accuracy": 0.95, "accuracy": 0.9}}
    placed = ranking.derived_standing(derived, cells)
    assert placed["supernet"]["above"] == 4 and placed["test"]["percentile"] == 100.0
    assert placed["validation"]["tied"] == 4 and placed["validation"]["percentile"] == 50.0
