"""SIGKILL the search binary in the middle of a search, start it again: nothing lost or repeated.

Through the real binary (``search_cifar/search.py``) on local Ray workers, with
the ``synthetic`` experiment (a table lookup with a sleep standing in for
training, so the kill lands while trials are running) and, behind the slow
marker, the ``quickstart`` experiment itself on a budget of 6 children.

The same runs check the local Ray around the search: while it runs, every
listening socket of the search's processes (the driver, the guard, Ray's
daemons, agents and workers) is on loopback; after the SIGKILL none of those
processes is left (within a bounded wait); the resumed run prints no
error-level line. Ctrl-C (SIGINT) stops the search with exit 130 and one line,
leaves no process and a state that resumes.
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
    # Early stopping: 9-epoch learning curves, rungs at 1 and 3 epochs.
    # Slow (30 s) to keep CI inside its budget: the in-process resume of the rung decisions
    # (test_early_stopping.py) and the synthetic kill above guard the same code by default.
    pytest.param(["--experiment=synthetic_asha", "--config_override=synthetic.seconds=0.15"],
                 BUDGET, 5, id="synthetic_asha", marks=pytest.mark.slow),
    # The same with the real quickstart children (digits, TensorFlow): minutes.
    pytest.param(["--experiment=quickstart"], 6, 2, id="quickstart", marks=pytest.mark.slow),
    # Real children stopped early on Ray (3 epochs, a rung at 1): minutes.
    pytest.param(["--experiment=quickstart_asha", "--config_override=child.epochs=3"], 6, 2,
                 id="quickstart_asha", marks=pytest.mark.slow),
])
def test_sigkill_mid_search_then_resume_repeats_and_loses_nothing(tmp_path, experiment, budget,
                                                                  kill_after):
    workdir = str(tmp_path / "search")
    args = [*experiment, f"--workdir={workdir}", f"--budget={budget}", "--workers=2"]
    proc = binary_helpers.start(args)
    seen = []  # every process of the search, as it ran
    try:
        deadline = time.monotonic() + 600
        asha = any(a.startswith("--experiment=") and a.endswith("_asha") for a in experiment)
        while len(binary_helpers.records(workdir)) < kill_after or (
                asha and not set(_rung_records(workdir)) - set(binary_helpers.records(workdir))):
            # (early stopping: kill while a running child has rung decisions)
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, f"not {kill_after} trials in 600 s"
            seen += binary_helpers.descendants(proc.pid)
            time.sleep(0.1)
        processes = [binary_helpers.psutil.Process(proc.pid),
                     *binary_helpers.descendants(proc.pid)]
        listening = binary_helpers.listening_sockets(processes)
        seen += processes[1:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        left = binary_helpers.wait_gone(seen, timeout=60)
    finally:
        binary_helpers.kill_group(proc)
        binary_helpers.kill(seen)
    assert proc.returncode == -signal.SIGKILL
    # The local Ray listened on loopback only (gcs_server, raylet, workers, the driver,
    # the runtime-env agent) and did not outlive the search (its agents included).
    print(f"{len(listening)} listening sockets: {listening}")
    assert len(listening) >= 5 and all(ip in binary_helpers.LOOPBACK for _, ip, _ in listening), \
        listening
    assert len({p.pid for p in seen}) >= 5
    assert not left, [(p.pid, p.name()) for p in left]
    before = binary_helpers.records(workdir)
    rungs_before = _rung_records(workdir)
    with open(os.path.join(workdir, "state.json")) as f:
        pending = json.load(f)["strategy"]["pending"]
    assert kill_after <= len(before) < budget
    assert pending, "killed while trials were running: they are pending in the saved state"

    done = binary_helpers.run(args, timeout=900)
    assert done.returncode == 0, done.stdout
    assert "(resuming)" in done.stdout
    # Quiet where nothing is wrong; the devices stated once, in the header.
    assert not binary_helpers.error_lines(done.stdout), binary_helpers.error_lines(done.stdout)
    assert done.stdout.count("devices: ") == 1
    assert "devices: each trial on CPU (no GPU visible to it); the driver on CPU" in done.stdout
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
    if asha:
        # Every child's fidelity is recorded; the rung decisions taken before the kill
        # survive it: a child stopped at a rung kept its stop (recorded from its rung
        # record), a running child restarted from scratch with its decisions replayed.
        epochs = 3 if "--config_override=child.epochs=3" in experiment else 9
        assert all(r["fidelity"]["max_epochs"] == epochs for r in evaluated)
        assert any(r["fidelity"]["stopped_early"] for r in evaluated)
        print(f"rung records at the kill: {sorted(rungs_before)}, recorded: {sorted(before)}")
        for i, rungs in rungs_before.items():
            if i in before:
                continue  # recorded just before the kill
            decided = after[i]["fidelity"]["decisions"]
            assert decided[:len(rungs["decisions"])] == rungs["decisions"]
            if rungs["decisions"][-1]["decision"] == "stop":
                assert after[i]["metrics"]["recovered_from_rung_record"]
        assert _rung_records(workdir) == {}


def _rung_records(workdir: str) -> dict[int, dict]:
    """``rungs/*.json`` of a search workdir (early stopping), by trial id."""
    return binary_helpers.records(workdir, "rungs", key="trial")


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_search_with_one_line_and_leaves_a_state_that_resumes(tmp_path):
    from search_cifar import experiments, scheduler
    from search_cifar.trial_store import TrialStore

    workdir = str(tmp_path / "search")
    args = ["--experiment=synthetic", "--config_override=synthetic.seconds=1.0",
            f"--workdir={workdir}", f"--budget={BUDGET}", "--workers=2"]
    # SIGINT at its default disposition in the search, as for a foreground command on a
    # terminal: a suite started in the background by a non-interactive shell (`make test &`,
    # nohup) hands every child an ignored SIGINT, which Python (and this search) respects.
    proc = binary_helpers.start(args, preexec_fn=_default_sigint)
    seen = []
    try:
        deadline = time.monotonic() + 600
        while len(binary_helpers.records(workdir)) < 2:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "not 2 trials in 600 s"
            seen += binary_helpers.descendants(proc.pid)
            time.sleep(0.1)
        seen += binary_helpers.descendants(proc.pid)
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        left = binary_helpers.wait_gone(seen, timeout=60)
    finally:
        binary_helpers.kill_group(proc)
        binary_helpers.kill(seen)
    assert proc.returncode == 130, out
    assert out.rstrip().splitlines()[-1] == "search: interrupted; run the same command to resume"
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert not left, [(p.pid, p.name()) for p in left]
    # What a resume reads is whole and consistent (records against the saved state).
    config = experiments.load_workdir_config(workdir)
    records, pending = scheduler.load_saved(config.build_strategy(), TrialStore(workdir))
    assert len(records) >= 2 and all(p.id not in records for p in pending)
