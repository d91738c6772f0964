"""SIGKILL a weight-sharing search in a real subprocess, run it again: it finishes as planned.

The pattern of ``tests/search_cifar/test_resume_kill.py``: the search runs in
its own process (``ws_helpers.py`` as a script), is killed with SIGKILL once
it has checkpointed progress, and the same call is made again. The resumed
run must end with every epoch and every controller step done once, and the
derivation and report written. (That a resume computes exactly what an
uninterrupted run computes is ``test_loop.py``'s in-process test.)

Slow (3 epochs of 6 steps, about a minute of CPU); the default suite SIGKILLs the
``search`` binary at a smaller size (``test_binary.py``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_helpers  # noqa: E402

from nasnet.genotype import Genotype  # noqa: E402

EPOCHS, STEPS, CONTROLLER_STEPS = 3, 6, 3


@pytest.mark.slow
def test_sigkill_mid_search_then_resume_finishes_every_epoch_and_step(tmp_path):
    config = json.loads(json.dumps(ws_helpers.TINY))
    config["training"].update(epochs=EPOCHS, steps_per_epoch=STEPS, checkpoint_every_steps=2)
    config["controller"]["steps_per_epoch"] = CONTROLLER_STEPS
    workdir = str(tmp_path / "search")
    index_path = os.path.join(workdir, "checkpoints", "index.json")
    proc = ws_helpers.start(config, workdir)
    try:
        deadline = time.monotonic() + 600
        # Kill in the middle of the second epoch, wherever it happens to be.
        while True:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "no checkpoint of epoch 2 in 600 s"
            if os.path.exists(index_path):
                with open(index_path) as f:
                    index = json.load(f)
                if index["epoch"] == 1 and (index["phase"], index["step"]) != ("train", 0):
                    break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with open(index_path) as f:
        killed_at = json.load(f)
    assert killed_at["epoch"] < EPOCHS and len(killed_at["history"]) == killed_at["epoch"]

    code, output, summary = ws_helpers.run(config, workdir, timeout=900)
    assert code == 0, output
    assert "resuming at epoch" in output
    assert summary["finished"] and summary["epochs"] == EPOCHS
    assert summary["controller_steps"] == EPOCHS * CONTROLLER_STEPS
    assert [h["epoch"] for h in summary["history"]] == list(range(1, EPOCHS + 1))
    assert [h["controller_steps"] for h in summary["history"]] == \
           [CONTROLLER_STEPS * e for e in range(1, EPOCHS + 1)]
    # The epochs finished before the kill are kept as they were.
    assert summary["history"][:len(killed_at["history"])] == killed_at["history"]
    best = Genotype.load(os.path.join(workdir, "report", "best_genotype.json"))
    assert best.fingerprint() == summary["best"]["fingerprint"]
    assert ws_helpers.index(workdir)["phase"] == "done"
