"""benchmarks/cost_aware_graph.py: cost-aware searches on NAS-Bench-Graph, at a tiny size."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import cost_aware_graph as cag


def test_a_tiny_run_writes_every_number(tmp_path, capsys):
    out = tmp_path / "graph.json"
    result = cag.main(["--datasets", "cora", "--strategies", "random,evolution",
                       "--rewards", "accuracy,hard", "--seeds", "2", "--budget", "16",
                       "--json", str(out)])
    assert json.loads(out.read_text())["summary"] == json.loads(json.dumps(result["summary"]))
    # Random search has one row (it ignores the reward); evolution one per reward.
    assert set(result["summary"]["cora"]) == {"random/accuracy", "evolution/accuracy",
                                              "evolution/hard"}
    assert len(result["runs"]) == 6
    for run in result["runs"]:
        assert 0.0 <= run["near_target_share"] <= 1.0
        assert 0.0 < run["hv_ratio"] <= 1.0  # the true front bounds every search's
        assert math.isnan(run["gap_at_or_under_target"]) or run["gap_at_or_under_target"] >= 0
    target = result["targets_ms"]["cora"]
    assert 0.5 < target < 10.0  # the table's 25th-percentile latency, in milliseconds
    assert "| evolution/hard |" in capsys.readouterr().out


def test_the_hard_reward_steers_proposals_under_the_target():
    """The reward reaches the strategy: with a hard latency target, evolution's
    evaluated networks are faster than the unconstrained search's (same seeds)."""
    def mean_latency(kind):
        table = cag.graph_benchmark.NasBenchGraphObjective("cora")
        target = float(cag.np.quantile(table.table()["latency_ms"], 0.25))
        objective = cag.CostAwareGraphObjective(table, cag.reward_config(kind, target))
        total = []
        for seed in range(3):
            s = cag.strategies.make("evolution", table.space, seed=seed, population_size=8,
                                    tournament_size=2)
            result = cag.scheduler.run_in_process(s, objective, budget=60)
            total += [table.latency_ms(t.choices) for t in result.trials if t.status == "ok"]
        return sum(total) / len(total)

    assert mean_latency("hard") < mean_latency("accuracy")


@pytest.mark.parametrize("argv, message", [
    (["--datasets", "mnist"], "unknown datasets ['mnist']"),
    (["--strategies", "annealing"], "unknown strategies ['annealing']"),
    (["--rewards", "weighted"], "unknown rewards ['weighted']"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--target_quantile", "1.0"], "--target_quantile must be in (0, 1)"),
])
def test_bad_arguments_exit_with_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cag.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_json_path_under_a_file_is_a_usage_error_before_any_search(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as e:
        cag.main(["--seeds", "1", "--budget", "8", "--datasets", "cora",
                  "--json", str(tmp_path / "file" / "out.json")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--json:" in err and "is a file, not a directory" in err
