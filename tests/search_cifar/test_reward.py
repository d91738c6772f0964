"""search_cifar.reward: MnasNet's reward, the cost-aware evaluator, re-ranking from records."""

from __future__ import annotations

import dataclasses
import functools
import math
import pickle
import re
import subprocess
import sys

import pytest

from nasnet import cost, known_genotypes, networks
from search_cifar import reward
from search_cifar.evaluator import CachedEvaluator, Result, from_function
from search_cifar.space import NasnetCellSpace
from search_cifar.synthetic import SyntheticEvaluator
from search_cifar.trial_store import Trial

SPACE = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "max_pool_3x3", "identity"))
TARGET = cost.TargetNetwork()
NASNET_A = known_genotypes.NASNET_A
NASNET_A_MADDS = 563_638_816


def genotype(i: int):
    return SPACE.decode(tuple((i * 7 + d) % n for d, n in enumerate(SPACE.num_choices)))


# -- the reward ---------------------------------------------------------------------
def test_mnasnet_soft_hard_and_weighted_rewards():
    soft = reward.RewardConfig(kind="soft", target_mult_adds=600e6)
    assert soft.exponents == (-0.07, -0.07)
    assert soft.reward(0.75, 1.2e9) == pytest.approx(0.75 * 2 ** -0.07)
    assert soft.reward(0.75, 600e6) == 0.75
    assert soft.reward(0.75, 300e6) == pytest.approx(0.75 * 0.5 ** -0.07)
    # Tan et al. 2019: twice the cost for 5 % more accuracy earns about the same reward.
    assert soft.reward(0.7 * 1.05, 1.2e9) / soft.reward(0.7, 600e6) == pytest.approx(1, abs=1e-3)
    hard = reward.RewardConfig(kind="hard", target_mult_adds=600e6)
    assert hard.exponents == (0.0, -1.0)
    assert hard.reward(0.75, 100e6) == hard.reward(0.75, 600e6) == 0.75
    assert hard.reward(0.75, 1.2e9) == pytest.approx(0.375)
    weighted = reward.RewardConfig(kind="weighted", alpha=-0.1, beta=-0.5,
                                   target_mult_adds=1e9)
    assert weighted.reward(0.5, 0.5e9) == pytest.approx(0.5 * 0.5 ** -0.1)
    assert weighted.reward(0.5, 4e9) == pytest.approx(0.5 * 4 ** -0.5)
    plain = reward.RewardConfig()
    assert plain.kind == "accuracy" and plain.reward(0.75, 1e12) == 0.75
    latency = reward.RewardConfig(kind="soft", cost="latency", target_latency_ms=80.0)
    assert latency.target == 80.0 and latency.reward(0.8, 160.0) == pytest.approx(0.8 * 2 ** -0.07)
    assert math.isnan(reward.RewardConfig(cost="latency").target)
    with pytest.raises(ValueError, match="a cost must be a number > 0, got 0"):
        soft.reward(0.5, 0)


def test_the_target_network_and_its_description():
    config = reward.RewardConfig(kind="hard")
    assert config.target_network() == TARGET
    assert config.describe() == (
        "hard MnasNet reward: accuracy x (cost / T)^w, w = 0 at or under T, -1 over it; "
        "T = 600M mult-adds of 4@1056, imagenet stem, 224 px, 1000 classes")
    resized = reward.RewardConfig(network="large", network_size="4@F50", image_size=160)
    assert resized.target_network() == dataclasses.replace(
        cost.TargetNetwork.from_classifier_config(networks.LARGE),
        num_cells_per_stack=4, penultimate_filters=None, num_conv_filters=50, image_size=160)
    assert resized.describe() == "accuracy (no cost term)"


@pytest.mark.parametrize("fields,message", [
    ({"kind": "mnas"}, "unknown reward kind 'mnas'; known: ['accuracy', 'soft', 'hard', "
                       "'weighted']"),
    ({"kind": "weighted", "beta": -1.0}, "reward kind 'weighted' needs reward.alpha"),
    ({"kind": "weighted", "alpha": 0.1, "beta": -1.0}, "reward.alpha must be a number <= 0, "
                                                       "got 0.1"),
    ({"kind": "soft", "beta": -1.0}, "reward.beta applies to kind 'weighted' only"),
    ({"cost": "flops"}, "unknown cost kind 'flops'; known: ['mult_adds', 'latency']"),
    ({"target_mult_adds": 0}, "reward.target_mult_adds must be a number > 0, got 0"),
    ({"target_mult_adds": -6e8}, "reward.target_mult_adds must be a number > 0, got -6"),
    ({"target_mult_adds": True}, "reward.target_mult_adds must be a number > 0, got True"),
    ({"target_mult_adds": math.inf}, "reward.target_mult_adds must be a number > 0, got inf"),
    ({"target_latency_ms": 0.0}, "reward.target_latency_ms must be a number > 0, got 0.0"),
    ({"kind": "soft", "cost": "latency"}, "a 'soft' reward on latency needs "
                                          "reward.target_latency_ms"),
    ({"latency_device": "tpu"}, "unknown reward.latency_device 'tpu'"),
    ({"latency_runs": 0}, "reward.latency_runs must be an int >= 1, got 0"),
    ({"network": "tiny"}, f"unknown reward.network 'tiny'; known: {sorted(networks.PRESETS)}"),
    ({"network_size": "4x1056"}, "network size must look like 'N@P' or 'N@F<filters>'"),
    ({"image_size": 4}, "bad reward target network: image_size must be an int >= 8, got 4"),
])
def test_bad_reward_settings_are_refused(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        reward.RewardConfig(**fields)


# -- the evaluator ------------------------------------------------------------------
def _accuracy(g) -> float:
    return 0.5 + 0.01 * len(g.normal.concat)


def test_the_evaluator_records_accuracy_and_cost_apart_and_combines_them():
    config = reward.RewardConfig(kind="hard", target_mult_adds=1e9)
    evaluator = reward.CostAwareEvaluator(from_function(_accuracy), config, TARGET)
    g = genotype(3)
    result = evaluator.evaluate(g)
    madds = cost.mult_adds(g, TARGET)
    assert result.metrics == {"accuracy": _accuracy(g), "cost": {
        "mult_adds": madds, "network": TARGET.describe(), "filters": TARGET.filters_for(g)}}
    assert result.reward == config.reward(_accuracy(g), madds)
    assert result.reward != _accuracy(g)  # this cell is over 1e9 at 4@1056: penalised
    assert madds > 1e9


def test_a_failed_child_keeps_its_cost_and_the_inner_evaluators_arguments_pass_through():
    calls = []

    class Inner:
        def evaluate(self, point, report=None, epochs=None):
            calls.append((point, report, epochs))
            return Result.failure("NaN loss at epoch 1", {"epochs_completed": 1})

    hook = lambda epoch, metrics: True  # noqa: E731
    evaluator = reward.CostAwareEvaluator(Inner(), reward.RewardConfig(kind="accuracy"), TARGET)
    result = evaluator.evaluate(NASNET_A, hook, epochs=3)
    assert calls == [(NASNET_A, hook, 3)]  # no cost term: the hook as given
    assert not result.ok and result.error == "NaN loss at epoch 1"
    assert result.metrics == {"epochs_completed": 1, "cost": {
        "mult_adds": NASNET_A_MADDS, "network": TARGET.describe(), "filters": 44}}


def test_under_a_cost_aware_reward_every_reported_epoch_carries_the_cost_factor():
    """Early stopping compares rewards: each epoch the child reports reaches the driver's
    hook with the factor its accuracy will be multiplied by."""
    seen = []
    config = reward.RewardConfig(kind="hard", target_mult_adds=NASNET_A_MADDS / 2)
    evaluator = reward.CostAwareEvaluator(_CurveInner(), config, TARGET)
    result = evaluator.evaluate(NASNET_A, lambda epoch, m: seen.append((epoch, m)) or True)
    assert config.factor(NASNET_A_MADDS) == pytest.approx(0.5)  # twice T, w = -1
    assert seen == [(1, {"val_accuracy": 0.5, "reward_factor": pytest.approx(0.5)}),
                    (2, {"val_accuracy": 0.6, "reward_factor": pytest.approx(0.5)})]
    assert result.reward == pytest.approx(0.3) and result.metrics["accuracy"] == 0.6
    assert reward.RewardConfig(kind="soft").factor(600e6) == 1.0
    assert reward.RewardConfig(kind="accuracy").factor(1e12) == 1.0


def test_recover_finishes_a_result_the_driver_rebuilt_as_evaluate_would_have():
    config = reward.RewardConfig(kind="hard", target_mult_adds=NASNET_A_MADDS / 2)
    evaluator = reward.CostAwareEvaluator(_CurveInner(), config, TARGET)
    recovered = evaluator.recover(NASNET_A, Result(0.6, {"stopped_early": True}))
    assert recovered.reward == pytest.approx(0.3)
    assert recovered.metrics["accuracy"] == 0.6 and recovered.metrics["stopped_early"]
    assert recovered.metrics["cost"]["mult_adds"] == NASNET_A_MADDS
    with pytest.raises(ValueError, match="a cost-aware reward needs a genotype to count"):
        evaluator.recover((0, 1), Result(0.6))


class _CurveInner:
    """Two epochs of 0.5 then 0.6 validation accuracy; the reward is the last."""

    def evaluate(self, point, report=None):
        for epoch, accuracy in ((1, 0.5), (2, 0.6)):
            if report is not None:
                report(epoch, {"val_accuracy": accuracy})
        return Result(0.6)


def test_the_evaluator_refuses_what_it_cannot_score():
    config = reward.RewardConfig()
    with pytest.raises(ValueError, match="inner must be an evaluator"):
        reward.CostAwareEvaluator(_accuracy, config, TARGET)
    with pytest.raises(ValueError, match="config must be a RewardConfig"):
        reward.CostAwareEvaluator(from_function(_accuracy), {"kind": "soft"}, TARGET)
    with pytest.raises(ValueError, match="target must be a nasnet.cost.TargetNetwork"):
        reward.CostAwareEvaluator(from_function(_accuracy), config, "4@1056")
    evaluator = reward.CostAwareEvaluator(from_function(lambda p: 0.5), config, TARGET)
    with pytest.raises(ValueError, match=r"needs a genotype to count, got \(1, 2\)"):
        evaluator.evaluate((1, 2))
    clashing = reward.CostAwareEvaluator(
        from_function(lambda g: Result(0.5, {"cost": 3})), config, TARGET)
    with pytest.raises(ValueError, match=r"metrics already have \['cost'\]"):
        clashing.evaluate(NASNET_A)


def test_latency_is_measured_once_per_fingerprint_and_named(monkeypatch):
    tiny = cost.TargetNetwork(stem="cifar", num_cells_per_stack=1, penultimate_filters=None,
                              num_conv_filters=4, image_size=8, num_classes=10)
    config = reward.RewardConfig(kind="soft", cost="latency", target_latency_ms=5.0,
                                 latency_runs=2)
    evaluator = reward.CostAwareEvaluator(from_function(lambda g: 0.8), config, tiny)
    first = evaluator.evaluate(NASNET_A)
    record = first.metrics["cost"]
    assert record["latency_runs"] == 2 and record["latency_device"].startswith("CPU: ")
    assert first.reward == config.reward(0.8, record["latency_ms"])
    monkeypatch.setattr(reward.latency_lib, "measure",
                        lambda *a, **k: pytest.fail("measured twice"))
    again = evaluator.evaluate(NASNET_A.with_name("same network"))
    assert again.metrics["cost"] == record


def test_a_pickled_evaluator_scores_without_tensorflow():
    """What a synthetic search's Ray worker does: unpickle, evaluate, no TensorFlow."""
    inner = CachedEvaluator(functools.partial(SyntheticEvaluator, num_blocks=2,
                                              ops=[op.value for op in SPACE.ops]),
                            cache_key="test_reward")
    evaluator = reward.CostAwareEvaluator(inner, reward.RewardConfig(kind="soft"), TARGET)
    code = ("import pickle, sys\n"
            "evaluator, g = pickle.loads(sys.stdin.buffer.read())\n"
            "result = evaluator.evaluate(g)\n"
            "print(result.metrics['cost']['mult_adds'], 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps((evaluator, genotype(1))),
                         capture_output=True, check=True)
    assert out.stdout.decode().split() == [str(cost.mult_adds(genotype(1), TARGET)), "False"]


# -- re-ranking ---------------------------------------------------------------------
def _record(i: int, accuracy: float, madds: float | None, **kw) -> Trial:
    g = genotype(i)
    metrics = {"accuracy": accuracy, "cost": {"mult_adds": madds, "network": TARGET.describe(),
                                              "filters": 1}} if madds is not None else {}
    return Trial(id=i, choices=SPACE.encode(g), key=g.fingerprint(), status="ok",
                 reward=accuracy, evaluation=i, metrics=metrics,
                 genotype=dict(g.to_dict(), fingerprint=g.fingerprint()), **kw)


def test_rerank_recomputes_every_reward_from_the_records():
    trials = [_record(0, 0.90, 2e9), _record(1, 0.80, 5e8), _record(2, 0.85, 9e8),
              Trial(id=3, choices=(0,) * 16, key="x", status="failed", reward=None, error="e"),
              Trial(id=4, choices=SPACE.encode(genotype(0)), key=genotype(0).fingerprint(),
                    status="duplicate", reward=0.90, duplicate_of=0)]

    def best(ts):
        return max((t for t in ts if t.status == "ok"), key=lambda t: t.reward).id

    assert best(trials) == 0
    hard = reward.rerank(trials, reward.RewardConfig(kind="hard", target_mult_adds=1e9), TARGET)
    assert [t.reward for t in hard[:3]] == [pytest.approx(0.45), 0.80, 0.85]
    assert best(hard) == 2
    assert hard[3] == trials[3] and hard[4].reward == hard[0].reward == pytest.approx(0.45)
    tight = reward.rerank(hard, reward.RewardConfig(kind="hard", target_mult_adds=6e8), TARGET)
    assert best(tight) == 1
    assert reward.rerank(tight, reward.RewardConfig(), TARGET)[0].reward == 0.90


def test_rerank_counts_what_the_records_lack():
    old = _record(0, 0.7, None)  # written before costs were recorded: reward = accuracy
    other = _record(1, 0.6, 123.0)
    other = dataclasses.replace(other, metrics={**other.metrics, "cost": {
        "mult_adds": 123.0, "network": "1@F8, cifar stem, 32 px, 10 classes"}})
    out = reward.rerank([old, other], reward.RewardConfig(kind="soft"), TARGET)
    for t, accuracy in zip(out, (0.7, 0.6)):
        g = genotype(t.id)
        assert t.metrics["accuracy"] == accuracy
        assert t.metrics["cost"] == {"mult_adds": cost.mult_adds(g, TARGET),
                                     "network": TARGET.describe(), "filters": TARGET.filters_for(g)}
        assert t.reward == reward.RewardConfig(kind="soft").reward(accuracy,
                                                                   cost.mult_adds(g, TARGET))


def test_rerank_refuses_what_it_cannot_rank():
    by_latency = reward.RewardConfig(kind="soft", cost="latency", target_latency_ms=50.0)
    with pytest.raises(ValueError, match="trial 0 has no latency measured for 4@1056"):
        reward.rerank([_record(0, 0.7, 5e8)], by_latency, TARGET)
    orphan = dataclasses.replace(_record(1, 0.7, None), genotype=None)
    with pytest.raises(ValueError, match="trial 1 has no genotype to count the cost of"):
        reward.rerank([orphan], reward.RewardConfig(), TARGET)
