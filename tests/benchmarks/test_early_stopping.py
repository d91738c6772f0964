"""benchmarks/early_stopping.py: the arithmetic on finished searches, the tables, the synthetic
part at a tiny size in the default suite; the digits part (real children) at its --tiny size
behind the slow marker (the real measurement is the script's own command line, on a quiet
machine)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from benchmarks import early_stopping as bench
from search_cifar.trial_store import Fidelity, RungDecision, Trial


def trial(i, reward, epochs=9, cpu=10.0, status="ok"):
    fidelity = None if epochs is None else Fidelity(
        epochs=epochs, max_epochs=9, rung={1: 0, 3: 1, 9: 2}[epochs], stopped_early=epochs < 9,
        decisions=(RungDecision(1, 0.1, "stop" if epochs == 1 else "continue"),))
    return Trial(id=i, choices=(i,), key=f"k{i}", status=status,
                 reward=reward if status == "ok" else None, evaluation=i,
                 metrics={"cpu_seconds": cpu, "epochs_completed": 9}, fidelity=fidelity)


def test_anytime_curves_count_only_fully_trained_children_as_best():
    trials = [trial(0, 0.5, epochs=None, cpu=20.0), trial(1, 0.9, epochs=1, cpu=5.0),
              trial(2, 0.7, cpu=20.0), trial(3, None, cpu=3.0, status="failed"),
              Trial(id=4, choices=(2,), key="k2", status="duplicate", reward=0.7,
                    duplicate_of=2)]
    curve = bench.anytime(trials, bench.cpu_seconds)
    # The stopped child's 0.9 is a mid-schedule accuracy: not a best; duplicates cost nothing.
    assert curve == [(20.0, 0.5), (25.0, 0.5), (45.0, 0.7), (48.0, 0.7)]
    assert bench.cost_to_reach(curve, 0.7) == 45.0 and bench.cost_to_reach(curve, 0.8) is None
    assert bench.best_within(curve, 30) == 0.5 and bench.best_within(curve, 10) is None
    assert [bench.child_epochs(t, 9) for t in trials] == [9, 1, 9, 9, 0]


def test_the_comparison_and_the_goal(tmp_path):
    runs = {"full": {0: [trial(0, 0.5), trial(1, 0.8)], 1: [trial(0, 0.6)]},
            "asha": {0: [trial(0, 0.5), trial(1, 0.2, epochs=1, cpu=3.0), trial(2, 0.85, cpu=1.0)],
                     1: [trial(0, 0.4)]}}
    out = bench.compare_digits(runs, 9)
    first, second = out["rows"]
    assert (first["target"], first["full_cost"], first["asha_cost_to_target"]) == (0.8, 20.0, 14.0)
    assert first["full_epochs"] == 18 and first["asha_epochs"] == 19
    assert second["asha_cost_to_target"] is None  # never reached: an infinite ratio
    assert out["ratios"] == [0.7, math.inf] and out["seeds_reaching"] == 1
    assert not out["goal_met"]
    # The stricter reading: against the CPU seconds the search without ES first reached it.
    assert first["full_cost_to_target"] == 20.0 and out["time_to_best_ratios"] == [0.7, math.inf]
    assert out["median_time_to_best_ratio"] == math.inf
    assert bench.summarize_pairs([{"asha_cost_to_target": 4.0, "full_cost": 10.0}])["goal_met"]
    table = bench.digits_table(out)
    assert "| 0 | 0.8000 | 20 | 2 / 3 | 14 | 0.70 |" in table and "goal met: no" in table
    assert "| 18 / 19 | 20 | 0.70 |" in table and "median ratio of the times to reach it inf" \
        not in table and "median ratio of the times to reach it -" in table
    bench.plot({"digits": out}, str(tmp_path / "digits.png"))
    assert (tmp_path / "digits.png").read_bytes()[:4] == b"\x89PNG"


def test_each_seed_says_how_precisely_the_split_measures_the_best_accuracy():
    runs = {"full": {0: [trial(0, 0.99, cpu=20.0), trial(1, 0.98, cpu=20.0)],
                     1: [trial(0, 0.99, cpu=20.0)]},
            "asha": {0: [trial(0, 0.98, cpu=10.0), trial(1, 0.99, cpu=30.0)],
                     1: [trial(0, 0.5, epochs=1, cpu=30.0)]}}
    out = bench.compare_digits(runs, 9, validation_images=400)
    first, second = out["rows"]
    # sqrt(0.99 * 0.01 / 400) = 0.004975; in images sqrt(400 * 0.99 * 0.01) = 1.99.
    assert first["noise"]["standard_error"] == pytest.approx(0.004975, abs=1e-6)
    assert first["noise"]["standard_error_images"] == pytest.approx(1.99, abs=1e-3)
    # Within half of 40 CPU s, ES's best is 0.98: 4 of 400 images below 0.99.
    assert first["gap_images_at_half"] == 4
    # No fully trained child within half: no gap, and the table says so.
    assert second["asha_best_at_half"] is None and second["gap_images_at_half"] is None
    table = bench.digits_table(out)
    assert ("seed 0: on 400 validation images the best accuracy 0.9900 has a binomial standard "
            "error of 0.0050 (2.0 images); ES's best within half the CPU seconds is 4 image(s) "
            "below it") in table
    assert "seed 1: on 400 validation images the best accuracy 0.9900 has a binomial " \
           "standard error of 0.0050 (2.0 images); ES has no fully trained child within half " \
           "the CPU seconds" in table
    assert [bench._images_apart(g) for g in (3, 0, -2)] == [
        "3 image(s) below it", "equal to it", "2 image(s) above it"]
    # Without the split's size there is no noise line.
    assert "binomial" not in bench.digits_table(bench.compare_digits(runs, 9))
    assert bench.accuracy_noise(None, 400) is None and bench.accuracy_noise(0.9, None) is None


def _with_history(t, accuracies):
    history = [{"epoch": e + 1, "val_accuracy": a} for e, a in enumerate(accuracies)]
    return dataclasses.replace(t, metrics={**t.metrics, "history": history})


def test_rung_predictiveness_ranks_rung_accuracies_against_final_ones():
    finals = [0.90, 0.95, 0.97, 0.99]
    same_order = [_with_history(trial(i, f), [f - 0.5] + [f] * 8) for i, f in enumerate(finals)]
    out = bench.rung_predictiveness(same_order, (1, 3))
    assert out[1]["tau"] == pytest.approx(1.0) and out[3]["tau"] == pytest.approx(1.0)
    assert out[1]["n"] == 4
    reversed_first = [_with_history(trial(i, f), [1.0 - f] + [f] * 8)
                      for i, f in enumerate(finals)]
    assert bench.rung_predictiveness(reversed_first, (1,))[1]["tau"] == pytest.approx(-1.0)
    # A child stopped early and one without history do not count; fewer than 3: no tau.
    few = [same_order[0], same_order[1], _with_history(trial(5, 0.3, epochs=1), [0.3]),
           trial(6, 0.9)]
    assert bench.rung_predictiveness(few, (1,)) == {1: {"tau": None, "p_value": None, "n": 2}}
    rows = bench.compare_digits({"full": {0: same_order}, "asha": {0: same_order}}, 9, (1, 3))
    assert rows["rows"][0]["rung_tau"][3]["tau"] == pytest.approx(1.0)
    assert "seed 0: Kendall tau of the fully trained children's validation accuracy at the " \
           "rungs against their final one: after 1 epoch(s) +1.00" in bench.digits_table(rows)


def test_the_synthetic_part_at_a_tiny_size(tmp_path):
    path = tmp_path / "out.json"
    results = bench.main(["--part=synthetic", "--tiny", "--seeds=2", f"--json={path}",
                          f"--plot={tmp_path / 'out.png'}"])
    out = results["synthetic"]
    assert out["levels"] == [9, 18] and len(out["pairs"]) == 2
    for mode in bench.MODES:
        for level in out["levels"]:
            assert 0.0 <= out["table"][mode][level]["regret_mean"] <= 1.0
    assert json.loads(path.read_text())["synthetic"]["levels"] == [9, 18]
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 9 |" in bench.synthetic_table(out)


@pytest.mark.parametrize("args", [["--eta=1"], ["--epochs=1"], ["--budget=0"],
                                  ["--strategy=nope"]])
def test_bad_arguments_are_refused(args):
    with pytest.raises(SystemExit):
        bench.main(["--part=synthetic", *args])


@pytest.mark.parametrize("value, message", [
    ("9", "validation_size must be in [10, 1487] for digits"),
    ("1488", "got 1488"),
])
def test_a_bad_digits_validation_size_is_a_usage_error_before_any_search(tmp_path, capsys,
                                                                         value, message):
    with pytest.raises(SystemExit):
        bench.main(["--part=digits", f"--validation_size={value}", f"--workdir={tmp_path}",
                    f"--json={tmp_path / 'out.json'}"])
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_digits_config_carries_the_validation_size_and_the_strategy():
    config = bench.digits_config(9, 3, 8, 16, None, validation_size=450)
    assert config.child.data.validation_size == 450 and config.early_stopping.enabled
    assert bench.digits_config(9, 3, 8, 16, None).child.data.validation_size is None
    evolution = bench.digits_config(9, 3, 8, 16, None, strategy="evolution")
    assert evolution.strategy == "evolution" and evolution.strategy_options
    random = bench.digits_config(9, 3, 8, 16, None, strategy="random")
    assert random.strategy == "random" and random.strategy_options == {}
    assert random.build_strategy().name == "random"


@pytest.mark.slow
def test_the_digits_part_at_its_tiny_size(tmp_path):
    results = bench.main(["--part=digits", "--tiny", f"--workdir={tmp_path}"])
    (row,) = results["digits"]["rows"]
    assert row["full_children"] == 2 and row["asha_children"] == 3
    assert row["full_cost"] > 0 and row["full_epochs"] == 6
    assert (tmp_path / "digits" / "seed0-asha" / "trials").is_dir()
