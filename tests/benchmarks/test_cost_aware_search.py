"""benchmarks/cost_aware_search.py: its numbers from records, its table and bad arguments in the
default suite; the whole script at its --tiny size behind the slow marker (the real measurement
is the script's own command line, on a quiet machine)."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import cost_aware_search as cas
from search_cifar.trial_store import Trial

TARGET = 600e6


def trial(i, madds, accuracy, status="ok"):
    metrics = {"accuracy": accuracy, "cost": {"mult_adds": madds}} if status == "ok" else {}
    return Trial(id=i, choices=(i,), key=f"k{i}", status=status,
                 reward=accuracy if status != "failed" else None,
                 error="e" if status == "failed" else None, metrics=metrics)


def test_measure_counts_the_later_proposals_and_the_best_at_the_target():
    trials = [trial(0, 2e9, 0.95), trial(1, 1e9, 0.9),              # the first quarter of 8
              trial(2, 580e6, 0.7), trial(3, 650e6, 0.8), trial(4, 400e6, 0.6),
              trial(5, 700e6, 0.85), trial(6, 3e9, 0.97), trial(7, 620e6, 0.75),
              trial(8, 620e6, 0.75, status="duplicate")]
    m = cas.measure(trials, TARGET, budget=8)
    assert m["children"] == 8 and m["later"] == 6
    assert m["share_near_target"] == pytest.approx(3 / 6)           # 580M, 650M, 620M
    assert m["share_at_or_under_target"] == pytest.approx(2 / 6)    # 580M, 400M
    assert m["median_mult_adds_later"] == 650e6
    assert (m["best_accuracy"], m["best_accuracy_mult_adds"]) == (0.97, 3e9)
    assert m["best_accuracy_near_target"] == 0.8
    assert m["best_accuracy_at_or_under_target"] == 0.7
    assert m["pareto_front"] == [4, 2, 7, 3, 5, 1, 0, 6]


def test_random_shares_and_the_table():
    space = {"num_blocks": 2, "ops": ["sep_conv_3x3", "identity"], "search_combine": False}
    shares = cas.random_shares(space, 50, TARGET)
    assert shares == cas.random_shares(space, 50, TARGET)  # seeded
    assert shares["later"] == 50 and 0 <= shares["share_near_target"] <= 1
    row = {"share_near_target": 0.5, "share_at_or_under_target": 0.25,
           "median_mult_adds_later": 6.5e8, "best_accuracy": 0.9, "best_accuracy_mult_adds": 2e9,
           "best_accuracy_near_target": 0.8, "best_accuracy_at_or_under_target": None,
           "cpu_seconds": 12.3, "wall_seconds": 20.0}
    text = cas.table({"target_mult_adds": TARGET, "network": "4@1056", "budget": 48,
                      "searches": {"hard": row}, "random": shares})
    assert "after the first 12)" in text
    assert "| hard | 50.0 % | 25.0 % | 650M | 0.9000 (2,000M) | 0.8000 | - | 12 | 20 |" in text
    assert "| 50 random cells |" in text


@pytest.mark.parametrize("args,message", [
    (["--budget=3"], "--budget must be >= 4, got 3"),
    (["--target_mult_adds=0"], "--target_mult_adds must be > 0"),
    (["--random_cells=0"], "--random_cells must be >= 1"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        cas.main([f"--output_dir={tmp_path / 'out'}", *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_used_output_dir_is_refused(tmp_path, capsys):
    (tmp_path / "old").write_text("x")
    with pytest.raises(SystemExit):
        cas.main([f"--output_dir={tmp_path}"])
    assert "is not an empty directory" in capsys.readouterr().err


@pytest.mark.slow
def test_the_tiny_run_writes_every_number(tmp_path):
    results = cas.main([f"--output_dir={tmp_path}", "--tiny"])
    assert set(results["searches"]) == {"unconstrained", "soft", "hard"}
    for name, r in results["searches"].items():
        assert r["children"] == 8 and r["later"] == 6 and r["cpu_seconds"] > 0
        assert os.path.exists(os.path.join(r["workdir"], "report", "pareto.png"))
    assert json.loads((tmp_path / "results.json").read_text())["budget"] == 8
