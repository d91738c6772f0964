"""search.py: flags -> config, clear errors that write nothing, foreground runs, resume, --report_only."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys

import pytest
from absl import flags

from search_cifar import experiments, search, strategies

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import binary_helpers  # noqa: E402

FLAGS = flags.FLAGS


call = binary_helpers.call


@pytest.mark.parametrize("args,message", [
    ([], "--workdir is required"),
    (["--workdir=gs://bucket/search"], "must be on a local or mounted file system"),
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
    # Early stopping.
    (["--experiment=synthetic_asha", "--config_override=early_stopping.rungs=[3, 1]"],
     "early_stopping.rungs must be increasing, got [3, 1]"),
    (["--experiment=synthetic_asha", "--config_override=early_stopping.reduction_factor=1"],
     "early_stopping.reduction_factor must be an int >= 2, got 1"),
    (["--experiment=quickstart_asha", "--config_override=early_stopping.rungs=[1, 3, 27]"],
     "early_stopping.rungs [1, 3, 27]: rung(s) [27] are not below child.epochs=9"),
    (["--experiment=synthetic", "--config_override=early_stopping.enabled=true"],
     "early stopping needs children that train for more than one epoch; synthetic.epochs=1"),
    (["--experiment=synthetic_asha", "--config_override=early_stopping.enabled=yes"],
     "early_stopping.enabled must be true or false, got 'yes'"),
    (["--experiment=synthetic_asha", "--config_override=early_stopping.rung=[1]"],
     "unknown config key 'early_stopping.rung'"),
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


def test_the_early_stopping_section_builds_the_drivers_rungs():
    es = experiments.get("quickstart_asha").build_early_stopping()
    assert (es.rungs, es.max_epochs, es.reduction_factor) == ((1, 3), 9, 3)
    assert experiments.get("synthetic_asha").build_early_stopping().ladder == (1, 3, 9)
    assert experiments.get("quickstart").build_early_stopping() is None

    def build(**early_stopping):
        return experiments.apply_overrides(experiments.get("quickstart_asha"), {
            f"early_stopping.{k}": v for k, v in early_stopping.items()}).build_early_stopping()

    # Explicit rungs; the last may be the children's epochs (the top rung).
    assert build(rungs=[2, 4, 9]).rungs == (2, 4) and build(rungs=[5]).rungs == (5,)
    assert build(min_epochs=2, reduction_factor=2).rungs == (2, 4, 8)
    # A stopped child's reward, when recovered from its rung record, is the child's own.
    cubed = experiments.apply_overrides(experiments.get("quickstart_asha"),
                                        {"child.reward_transform": "cube"})
    history = [{"val_accuracy": 0.5}, {"val_accuracy": 0.4}]
    assert cubed.build_early_stopping().reward(history) == pytest.approx(0.4 ** 3)
    with pytest.raises(ValueError, match=r"early_stopping.rungs \[9\] has no rung below "
                                         "child.epochs=9"):
        build(rungs=[9])
    with pytest.raises(ValueError, match="early_stopping.min_epochs=9 is not below "
                                         "child.epochs=9: no rung"):
        build(min_epochs=9)
    with pytest.raises(ValueError, match="early_stopping.min_epochs must be an int >= 1"):
        build(min_epochs=0)
    with pytest.raises(ValueError, match="early_stopping must be an EarlyStoppingConfig"):
        experiments.SearchConfig(early_stopping=3)
    with pytest.raises(ValueError, match=r"early stopping needs children .*; child.epochs=1"):
        experiments.apply_overrides(experiments.get("quickstart"),
                                    {"early_stopping.enabled": True})


def test_foreground_search_with_early_stopping_prints_fidelity_and_epochs_saved(tmp_path,
                                                                               capsys):
    workdir = tmp_path / "w"
    base = [f"--workdir={workdir}", "--experiment=synthetic_asha", "--workers=0",
            "--config_override=synthetic.seconds=0"]
    assert call(*base, "--budget=12") == 0
    out = capsys.readouterr().out
    assert "early stopping: children of 9 epochs continue or stop at 1, 3 epoch(s)" in out
    assert "/9 epochs, stopped]" in out and "[9/9 epochs]" in out
    summary = json.loads((workdir / "report" / "summary.json").read_text())
    assert (f"early stopping: {summary['num_stopped_early']} of 12 children stopped early; "
            f"{summary['child_epochs']} child-epochs trained, {summary['child_epochs_saved']} "
            f"of {summary['child_epochs_if_full']} saved") in out
    assert summary["child_epochs_saved"] > 0
    assert "| epochs |" in (workdir / "report" / "top_k.md").read_text()
    # Resumes with a larger budget; turning early stopping off in the same workdir is refused.
    assert call(*base, "--budget=14") == 0
    assert "(resuming)" in capsys.readouterr().out
    assert call(*base, "--budget=16", "--config_override=early_stopping.enabled=false") == 2
    assert "other settings (early_stopping.enabled)" in capsys.readouterr().err


def _files(directory) -> dict[str, tuple[int, int]]:
    """Every file under ``directory``: relative path -> (size, mtime in ns)."""
    out = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            st = os.stat(path)
            out[os.path.relpath(path, directory)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def finished_search(tmp_path):
    """A finished 3-child synthetic search (in this process) and its flags."""
    workdir = tmp_path / "w"
    base = [f"--workdir={workdir}", "--experiment=synthetic", "--workers=0",
            "--config_override=synthetic.seconds=0"]
    assert call(*base, "--budget=3") == 0
    return workdir, base


def _truncate(path):
    text = path.read_text()
    path.write_text(text[:len(text) // 2])


@pytest.mark.parametrize("damage,name,message", [
    (lambda w: _truncate(w / "trials" / "000001.json"), "trials/000001.json",
     "trial record"),
    (lambda w: _truncate(w / "state.json"), "state.json",
     "is not valid JSON"),
    (lambda w: (w / "state.json").write_text("[" * 100_000 + "]" * 100_000), "state.json",
     "nested too deeply"),
    (lambda w: (w / "state.json").write_text(json.dumps(
        {"format_version": 1, "strategy": {"strategy": "evolution"}})), "state.json",
     "cannot resume the 'evolution' strategy from it"),
    (lambda w: _truncate(w / "config.json"), "config.json",
     "search config"),
    (lambda w: (w / "config.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe"), "config.json",
     "is not a text file"),
    (lambda w: (w / "config.json").write_text("[1, 2]"), "config.json",
     "not a search config: a JSON list, not an object"),
], ids=["truncated-trial", "truncated-state", "deep-state", "foreign-state",
        "truncated-config", "binary-config", "list-config"])
def test_resuming_a_damaged_workdir_is_one_line_naming_the_file_and_writes_nothing(
        finished_search, capsys, damage, name, message):
    workdir, base = finished_search
    damage(workdir)
    before = _files(workdir)
    assert call(*base, "--budget=5") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("search: error: "), err
    assert str(workdir / name) in err and message in err, err
    assert _files(workdir) == before  # not even an empty TensorBoard event file


@pytest.mark.parametrize("damage,name,message", [
    (lambda w: _truncate(w / "trials" / "000002.json"), "trials/000002.json",
     "is not valid JSON"),
    (lambda w: _truncate(w / "config.json"), "config.json", "search config"),
    (lambda w: (w / "config.json").write_text(json.dumps({"budget": "many"})), "config.json",
     "not a valid search config: config field 'budget' must be an integer, got \"many\""),
], ids=["truncated-trial", "truncated-config", "bad-config-value"])
def test_report_only_on_a_damaged_workdir_is_one_line_naming_the_file(
        finished_search, capsys, damage, name, message):
    workdir, _ = finished_search
    damage(workdir)
    before = _files(workdir)
    assert call(f"--workdir={workdir}", "--report_only") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(workdir / name) in err and message in err, err
    assert _files(workdir) == before


def test_a_workdir_that_cannot_be_written_is_one_line_and_writes_nothing(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    for workdir, message in [
            (a_file, "exists and is not a directory"),
            (a_file / "sub", f"cannot be made: {str(a_file)!r} is not a directory"),
            ("/proc/nasnet-search-test", "cannot be written (/proc: ")]:
        assert call(f"--workdir={workdir}", "--experiment=synthetic", "--workers=0") == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"workdir {str(workdir)!r}" in err and message in err, err
    assert a_file.read_text() == "not a directory"
    assert sorted(os.listdir(tmp_path)) == ["file"]
    assert not os.path.exists("/proc/nasnet-search-test")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_workdir_in_a_read_only_directory_is_one_line(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert call(f"--workdir={parent / 'w'}", "--experiment=synthetic", "--workers=0") == 2
        assert "cannot be written" in capsys.readouterr().err
        assert os.listdir(parent) == []
    finally:
        parent.chmod(stat.S_IRWXU)


def test_a_ray_that_cannot_run_a_trial_is_one_line_and_writes_nothing(tmp_path, capsys):
    workdir = tmp_path / "w"
    assert call(f"--workdir={workdir}", "--experiment=synthetic", "--workers=1",
                "--gpus_per_trial=64") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "so no trial can run" in err, err
    assert not workdir.exists()
