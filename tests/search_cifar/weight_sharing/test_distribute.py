"""The supernet trains under tf.distribute: MirroredStrategy over 2 logical CPU devices.

In a subprocess: the CPU must be split (``nasnet.distribute.configure_cpu_devices``)
before TensorFlow starts. Each step feeds every replica half of the global batch and
the same architecture tensor. The default suite runs the smallest supernet (1-block
cells of 2 ops, one epoch of 2 steps); the slow suite the tiny search with op
determinism on and a controller step.
"""

from __future__ import annotations

import json
import math
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_helpers  # noqa: E402

SMALLEST = {"supernet.num_blocks": 1, "supernet.ops": ["max_pool_3x3", "identity"],
            "training.steps_per_epoch": 2, "controller.steps_per_epoch": 0,
            "controller.strategy": "random", "controller.strategy_options": {},
            "derive.num_candidates": 1}
TINY = {"deterministic": True, "controller.steps_per_epoch": 1}


def _config(overrides: dict) -> dict:
    config = json.loads(json.dumps(ws_helpers.TINY))
    config["distribute_strategy"] = "mirrored"
    config["training"]["epochs"] = 1
    for key, value in overrides.items():
        section, _, name = key.rpartition(".")
        (config[section] if section else config)[name] = value
    return config


@pytest.mark.parametrize("overrides", [
    pytest.param(SMALLEST, id="smallest"),
    pytest.param(TINY, id="tiny-deterministic", marks=pytest.mark.slow),
])
def test_the_search_trains_on_two_mirrored_logical_devices(tmp_path, overrides):
    config = _config(overrides)
    workdir = str(tmp_path / "mirrored")
    code, output, summary = ws_helpers.run(config, workdir, cpu_devices=2, timeout=900)
    assert code == 0, output
    assert summary["replicas"] == 2 and summary["finished"]
    assert "on 2 replica(s)" in output
    [epoch] = summary["history"]
    assert math.isfinite(epoch["loss"]) and 0.0 <= epoch["accuracy"] <= 1.0
    # The global batch is the per-replica batch times 2: the derivation scored the first
    # validation batch of 32 images, 16 on each replica.
    assert epoch["controller_steps"] == config["controller"]["steps_per_epoch"]
    assert summary["best"]["examples"] == 2 * ws_helpers.TINY["data"]["batch_size"]
    if config["controller"]["steps_per_epoch"]:
        assert 0.0 <= epoch["reward_mean"] <= 1.0


def test_xla_on_two_logical_cpu_devices_is_refused_before_anything_is_written(tmp_path):
    config = _config({**SMALLEST, "training.jit_compile": True})
    workdir = tmp_path / "xla"
    code, output, summary = ws_helpers.run(config, str(workdir), cpu_devices=2, timeout=600)
    assert code != 0 and summary is None
    assert ("ValueError: training.jit_compile=true with 2 replicas on logical CPU devices is "
            "not supported by TensorFlow") in output
    assert not workdir.exists() or list(workdir.iterdir()) == []
