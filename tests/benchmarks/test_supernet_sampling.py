"""benchmarks/supernet_sampling.py: the sampling modes, bad arguments, and one short real run of a
small supernet (1-block cells of 2 ops, 2 steps) through the script's own main."""

from __future__ import annotations

import json

import pytest

from benchmarks import supernet_sampling as ss

# Two blocks per cell, normal then reduction: (input_a, op_a, input_b, op_b) each.
FIXED = [[0, 1, 1, 2, 1, 0, 0, 3], [1, 4, 0, 4, 0, 2, 1, 1]]
FRESH = [[9, 8, 7, 6, 5, 4, 3, 2], [2, 3, 4, 5, 6, 7, 8, 9]]


def test_each_mode_keeps_what_it_says_and_draws_the_rest():
    assert ss.step_architectures("fixed", FIXED, FRESH, 4) == [FIXED[0], FIXED[0]]
    assert ss.step_architectures("pool2", FIXED, FRESH, 4) == FIXED
    assert ss.step_architectures("random", FIXED, FRESH, 4) == FRESH
    # "ops": the fixed inputs (even positions), fresh ops (odd positions).
    assert ss.step_architectures("ops", FIXED, FRESH, 4)[0] == [0, 8, 1, 6, 1, 4, 0, 2]
    # "inputs": fresh inputs, the fixed ops.
    assert ss.step_architectures("inputs", FIXED, FRESH, 4)[1] == [2, 1, 4, 2, 6, 0, 8, 3]


@pytest.mark.parametrize("argv, message", [
    (["--modes=sometimes"], "unknown mode 'sometimes'"),
    (["--modes=pool0"], "unknown mode 'pool0'"),
    (["--modes=,"], "--modes names no mode"),
    (["--epochs=0"], "--epochs must be >= 1, got 0"),
    (["--unseen=-1"], "--unseen must be >= 0, got -1"),
    (["--override=supernet.out_filter=3"], "out_filter"),
    (["--preset=enas_mars"], "enas_mars"),
    (["--standalone=/nonexistent/results.json"], "/nonexistent/results.json"),
])
def test_bad_arguments_exit_2_naming_the_value(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        ss.main(argv + [f"--json={tmp_path / 'out.json'}"])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_a_short_run_reports_the_curve_and_the_scores(tmp_path):
    out = tmp_path / "sampling.json"
    results = ss.main(["--modes=fixed,ops", "--epochs=1", "--unseen=2",
                       "--override=supernet.num_blocks=1",
                       '--override=supernet.ops=["sep_conv_3x3","identity"]',
                       "--override=supernet.use_aux_head=false",
                       "--override=training.steps_per_epoch=2", f"--json={out}"])
    assert [r["mode"] for r in results] == ["fixed", "ops"]
    for r in results:
        assert len(r["training_accuracy"]) == 1 and 0.0 <= r["training_accuracy"][0] <= 1.0
        assert len(r["seen"]) == 1 and len(r["unseen"]) == 2
        assert all(0.0 <= a <= 1.0 for a in r["seen"] + r["unseen"])
        assert r["steps_per_epoch"] == 2 and r["cpu_seconds"] > 0
    saved = json.loads(out.read_text())
    assert saved["overrides"]["supernet.num_blocks"] == 1 and len(saved["results"]) == 2
    assert "| fixed |" in ss.table(results)
