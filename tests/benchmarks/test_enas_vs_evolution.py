"""benchmarks/enas_vs_evolution.py: the projection's arithmetic, the tables, the random cells and
bad arguments in the default suite; the whole script at its --tiny size behind the slow marker
(the real measurement is the script's own command line, on a quiet machine)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from benchmarks import enas_vs_evolution as eve
from nasnet import known_genotypes
from search_cifar import child_config


def _scale() -> dict:
    """Step times as the measurements return them (made-up, round numbers)."""
    child = {"train_steps_per_epoch": 100, "step_ms": 50.0, "val_batches_per_epoch": 10,
             "val_step_ms": 100.0, "build_s": 4.0, "first_step_s": 5.0, "val_trace_s": 1.0}
    big = {**child, "step_ms": 200.0}
    supernet = {"preset": "enas_cifar10", "image_size": 32, "batch": 160, "device": "CPU",
                "build_seconds": 10.0, "first_train_step_seconds": 20.0,
                "first_eval_seconds": 10.0, "eval": {"seconds_per_step": 0.5},
                "fixed": {"images_per_second": 100.0}, "changing": {"images_per_second": 90.0},
                "projection": {"epochs": 150, "seconds_per_epoch": 60.0,
                               "train_steps_per_epoch": 281, "rewards_per_epoch": 300}}
    return {"supernet": supernet, "children": {"small_cifar10": child, "nasnet_cifar10": big},
            "stand_ins": False}


def test_the_projection_adds_up():
    p = eve.project(_scale())
    rows = p["rows"]
    assert p["child_epoch_seconds"] == {"small_cifar10": 6.0, "nasnet_cifar10": 21.0}
    # 200 small children x (10 s of build and traces + 5 epochs of 6 s).
    assert rows["small_cifar10"]["seconds"] == pytest.approx(200 * (10 + 5 * 6))
    assert rows["nasnet_cifar10"]["seconds"] == pytest.approx(20_000 * (10 + 20 * 21))
    # Supernet: 40 s fixed + 150 epochs x 60 s + 100 candidates x 10 batches x 0.5 s,
    # then one nasnet_search retraining (10 + 20 x 21 s).
    enas = 40 + 150 * 60 + 100 * 10 * 0.5 + (10 + 20 * 21)
    assert rows["enas_cifar10"]["seconds"] == pytest.approx(enas)
    assert rows["enas_cifar10"]["child_epochs"]["small_cifar10"] == pytest.approx(enas / 6)
    assert rows["small_cifar10"]["times_enas"] == pytest.approx(8000 / enas)
    assert rows["small_cifar10"]["hours"] == pytest.approx(8000 / 3600)
    assert p["goal_met"] is False       # 8000 / 9970 is far from 100x


def test_the_tables_show_every_measurement_and_the_goals():
    runs = {"mean": 0.9, "sd": 0.01, "test_mean": 0.95, "test_sd": 0.02, "runs": [],
            "fingerprint": "f"}
    results = {
        "recipe": "1@F8, 3 epoch(s), digits 16 px", "seeds": 3,
        "searches": {"enas": {"cpu_seconds": 250.0, "search_cpu_seconds": 200.0,
                              "retrain_cpu_seconds": 25.0, "supernet_accuracy": 0.8,
                              "own_retrain_reward": 0.91},
                     "evolution": {"cpu_seconds": 300.0, "children": 24,
                                   "search_reward": 0.88}},
        "retrain": {"enas": {**runs, "mean": 0.905, "test_mean": 0.942}, "evolution": runs,
                    "random": [runs] * 5, "random_mean": 0.85, "random_test_mean": 0.87},
        "tau": {"tau": 0.25, "p_value": 0.12, "n": 20,
                "validation": {"tau": -0.1, "p_value": 0.5, "n": 20}},
        "scale": _scale(), "projection": eve.project(_scale()),
        "goal_accuracy": True, "goal_cpu": True}
    text = eve.tables(results)
    assert "| (a) ENAS quickstart, derived cell | 250 | 200 (+ 25 retraining" in text
    assert "| 0.9420 ± 0.0200 | 0.9050 ± 0.0100 |" in text
    assert "| (b) evolution quickstart, best of 24 children | 300 | - | 0.9500 ± 0.0200 | " \
           "0.9000 ± 0.0100 |" in text
    assert "| (c) 5 random cells, mean of means | - | - | 0.8700 | 0.8500 |" in text
    assert "ENAS - evolution on the test split: -0.0080 (goal: >= -0.01: met; on the " \
           "validation split +0.0050)" in text
    assert "CPU-s ENAS / evolution: 0.83 (goal: <= 1: met)" in text
    assert "Kendall tau, supernet estimate vs stand-alone accuracy (seed 0), 20 random cells: " \
           "+0.250 (p = 0.120) on the test split, -0.100 (p = 0.500) on the validation" in text
    assert "| small_cifar10 | 200 small children x 5 epochs | 2.2 |" in text
    assert "Goal: small_cifar10 >= 100x enas_cifar10: NOT met." in text
    assert "tiny stand-ins" not in text


def test_the_test_score_is_the_held_out_accuracy_of_the_trained_child():
    """Retrainer's test split: 300 digits the validation split does not hold, scored
    by the trained child (a network that learned beats chance by far)."""
    recipe = dataclasses.replace(child_config.TINY, epochs=2)
    retrainer = eve.Retrainer(recipe)
    run = retrainer.run(known_genotypes.get("nasnet_a"), seed=0)
    assert run["test_accuracy"] > 0.5 and 0.0 <= run["accuracy"] <= 1.0
    _, score = retrainer._evaluator(0)
    assert sum(int(y.shape[0]) for _, y in score.dataset) == 300
    entry = retrainer.mean(known_genotypes.get("nasnet_a"), seeds=1)
    assert entry["test_mean"] == run["test_accuracy"] and entry["test_sd"] is None


def test_random_cells_are_distinct_seeded_and_trainable_names():
    cells = eve.random_cells(6, seed=0, tiny=False)
    assert len({c.fingerprint() for c in cells}) == 6 and all(c.normal.num_blocks == 3
                                                             for c in cells)
    assert [c.fingerprint() for c in eve.random_cells(6, seed=0, tiny=False)] == \
           [c.fingerprint() for c in cells]
    assert all(c.name.isidentifier() for c in cells)


def test_kendall_tau_of_a_perfect_and_a_reversed_ranking():
    assert eve.kendall_tau([0.1, 0.2, 0.3], [0.5, 0.6, 0.9])["tau"] == pytest.approx(1.0)
    assert eve.kendall_tau([0.1, 0.2, 0.3], [0.9, 0.6, 0.5])["tau"] == pytest.approx(-1.0)


@pytest.mark.parametrize("args, message", [
    (["--seeds=0"], "--seeds must be >= 1, got 0"),
    (["--tau_cells=2"], "--tau_cells must be >= 3 and >= --random_cells, got 2"),
    (["--retrain_epochs=0"], "--retrain_epochs must be >= 1, got 0"),
])
def test_bad_arguments_are_usage_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit):
        eve.main([f"--output_dir={tmp_path / 'out'}", *args])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_output_dir_in_use_is_refused(tmp_path, capsys):
    (tmp_path / "old.json").write_text("{}")
    with pytest.raises(SystemExit):
        eve.main([f"--output_dir={tmp_path}"])
    assert "exists and is not an empty directory" in capsys.readouterr().err


@pytest.mark.slow
def test_the_script_at_its_tiny_size(tmp_path):
    results = eve.main([f"--output_dir={tmp_path}", "--tiny", "--seeds=1", "--random_cells=2",
                        "--tau_cells=3"])
    assert json.loads((tmp_path / "results.json").read_text())["tiny"] is True
    assert results["searches"]["enas"]["cpu_seconds"] > 0
    assert results["searches"]["evolution"]["children"] == 3
    assert len(results["tau"]["cells"]) == 3 and results["scale"]["stand_ins"]
    for entry in (results["retrain"]["enas"], results["retrain"]["evolution"]):
        assert 0.0 <= entry["mean"] <= 1.0 and 0.0 <= entry["test_mean"] <= 1.0
    assert all(math.isfinite(c["supernet"]) for c in results["tau"]["cells"])
