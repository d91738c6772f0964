"""benchmarks/search_strategies.py at a tiny size: the table, the JSON, and the same numbers
as ``objectives.run_seeds`` (the real measurement is the script's own command line)."""

from __future__ import annotations

import json

import pytest

from benchmarks import search_strategies
from search_cifar import objectives


def test_a_tiny_run_prints_and_writes_every_strategy_row(tmp_path, capsys):
    path = tmp_path / "out.json"
    report = search_strategies.main(["--seeds", "1", "--budgets", "5,10",
                                     "--strategies", "random,evolution,progressive",
                                     "--json", str(path)])
    out = capsys.readouterr().out
    assert "## interaction_6x5" in out and "## nasnet_b3_5ops" in out
    assert "progressive  n/a (needs a block-structured space)" in out
    assert json.loads(path.read_text()) == json.loads(json.dumps(report))
    rows = report["results"]["nasnet_b3_5ops"]
    assert set(rows) == {"random", "evolution", "progressive"}
    assert set(report["results"]["interaction_6x5"]) == {"random", "evolution"}
    direct = objectives.run_seeds("evolution", "nasnet_b3_5ops", [0], budgets=(5, 10))
    assert rows["evolution"][10]["mean"] == pytest.approx(
        float(direct[10]["regret"].mean()))
    for timings in report["timings"].values():
        assert all(t["cpu_ms_per_trial"] > 0 for t in timings.values())


def test_bad_arguments_exit_with_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        search_strategies.main(["--seeds", "0"])
    assert "--seeds must be >= 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        search_strategies.main(["--strategies", "nope"])
    assert "unknown strategies ['nope']" in capsys.readouterr().err
