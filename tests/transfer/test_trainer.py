"""Training: loss goes down under one device and under MirroredStrategy on two logical
CPUs, the workdir records, mixed precision, the optimizer recipe, refused resumes."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import train_helpers
from transfer import config, trainer


def _loops(events):
    return [e for e in events if e["event"] == "loop"]


def test_one_device_training_lowers_the_loss_and_fills_the_workdir(one_device_run):
    result = one_device_run
    events = train_helpers.read_events(result.workdir)
    loops = _loops(events)
    assert [e["step"] for e in loops] == [8, 16, 24]
    assert loops[-1]["loss"] < loops[0]["loss"]
    start = events[0]
    assert start["event"] == "start" and start["replicas"] == 1 and start["global_batch"] == 32
    assert start["resumed_from_step"] == 0
    assert result.final_step == 24 and result.metrics["final_step"] == 24
    for key in ("top1", "top5", "loss", "logits_loss", "aux_loss"):
        assert np.isfinite(result.metrics[key]), key
    assert result.metrics["top5"] >= result.metrics["top1"]
    with open(os.path.join(result.workdir, "metrics.json")) as f:
        assert json.load(f)["top1"] == result.metrics["top1"]
    assert config.TrainConfig.load(os.path.join(result.workdir, "config.json")) == result.config
    assert trainer.final_checkpoint(result.workdir)
    assert trainer.checkpoint_step(trainer.latest_backup(result.workdir)) == 24
    summaries = [f for _, _, files in os.walk(os.path.join(result.workdir, "tensorboard"))
                 for f in files if f.startswith("events.out.tfevents")]
    assert summaries
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [8, 16, 24]


def test_mirrored_over_two_logical_cpus_lowers_the_loss(tmp_path):
    workdir = str(tmp_path / "run")
    proc = train_helpers.run_module(
        "transfer.train",
        ["--preset=digits_tiny", "--strategy=mirrored", "--num_cpu_devices=2",
         f"--workdir={workdir}", *train_helpers.train_flags(train_helpers.tiny_overrides(24, 8, 8))])
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = train_helpers.read_events(workdir)
    start = events[0]
    assert start["strategy"] == "MirroredStrategy" and start["replicas"] == 2
    assert start["global_batch"] == 64                       # 32 per replica x 2
    assert start["learning_rate"] == pytest.approx(0.1)      # 0.05 x 64 / 32
    loops = _loops(events)
    assert [e["step"] for e in loops] == [8, 16, 24]
    assert loops[-1]["loss"] < loops[0]["loss"]
    assert "trained" in proc.stdout


def test_a_workdir_of_another_model_is_refused(one_device_run):
    other = config.preset("digits_tiny", {**train_helpers.tiny_overrides(24, 8, 8),
                                          "model.backbone.penultimate_filters": 96})
    before = os.listdir(one_device_run.workdir)
    with pytest.raises(ValueError, match="different model.*penultimate_filters"):
        trainer.train(other, one_device_run.workdir)
    assert os.listdir(one_device_run.workdir) == before


def test_checkpoints_without_a_config_are_refused(tmp_path):
    chief = tmp_path / "checkpoints" / "chief"
    chief.mkdir(parents=True)
    (chief / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
    (chief / "ckpt-1.index").write_bytes(b"")
    cfg = config.preset("digits_tiny", train_helpers.tiny_overrides(8, 8, 8))
    with pytest.raises(ValueError, match="has checkpoints but no config.json"):
        trainer.train(cfg, str(tmp_path))


def test_mixed_float16_trains_with_loss_scaling(tmp_path):
    cfg = config.preset("digits_tiny", {**train_helpers.tiny_overrides(2, 2, 2),
                                        "mixed_precision": "mixed_float16",
                                        "model.backbone.drop_path_keep_prob": 0.7})
    result = trainer.train(cfg, str(tmp_path))
    assert isinstance(result.model.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    assert result.metrics["policy"] == "mixed_float16" and np.isfinite(result.metrics["loss"])
    assert result.model.output["logits"].dtype == tf.float32
    assert tf_keras.mixed_precision.global_policy().name == "float32"      # restored


def test_slim_rmsprop_matches_tf1_rmsprop():
    # TF1 RMSPropOptimizer: ms starts at 1; ms = 0.9 ms + 0.1 g^2;
    # mom = 0.9 mom + lr g / sqrt(ms + eps); w -= mom.
    w = tf.Variable([1.0, -2.0])
    opt = trainer.SlimRMSprop(learning_rate=0.1, rho=0.9, momentum=0.9, epsilon=1.0)
    ms, mom, ref = np.ones(2), np.zeros(2), np.array([1.0, -2.0])
    for g in ([0.5, 1.5], [2.0, -1.0]):
        opt.apply_gradients([(tf.constant(g), w)])
        g = np.array(g)
        ms = 0.9 * ms + 0.1 * g ** 2
        mom = 0.9 * mom + 0.1 * g / np.sqrt(ms + 1.0)
        ref = ref - mom
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-6)


def test_optimizer_schedule_and_clipping():
    cfg = config.NASNET_A_MOBILE
    schedule = trainer.learning_rate_schedule(cfg, 1600, config.IMAGENET_TRAIN_EXAMPLES)
    assert float(schedule(0)) == pytest.approx(2.0)
    assert float(schedule(1920)) == pytest.approx(2.0)                  # staircase
    assert float(schedule(1921)) == pytest.approx(2.0 * 0.97)
    opt = trainer.make_optimizer(cfg, 1600, config.IMAGENET_TRAIN_EXAMPLES)
    assert opt.global_clipnorm == 10.0
    assert (opt.rho, opt.momentum, opt.epsilon) == (0.9, 0.9, 1.0)


def test_kill_at_step_needs_a_positive_step():
    with pytest.raises(ValueError, match="kill step must be >= 1"):
        trainer.KillAtStep(0)


def test_an_empty_training_split_is_refused(monkeypatch):
    from transfer import data
    monkeypatch.setattr(data, "_source", lambda *a, **k: tf.data.Dataset.range(0))
    cfg = config.preset("digits_tiny", {"data.train_split": "train[:0]"})
    with pytest.raises(ValueError, match=r"training split 'train\[:0\]' of 'digits' is empty"):
        trainer._count_examples(cfg, 16)


def test_a_url_workdir_trains_resumes_and_exports_through_tf_io_gfile(tmp_path):
    # gs:// goes through tf.io.gfile; file:// takes the same code path on the local disk.
    from nasnet import filesystem
    from transfer import export

    local = tmp_path / "run"
    url = "file://" + str(local)
    cfg = config.preset("digits_tiny", {**train_helpers.tiny_overrides(8, 4, 4),
                                        "strategy": "one_device"})
    first = trainer.train(cfg, url)
    assert first.workdir == url and first.final_step == 8  # not rewritten to <cwd>/file:/...
    assert filesystem.isfile(url + "/config.json") and filesystem.isfile(url + "/metrics.json")
    assert trainer.checkpoint_step(trainer.latest_backup(url)) == 8
    longer = config.apply_overrides(cfg, {"train_steps": 12})
    second = trainer.train(longer, url)  # resumes from step 8
    events = train_helpers.read_events(str(local))
    assert [e["event"] for e in events].count("start") == 2
    assert second.initial_step == 8 and second.final_step == 12
    exported = export.export_from_workdir(url, url + "/export", count_mult_adds=False)
    assert exported == url + "/export"
    assert filesystem.isfile(url + "/export/saved_model/saved_model.pb")
    assert filesystem.isfile(url + "/export/export_info.json")
