"""A cost-aware search through the binary: reward settings, records, report, re-ranking."""

from __future__ import annotations

import json
import os
import sys

import pytest
from absl import flags

from nasnet import cli, cost
from nasnet.genotype import Genotype
from search_cifar import experiments, reward, search

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import binary_helpers  # noqa: E402

FLAGS = flags.FLAGS
BASE = ["--experiment=synthetic", "--workers=0", "--config_override=synthetic.seconds=0"]


def call(*args):
    """``search.main`` in this process, as ``search.run`` (``nasnet.cli.run``) calls it."""
    FLAGS.unparse_flags()
    argv = FLAGS(["search", *args])
    try:
        return cli.call(search.main, argv, "search")
    finally:
        FLAGS.unparse_flags()


def test_reward_settings_are_overrides():
    config = experiments.apply_overrides(experiments.get("quickstart"), {
        "reward.kind": "soft", "reward.target_mult_adds": 600e6,
        "reward.network_size": "4@F44", "reward.image_size": 160})
    assert config.reward == reward.RewardConfig(kind="soft", network_size="4@F44",
                                                image_size=160)
    assert experiments.get("quickstart").reward == reward.RewardConfig()  # accuracy alone
    again = experiments.SearchConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    evaluator = experiments.make_evaluator(config)
    assert isinstance(evaluator, reward.CostAwareEvaluator)
    assert evaluator.target == cost.TargetNetwork(penultimate_filters=None, num_conv_filters=44,
                                                  image_size=160)


@pytest.mark.parametrize("override,message", [
    ("reward.target=1", "unknown config key 'reward.target'"),
    ("reward.target_mult_adds=0", "reward.target_mult_adds must be a number > 0, got 0"),
    ("reward.target_mult_adds=-600e6", "reward.target_mult_adds must be a number > 0"),
    ("reward.cost=flops", "unknown cost kind 'flops'"),
    ("reward.kind=mnas", "unknown reward kind 'mnas'"),
    ("reward.network_size=4@x", "network size must look like 'N@P' or 'N@F<filters>'"),
])
def test_bad_reward_settings_exit_2_and_write_nothing(tmp_path, capsys, override, message):
    workdir = tmp_path / "w"
    assert call(f"--workdir={workdir}", *BASE, f"--config_override={override}") == 2
    assert message in capsys.readouterr().err
    assert not workdir.exists()


def test_a_latency_target_where_it_cannot_be_measured_writes_nothing(tmp_path, capsys,
                                                                     monkeypatch):
    workdir = tmp_path / "w"
    latency = ["--config_override=reward.kind=soft", "--config_override=reward.cost=latency",
               "--config_override=reward.target_latency_ms=20"]
    # Ray trials that ask for no GPU cannot measure on one.
    assert call(f"--workdir={workdir}", "--experiment=synthetic", *latency,
                "--config_override=reward.latency_device=gpu") == 2
    assert "trials request none (gpus_per_trial=0)" in capsys.readouterr().err
    # Trials in this process, on a machine without a GPU.
    monkeypatch.setattr(experiments.devices, "machine_has_gpu_devices", lambda: False)
    assert call(f"--workdir={workdir}", *BASE, *latency,
                "--config_override=reward.latency_device=gpu") == 2
    assert "on a machine without a GPU" in capsys.readouterr().err
    # A latency reward without its target.
    assert call(f"--workdir={workdir}", *BASE, "--config_override=reward.kind=hard",
                "--config_override=reward.cost=latency") == 2
    assert "needs reward.target_latency_ms" in capsys.readouterr().err
    assert not workdir.exists()


def test_records_report_and_re_ranking_without_training(tmp_path, capsys):
    workdir = tmp_path / "w"
    soft = ["--config_override=reward.kind=soft", "--config_override=reward.target_mult_adds=1e9"]
    assert call(f"--workdir={workdir}", *BASE, "--budget=8", *soft) == 0
    out = capsys.readouterr().out
    assert "reward: soft MnasNet reward" in out and "Pareto front" in out
    records = binary_helpers.records(str(workdir))
    target = cost.TargetNetwork()
    soft_config = reward.RewardConfig(kind="soft", target_mult_adds=1e9)
    for r in records.values():
        if r["status"] != "ok":
            continue
        g = Genotype.from_dict(r["genotype"])
        m = r["metrics"]
        assert m["cost"] == {"mult_adds": cost.mult_adds(g, target),
                             "network": target.describe(), "filters": target.filters_for(g)}
        assert m["accuracy"] == m["val_accuracy"]  # the synthetic evaluator's reward
        assert r["reward"] == soft_config.reward(m["accuracy"], m["cost"]["mult_adds"])
    report_dir = workdir / "report"
    assert (report_dir / "pareto.png").exists() and (report_dir / "pareto.md").exists()
    sessions = os.listdir(workdir / "tensorboard" / "hparams")
    assert len([s for s in sessions if s.isdigit()]) == len(
        [r for r in records.values() if r["status"] != "duplicate"])
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["reward"].startswith("soft MnasNet reward") and summary["pareto_front"]

    # --report_only under a hard target: re-ranked from the records, nothing retrained.
    def hard_reward(r, t):
        m = r["metrics"]
        return reward.RewardConfig(kind="hard", target_mult_adds=t).reward(
            m["accuracy"], m["cost"]["mult_adds"])

    ok = [r for r in records.values() if r["status"] == "ok"]
    tight = sorted(r["metrics"]["cost"]["mult_adds"] for r in ok)[1]  # 2 children fit
    expected = max(ok, key=lambda r: (hard_reward(r, tight), -r["id"]))
    assert call(f"--workdir={workdir}", "--report_only", "--config_override=reward.kind=hard",
                f"--config_override=reward.target_mult_adds={tight}") == 0
    out = capsys.readouterr().out
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["best_trial"] == expected["id"]
    assert summary["best_reward"] == pytest.approx(hard_reward(expected, tight))
    assert summary["reward"].startswith("hard MnasNet reward")
    assert f"best: trial {expected['id']}" in out
    assert binary_helpers.records(str(workdir)) == records  # the records are unchanged
