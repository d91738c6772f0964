"""search.py: flags -> config, clear errors that write nothing, foreground runs, resume, --report_only."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
from absl import flags

from search_cifar import experiments, search, strategies

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import binary_helpers  # noqa: E402

FLAGS = flags.FLAGS


def call(*args):
    """``search.main`` in this process, as ``app.run`` would call it."""
    FLAGS.unparse_flags()
    argv = FLAGS(["search", *args])
    try:
        return search.main(argv)
    finally:
        FLAGS.unparse_flags()


@pytest.mark.parametrize("args,message", [
    ([], "--workdir is required"),
    (["--experiment=nope"], "unknown experiment 'nope'"),
    (["--config_override=child.epoch=2"], "unknown config key 'child.epoch'"),
    (["--config_override=child.epochs"], "an override must look like key=value"),
    (["--config_override=child.epochs=0"], "epochs must be an int > 0, got 0"),
    (["--config_override=child.num_conv_filters=16"], "unknown config key 'child.num_conv_filters'"),
    (["--config_override=child.network.image_size=24"],
     "child.network.image_size cannot be overridden: it is set from child.data.image_size"),
    (["--config_override=child.network.backbone.total_training_steps=9"],
     "it is set from epochs x steps per epoch"),
    (["--config_override=child.network.backbone.num_conv_filters=null"],
     "num_conv_filters must be an int >= 1"),
    (["--config_override=strategy_options.population=3"],
     "strategy 'evolution' does not take option(s) ['population']"),
    (["--strategy=nope"], "unknown strategy 'nope'"),
    (["--budget=0"], "budget must be an int >= 1, got 0"),
    (["--workers=-1"], "workers must be an int >= 0, got -1"),
    (["--workers=0", "--ray_address=auto"], "workers=0 runs trials in this process"),
    (["--cpus_per_trial=0"], "both 0"),
    (["--config_override=space.ops=[\"sep_conv_3x3\", \"warp_9x9\"]"], "warp_9x9"),
    (["--config_override=child.data.dataset=cifar10", "--data_dir=/nonexistent/tfds"],
     "cifar10"),
])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, args, message):
    workdir = tmp_path / "w"
    if args:  # the first case is about the missing --workdir itself
        args = [f"--workdir={workdir}", *args]
    assert call(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("search: error: ") and message in err, err
    assert not workdir.exists()


def test_a_bad_flag_name_fails_before_anything_runs(tmp_path):
    done = binary_helpers.run([f"--workdir={tmp_path / 'w'}", "--no_such_flag=1"], timeout=120)
    assert done.returncode != 0 and "no_such_flag" in done.stdout
    assert not (tmp_path / "w").exists()


def test_flags_override_the_experiment():
    FLAGS.unparse_flags()
    FLAGS(["search", "--workdir=/x", "--strategy=random", "--budget=7", "--workers=3",
           "--data_dir=rel/tfds", "--config_override=child.epochs=2",
           "--config_override=child.network.backbone.num_conv_filters=16",
           "--config_override=child.network.backbone.layer.weight_decay=0.001",
           "--config_override=name=123"])
    try:
        config = search._config_from_flags(experiments)
    finally:
        FLAGS.unparse_flags()
    assert config.strategy == "random" and config.strategy_options == {}  # evolution's dropped
    assert config.budget == 7 and config.workers == 3 and config.child.epochs == 2
    assert config.child.network.backbone.num_conv_filters == 16
    assert config.child.network.backbone.layer.weight_decay == 0.001
    assert config.child.data.data_dir == os.path.abspath("rel/tfds")
    assert config.name == "123"
    assert config.space == experiments.QUICKSTART.space  # the rest is the experiment's
    FLAGS(["search", "--workdir=/x", "--ray_address=auto"])
    try:
        config = search._config_from_flags(experiments)
    finally:
        FLAGS.unparse_flags()
    assert config.ray_address == "auto" and config.workers is None  # the whole cluster


def test_foreground_run_resume_with_a_larger_budget_and_report_only(tmp_path, capsys):
    workdir = tmp_path / "w"
    base = [f"--workdir={workdir}", "--experiment=synthetic", "--workers=0",
            "--config_override=synthetic.seconds=0"]
    assert call(*base, "--budget=4") == 0
    out = capsys.readouterr().out
    assert "in-process (1 trial at a time)" in out and "[4/4] trial" in out
    assert "best genotype (" in out and "reward plot" in out
    records = binary_helpers.records(str(workdir))
    assert len([r for r in records.values() if r["status"] != "duplicate"]) == 4

    # Same settings, larger budget: resumes and evaluates only the new children.
    assert call(*base, "--budget=6") == 0
    out = capsys.readouterr().out
    assert "(resuming)" in out and "[6/6] trial" in out and "[4/6]" not in out
    after = binary_helpers.records(str(workdir))
    assert all(after[i] == r for i, r in records.items())
    keys = [r["key"] for r in after.values() if r["status"] != "duplicate"]
    assert len(keys) == len(set(keys)) == 6

    # Other settings in the same workdir: refused, nothing touched.
    state = (workdir / "state.json").read_text()
    assert call(*base, "--budget=8", "--config_override=seed=1") == 2
    assert "holds a search with other settings (seed)" in capsys.readouterr().err
    assert (workdir / "state.json").read_text() == state

    # --report_only regenerates the report from the records alone.
    shutil.rmtree(workdir / "report")
    assert call(f"--workdir={workdir}", "--report_only", "--config_override=top_k=2") == 0
    out = capsys.readouterr().out
    assert "top 2" in out
    for name in ("best_genotype.json", "rewards.png", "top_k.md", "best_cell/normal.png",
                 "best_cell/reduction.png"):
        assert (workdir / "report" / name).exists(), name
    best = json.loads((workdir / "report" / "best_genotype.json").read_text())
    assert best["fingerprint"] == json.loads((workdir / "report" / "summary.json").read_text())[
        "best_fingerprint"]


def test_report_only_on_a_directory_without_a_search_is_an_error(tmp_path, capsys):
    assert call(f"--workdir={tmp_path}", "--report_only") == 2
    assert "not a search work directory" in capsys.readouterr().err


def test_the_strategy_flag_lists_the_registry():
    assert all(name in FLAGS["strategy"].help for name in strategies.names())


def test_every_named_experiment_builds():
    for name in experiments.names():
        config = experiments.get(name)
        assert config.name == name
        config.build_strategy()
        assert experiments.SearchConfig.from_dict(config.to_dict()) == config
