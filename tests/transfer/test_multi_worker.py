"""MultiWorkerMirroredStrategy beyond one process: two local workers (TF_CONFIG on
127.0.0.1) train a few steps together and end with identical weights."""

import json
import os
import subprocess
import sys

import numpy as np

import train_helpers


def test_two_local_workers_end_with_identical_weights(tmp_path):
    ports = [train_helpers.free_port(), train_helpers.free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workdir = str(tmp_path / "run")
    procs, logs = [], []
    for index in range(2):
        env = train_helpers.env(TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        log = open(tmp_path / f"worker{index}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(train_helpers.HERE, "train_helpers.py"),
             "mwms_worker", workdir, str(tmp_path / f"w{index}.npz")],
            cwd=train_helpers.REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=840) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for log in logs:
            log.close()
    tails = [(tmp_path / f"worker{i}.log").read_text()[-2000:] for i in range(2)]
    assert codes == [0, 0], tails

    facts = [json.loads((tmp_path / f"w{i}.npz.json").read_text()) for i in range(2)]
    assert [f["worker"] for f in facts] == ["worker_0", "worker_1"]
    assert all(f["replicas"] == 2 and f["global_batch"] == 64 and f["final_step"] == 6
               for f in facts)
    first, second = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(first.files) == len(second.files) > 0
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    # Only the chief wrote the run's files; the other worker cleaned up after itself.
    events = train_helpers.read_events(workdir)
    assert events[0]["worker"] == "worker_0" and events[-1]["event"] == "end"
    assert events[0]["input_workers"] == 2          # hence a deterministic input order
    assert sorted(n for n in os.listdir(workdir) if not n.startswith("events")) == [
        "checkpoints", "config.json", "final", "genotype.json", "metrics.json", "tensorboard"]
