"""The supernet trains under tf.distribute: MirroredStrategy over 2 logical CPU devices.

In a subprocess: the CPU must be split (``transfer.distribute.configure_cpu_devices``)
before TensorFlow starts. Each step feeds every replica half of the global batch and
the same architecture tensor.
"""

from __future__ import annotations

import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_helpers  # noqa: E402


def test_the_search_trains_on_two_mirrored_logical_devices(tmp_path):
    config = json.loads(json.dumps(ws_helpers.TINY))
    config["distribute_strategy"] = "mirrored"
    config["deterministic"] = True      # tf.config.experimental.enable_op_determinism
    config["training"]["epochs"] = 1
    config["controller"]["steps_per_epoch"] = 1
    workdir = str(tmp_path / "mirrored")
    code, output, summary = ws_helpers.run(config, workdir, cpu_devices=2, timeout=900)
    assert code == 0, output
    assert summary["replicas"] == 2 and summary["finished"]
    assert "on 2 replica(s)" in output
    [epoch] = summary["history"]
    assert math.isfinite(epoch["loss"]) and 0.0 <= epoch["accuracy"] <= 1.0
    assert 0.0 <= epoch["reward_mean"] <= 1.0
    # The global batch is the per-replica batch times 2: the derivation saw the
    # first validation batch of 32 images.
    assert summary["best"]["examples"] == 2 * ws_helpers.TINY["data"]["batch_size"]
