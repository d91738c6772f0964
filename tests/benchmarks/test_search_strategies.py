"""benchmarks/search_strategies.py at a tiny size: the table, the JSON and Markdown, the same
numbers as ``objectives.run_seeds``, resuming from a results directory, worker processes and
variants (the real measurement is the script's own command line)."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks import search_strategies
from search_cifar import objectives

TINY = ["--seeds", "1", "--budgets", "5,10"]


def test_a_tiny_run_prints_and_writes_every_strategy_row(tmp_path, capsys):
    path, md = tmp_path / "out.json", tmp_path / "out.md"
    report = search_strategies.main([
        *TINY, "--strategies", "random,evolution,progressive",
        "--objectives", "interaction_6x5,nasnet_b3_5ops,nas_bench_graph_cora",
        "--json", str(path), "--markdown", str(md)])
    out = capsys.readouterr().out
    assert "## interaction_6x5" in out and "## nasnet_b3_5ops" in out
    assert "## nas_bench_graph_cora" in out and "regret in test accuracy" in out
    assert "progressive      n/a (needs a block-structured space)" in out
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    rows = report["results"]["nasnet_b3_5ops"]
    assert set(rows) == {"random", "evolution", "progressive"}
    assert set(report["results"]["interaction_6x5"]) == {"random", "evolution"}
    assert set(report["results"]["nas_bench_graph_cora"]) == {"random", "evolution"}
    direct = objectives.run_seeds("evolution", "nasnet_b3_5ops", [0], budgets=(5, 10))
    assert rows["evolution"][10]["mean"] == pytest.approx(float(direct[10]["regret"].mean()))
    assert rows["random"][10]["ratio"] == 1.0
    for timings in report["timings"].values():
        assert all(t["cpu_ms_per_trial"] > 0 for t in timings.values())
    text = md.read_text()
    assert "**nas_bench_graph_cora** (regret in test accuracy" in text
    assert "| progressive | " in text and "| strategy | 5 | 10 | CPU ms/trial |" in text


def test_a_results_directory_resumes_and_worker_processes_give_the_same_numbers(tmp_path, capsys):
    results = tmp_path / "results"
    args = [*TINY, "--seeds", "2", "--strategies", "random,evolution",
            "--objectives", "interaction_6x5", "--results_dir", str(results)]
    first = search_strategies.main([*args, "--jobs", "2"])
    files = sorted(p.relative_to(results).as_posix() for p in results.rglob("*.json"))
    assert files == [f"interaction_6x5/{s}/seed00{i}.json"
                     for s in ("evolution", "random") for i in (0, 1)]
    serial = search_strategies.main([*TINY, "--seeds", "2", "--strategies", "random,evolution",
                                     "--objectives", "interaction_6x5"])
    assert first["results"] == serial["results"]
    capsys.readouterr()
    # A rerun reads every search back and runs none; a damaged file is run again.
    (results / "interaction_6x5/random/seed001.json").write_text("{not json")
    stamp = os.stat(results / "interaction_6x5/evolution/seed000.json").st_mtime_ns
    again = search_strategies.main(args)
    out = capsys.readouterr().out
    assert "3 of 4 searches read from" in out and "[1/1] random on interaction_6x5 seed 1" in out
    assert again["results"] == first["results"]
    assert os.stat(results / "interaction_6x5/evolution/seed000.json").st_mtime_ns == stamp
    # A saved search whose strategy then resolved its options otherwise (a changed
    # default, a changed preset) is run again.
    saved = results / "interaction_6x5/evolution/seed000.json"
    record = json.loads(saved.read_text())
    record["resolved_options"]["population_size"] = 999
    saved.write_text(json.dumps(record))
    search_strategies.main(args)
    out = capsys.readouterr().out
    assert "3 of 4 searches read from" in out and "[1/1] evolution on interaction_6x5 seed 0" in out
    assert json.loads(saved.read_text())["resolved_options"]["population_size"] != 999
    # Other options for the same label: the saved searches do not match, they run again.
    other = search_strategies.main([*args, "--strategies", "random", "--variant",
                                    'evolution=evolution:{"population_size": 4, '
                                    '"tournament_size": 2}'])
    assert "2 of 4 searches read from" in capsys.readouterr().out
    assert other["results"]["interaction_6x5"]["evolution"] != first["results"][
        "interaction_6x5"]["evolution"]


def test_variants_are_extra_rows_and_the_goal_line_compares_rl_with_evolution(capsys):
    report = {"budgets": [150], "results": {"x": {"rl": {150: {"mean": 0.12}},
                                                  "evolution": {150: {"mean": 0.1}}},
                                            "y": {"rl": {150: {"mean": 0.2}},
                                                  "evolution": {150: {"mean": 0.1}}}}}
    assert search_strategies.goal_lines(report) == [
        "goal on x: rl mean regret at 150 = 0.1200, evolution 0.1000: 1.20x (met: <= 1.25x)",
        "goal on y: rl mean regret at 150 = 0.2000, evolution 0.1000: 2.00x (NOT met: <= 1.25x)"]
    row = search_strategies.parse_variant('evo4=evolution:{"population_size": 4}')
    assert (row.label, row.strategy, row.options_dict) == ("evo4", "evolution",
                                                           {"population_size": 4})
    assert search_strategies.parse_variant("r=random").options_dict == {}


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds must be >= 1, got 0"),
    (["--jobs", "0"], "--jobs must be >= 1, got 0"),
    (["--budgets", "10,5"], "--budgets must be increasing integers >= 1, got '10,5'"),
    (["--budgets", "a"], "--budgets must be comma-separated integers, got 'a'"),
    (["--strategies", "nope"], "unknown strategies ['nope']"),
    (["--objectives", "nope"], "unknown objectives ['nope']"),
    (["--variant", "x"], "a variant must look like LABEL=STRATEGY"),
    (["--variant", "x=evolution:{bad"], "variant 'x=evolution:{bad': the options are not JSON"),
    (["--variant", "x=evolution:[1]"], "the options must be a JSON object, got [1]"),
    (["--variant", "x=nope"], "variant 'x': unknown strategy 'nope'"),
    (["--variant", 'x=evolution:{"nope": 1}'], "does not take option(s) ['nope']"),
    (["--strategies", "random", "--variant", "random=random"], "row labels must differ"),
])
def test_bad_arguments_exit_with_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit):
        search_strategies.main(argv)
    assert message in capsys.readouterr().err
