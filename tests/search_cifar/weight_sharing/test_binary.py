"""search.py --experiment=enas_*: flags -> config, bad input refused before anything is written,
and a real run of the binary that is SIGKILLed, run again with the same command, and reported."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from nasnet.genotype import Genotype
from search_cifar.weight_sharing import command
from search_cifar.weight_sharing import config as config_lib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import binary_helpers  # noqa: E402
import ws_helpers  # noqa: E402

call = binary_helpers.call


@pytest.mark.parametrize("args, message", [
    (["--budget=3"], "--budget count(s) trials of a trial search and do(es) not apply to the "
                     "weight-sharing experiment 'enas_quickstart'; set training.epochs"),
    (["--workers=0", "--ray_address=auto"], "--workers, --ray_address count(s) trials"),
    (["--config_override=training.epoch=2"], "unknown config key 'training.epoch'"),
    (["--config_override=space_ops=[\"sep_conv_3x3\", \"sep_conv_7x7\"]"],
     r"op(s) ['sep_conv_7x7'] are not held by the supernet"),
    (["--config_override=space_num_blocks=4"],
     "the space has 4 blocks per cell, more than the supernet's 3"),
    (["--config_override=retrain=huge"], "unknown child preset 'huge'"),
    (["--strategy=ppo"], "unknown strategy 'ppo'"),
    (["--distribute_strategy=tpu"], "distribute_strategy must be one of"),
    (["--config_override=data.dataset=cifar10", "--data_dir=/nonexistent/tfds"], "cifar10"),
])
def test_bad_weight_sharing_flags_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    workdir = tmp_path / "w"
    assert call(f"--workdir={workdir}", "--experiment=enas_quickstart", *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("search: error: ") and message in err, err
    assert not workdir.exists()


def test_weight_sharing_flags_are_refused_by_a_trial_search(tmp_path, capsys):
    assert call(f"--workdir={tmp_path / 'w'}", "--experiment=quickstart",
                "--distribute_strategy=mirrored") == 2
    assert "apply to the weight-sharing experiments only" in capsys.readouterr().err
    assert call(f"--workdir={tmp_path / 'w'}", "--experiment=nope") == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'nope'" in err and "enas_quickstart" in err
    assert not (tmp_path / "w").exists()


def test_the_flags_reach_the_config(tmp_path):
    config = command.build_config("enas_quickstart", {"training.epochs": 2},
                                  strategy="random", data_dir="/data/tfds",
                                  distribute_strategy="mirrored")
    assert config.controller.strategy == "random" and config.controller.strategy_options == {}
    assert config.data.data_dir == config.retrain.data.data_dir == "/data/tfds"
    assert config.distribute_strategy == "mirrored" and config.training.epochs == 2
    assert config.supernet == config_lib.get("enas_quickstart").supernet


def test_a_workdir_of_the_other_kind_of_search_is_refused(tmp_path, capsys):
    trial = tmp_path / "trial"
    (trial / "trials").mkdir(parents=True)
    assert call(f"--workdir={trial}", "--experiment=enas_quickstart") == 2
    assert "holds a trial search" in capsys.readouterr().err
    (trial / "config.json").write_text(json.dumps({"name": "quickstart", "budget": 3}))
    assert call(f"--workdir={trial}", "--experiment=enas_quickstart") == 2
    assert "holds a trial search, not a weight-sharing one" in capsys.readouterr().err
    assert sorted(os.listdir(trial)) == ["config.json", "trials"]


#: The enas_quickstart preset shrunk to seconds: 2-block cells of 3 ops, 8 px, 2 epochs of
#: 4 steps, random search with weight sharing (no controller steps), 3 derived candidates,
#: and the tiny child for the retraining.
TINY_OVERRIDES = {
    "supernet.num_blocks": 2, "supernet.ops": list(ws_helpers.OPS),
    "supernet.out_filters": 4, "supernet.use_aux_head": False, "data.image_size": 8,
    "data.batch_size": 16,
    "training.epochs": 2, "training.steps_per_epoch": 4, "training.restart_period_epochs": 1,
    "training.checkpoint_every_steps": 1, "controller.steps_per_epoch": 0,
    "derive.num_candidates": 3, "derive.validation_batches": 1,
}


def _args(workdir: str) -> list[str]:
    overrides = {**TINY_OVERRIDES, "retrain": ws_helpers.tiny_child_dict()}
    return ["--experiment=enas_quickstart", f"--workdir={workdir}", "--strategy=random",
            *[f"--config_override={k}={json.dumps(v)}" for k, v in overrides.items()]]


# Slow (about a minute) to keep CI inside its budget: test_loop.py's interrupted-then-resumed
# searches guard the same resume by default.
@pytest.mark.slow
def test_the_binary_is_killed_then_the_same_command_finishes_and_reports(tmp_path, capsys):
    workdir = str(tmp_path / "ws")
    index_path = os.path.join(workdir, "checkpoints", "index.json")
    proc = binary_helpers.start(_args(workdir))
    try:
        deadline = time.monotonic() + 600
        while True:  # SIGKILL once a checkpoint of the first epoch exists, wherever it is
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "no checkpoint in 600 s"
            if os.path.exists(index_path):
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        binary_helpers.kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    killed_at = ws_helpers.index(workdir)
    assert killed_at["epoch"] < 2 and not os.path.exists(os.path.join(workdir, "report"))

    done = binary_helpers.run(_args(workdir), timeout=900)
    assert done.returncode == 0, done.stdout
    out = done.stdout
    assert "resuming at epoch" in out and "[epoch 2/2]" in out and "ETA" in out
    assert "retrained from scratch: validation accuracy" in out and "files:" in out
    index = ws_helpers.index(workdir)
    assert index["phase"] == "done" and [h["epoch"] for h in index["history"]] == [1, 2]
    assert index["history"][:len(killed_at["history"])] == killed_at["history"]
    report = os.path.join(workdir, "report")
    for name in ("best_genotype.json", "rewards.png", "top_k.md", "summary.json",
                 "best_cell/normal.png", "best_cell/reduction.png"):
        assert os.path.exists(os.path.join(report, name)), name
    best = Genotype.load(os.path.join(report, "best_genotype.json"))
    summary = json.loads(open(os.path.join(report, "summary.json")).read())
    assert best.fingerprint() == summary["best"]["fingerprint"]
    assert summary["retrain"]["fingerprint"] == best.fingerprint()
    assert 0.0 <= summary["retrain"]["reward"] <= 1.0
    assert os.listdir(os.path.join(workdir, "tensorboard"))

    # --report_only rewrites the report from the files, running nothing.
    os.remove(os.path.join(report, "top_k.md"))
    assert call(f"--workdir={workdir}", "--report_only") == 0
    out = capsys.readouterr().out
    assert best.fingerprint() in out and os.path.exists(os.path.join(report, "top_k.md"))
    assert call(f"--workdir={workdir}", "--report_only", "--config_override=seed=1") == 2
    assert "does not apply to --report_only" in capsys.readouterr().err
    # The same command with another supernet size: refused, nothing touched.
    before = open(index_path).read()
    assert call(*_args(workdir), "--config_override=supernet.out_filters=6") == 2
    assert "supernet.out_filters: 4 -> 6" in capsys.readouterr().err
    assert open(index_path).read() == before
