"""SIGKILL the search binary in the middle of a search, start it again: nothing lost or repeated.

Through the real binary (``search_cifar/search.py``) on local Ray workers, with
the ``synthetic`` experiment (a table lookup with a sleep standing in for
training, so the kill lands while trials are running) and, behind the slow
marker, the ``quickstart`` experiment itself on a budget of 6 children.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import binary_helpers  # noqa: E402

BUDGET = 14


@pytest.mark.parametrize("experiment,budget,kill_after", [
    pytest.param(["--experiment=synthetic", "--config_override=synthetic.seconds=1.0"], BUDGET, 4,
                 id="synthetic"),
    # The same with the real quickstart children (digits, TensorFlow): minutes.
    pytest.param(["--experiment=quickstart"], 6, 2, id="quickstart", marks=pytest.mark.slow),
])
def test_sigkill_mid_search_then_resume_repeats_and_loses_nothing(tmp_path, experiment, budget,
                                                                  kill_after):
    workdir = str(tmp_path / "search")
    args = [*experiment, f"--workdir={workdir}", f"--budget={budget}", "--workers=2"]
    proc = binary_helpers.start(args)
    try:
        deadline = time.monotonic() + 600
        while len(binary_helpers.records(workdir)) < kill_after:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, f"not {kill_after} trials in 600 s"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        binary_helpers.kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    before = binary_helpers.records(workdir)
    with open(os.path.join(workdir, "state.json")) as f:
        pending = json.load(f)["strategy"]["pending"]
    assert kill_after <= len(before) < budget
    assert pending, "killed while trials were running: they are pending in the saved state"

    done = binary_helpers.run(args, timeout=900)
    assert done.returncode == 0, done.stdout
    assert "(resuming)" in done.stdout
    after = binary_helpers.records(workdir)
    # Every record from before the kill is still there, unchanged.
    assert all(after[i] == r for i, r in before.items())
    # Trial ids are contiguous; every evaluated fingerprint appears once.
    assert sorted(after) == list(range(len(after)))
    evaluated = [r for r in after.values() if r["status"] != "duplicate"]
    assert len(evaluated) == budget
    fingerprints = [r["key"] for r in evaluated]
    assert len(set(fingerprints)) == len(fingerprints)
    assert all(r["genotype"]["fingerprint"] == r["key"] for r in evaluated)
    assert sorted(r["evaluation"] for r in evaluated) == list(range(budget))
    # The trials that were running at the kill ran again after it.
    rerun = {p["id"] for p in pending} - set(before)
    assert rerun and all(i in after for i in rerun)
    with open(os.path.join(workdir, "state.json")) as f:
        assert json.load(f)["strategy"]["pending"] == []
    assert os.path.exists(os.path.join(workdir, "report", "best_genotype.json"))
