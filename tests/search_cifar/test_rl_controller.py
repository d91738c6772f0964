"""Tests for the ``rl`` strategy and its LSTM controller.

Gradient-direction tests use tiny spaces where the right answer is known (a
reward only one choice earns must raise that choice's probability); resume
tests compare proposals bit for bit.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from search_cifar.space import CategoricalSpace
from search_cifar import strategies
from search_cifar.strategies import rl_controller
from search_cifar.strategies.controller_model import Adam, Controller, clip_by_global_norm

SMALL = dict(units=16)  # one traced shape per space, shared by the tests below


def _make(num_choices=(3, 3), seed=0, **options):
    return strategies.make("rl", CategoricalSpace(num_choices), seed=seed, **{**SMALL, **options})


def _marginal(strategy, decision, value):
    """P(choices[decision] == value) by enumerating a small space."""
    points = list(itertools.product(*(range(n) for n in strategy.space.num_choices)))
    probs = strategy.probabilities(points)
    assert math.isclose(probs.sum(), 1.0, rel_tol=1e-4)
    return float(sum(p for x, p in zip(points, probs) if x[decision] == value))


# -- the controller ------------------------------------------------------------
def test_sampled_log_prob_matches_teacher_forced_pass():
    c = Controller((5, 1, 3, 2), units=16, rng=np.random.default_rng(0))
    draws = c.sample(np.random.default_rng(1), 8)
    choices = [d[0] for d in draws]
    for ch in choices:
        assert ch[1] == 0 and all(0 <= x < n for x, n in zip(ch, (5, 1, 3, 2)))
    log_prob, entropy = c.log_probs_and_entropy(choices)
    np.testing.assert_allclose(log_prob, [d[1] for d in draws], rtol=1e-5)
    assert np.all(entropy > 0) and np.all(entropy <= math.log(5) + math.log(3) + math.log(2))


def test_probabilities_sum_to_one_and_zero_weights_are_uniform():
    num_choices = (3, 2, 4)
    c = Controller(num_choices, units=16, rng=np.random.default_rng(0))
    points = list(itertools.product(*(range(n) for n in num_choices)))
    assert math.isclose(np.exp(c.log_probs_and_entropy(points)[0]).sum(), 1.0, rel_tol=1e-5)
    c.weights = [np.zeros_like(w) for w in c.weights]
    log_prob, entropy = c.log_probs_and_entropy(points)
    np.testing.assert_allclose(log_prob, -math.log(24), rtol=1e-6)
    np.testing.assert_allclose(entropy, math.log(24), rtol=1e-6)


def test_sampling_inverts_the_cdf_deterministically():
    c = Controller((4, 4), units=16, rng=np.random.default_rng(0))
    c.weights = [np.zeros_like(w) for w in c.weights]  # uniform: u in [k/4, (k+1)/4) -> k

    class FixedUniforms:
        def __init__(self, values):
            self.values = np.asarray(values, np.float64)

        def random(self, shape):
            return self.values.reshape(shape)

    draws = c.sample(FixedUniforms([[0.0, 0.2499], [0.25, 0.74], [0.76, 0.9999]]), 3)
    assert [d[0] for d in draws] == [(0, 0), (1, 2), (3, 3)]
    a = Controller((4, 4), units=16, rng=np.random.default_rng(5))
    b = Controller((4, 4), units=16, rng=np.random.default_rng(5))
    assert a.sample(np.random.default_rng(9), 20) == b.sample(np.random.default_rng(9), 20)


def test_temperature_and_tanh_clipping_bound_the_logits():
    c = Controller((5,), units=16, rng=np.random.default_rng(0), tanh_constant=1.0)
    c.weights[4][:] = [100.0, 0, 0, 0, 0]  # head bias: choice 0 dominates without clipping
    p = np.exp(c.log_probs_and_entropy([[0]])[0][0])
    assert math.isclose(p, math.e / (math.e + 4 * math.exp(math.tanh(0.0))), rel_tol=1e-2)
    hot = Controller((5,), units=16, rng=np.random.default_rng(0), temperature=1e6)
    hot.weights[4][:] = [100.0, 0, 0, 0, 0]
    assert math.isclose(np.exp(hot.log_probs_and_entropy([[0]])[0][0]), 0.2, rel_tol=1e-3)


def _sgd_step(c, grads, lr=1e-2):
    c.weights = [w - lr * g for w, g in zip(c.weights, grads)]


@pytest.mark.parametrize("ppo", [False, True])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_policy_gradient_moves_the_sampled_choices_the_right_way(ppo, sign):
    c = Controller((3, 3), units=16, rng=np.random.default_rng(0))
    choices = [(2, 1)]
    before = c.log_probs_and_entropy(choices)[0][0]
    old = [float(before)] if ppo else None  # ratio 1: inside the clip range
    _, grads = c.loss_and_grads(choices, [sign], entropy_weight=0.0, old_log_probs=old)
    _sgd_step(c, grads)
    after = c.log_probs_and_entropy(choices)[0][0]
    assert (after - before) * sign > 0


def test_ppo_clips_a_ratio_that_already_moved_far_enough():
    c = Controller((3, 3), units=16, rng=np.random.default_rng(0))
    choices = [(2, 1)]
    log_prob = float(c.log_probs_and_entropy(choices)[0][0])
    # ratio = e^0.5 > 1 + 0.2 with a positive advantage: no gradient.
    _, grads = c.loss_and_grads(choices, [1.0], entropy_weight=0.0,
                                old_log_probs=[log_prob - 0.5], clip=0.2)
    assert all(np.all(g == 0) for g in grads)
    # the same ratio with a negative advantage is not clipped (pessimistic bound).
    _, grads = c.loss_and_grads(choices, [-1.0], entropy_weight=0.0,
                                old_log_probs=[log_prob - 0.5], clip=0.2)
    assert any(np.any(g != 0) for g in grads)


def test_entropy_bonus_raises_entropy():
    c = Controller((4, 4), units=16, rng=np.random.default_rng(0))
    c.weights[4][:] = np.linspace(-2, 2, 8)  # a peaked policy
    points = list(itertools.product(range(4), range(4)))
    before = c.log_probs_and_entropy(points)[1][0]
    _, grads = c.loss_and_grads([(0, 0)], [0.0], entropy_weight=1.0)
    _sgd_step(c, grads)
    assert c.log_probs_and_entropy(points)[1][0] > before


def test_adam_matches_tf_keras_adam():
    import tensorflow as tf
    import tf_keras

    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4)).astype(np.float32)
    grads = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(5)]
    ours = [w0.copy()]
    adam = Adam([w0.shape], lr=0.01)
    var = tf.Variable(w0)
    reference = tf_keras.optimizers.Adam(learning_rate=0.01, epsilon=1e-8)
    for g in grads:
        adam.apply(ours, [g])
        reference.apply_gradients([(tf.constant(g), var)])
    np.testing.assert_allclose(ours[0], var.numpy(), rtol=1e-4, atol=1e-6)
    assert adam.step == 5


def test_clip_by_global_norm():
    grads = [np.array([3.0], np.float32), np.array([4.0], np.float32)]
    clipped = clip_by_global_norm(grads, 1.0)
    np.testing.assert_allclose([clipped[0][0], clipped[1][0]], [0.6, 0.8], rtol=1e-6)
    assert clip_by_global_norm(grads, None) is grads
    assert clip_by_global_norm(grads, 10.0) is grads


# -- the strategy: learning ------------------------------------------------------
@pytest.mark.parametrize("options", [
    dict(),
    dict(preset="reinforce"),
    dict(preset="reinforce", batch_size=4, learning_rate=0.03),
    dict(algorithm="ppo", batch_size=4, ppo_epochs=4, learning_rate=0.02),
    dict(preset="nas_rl", learning_rate=0.01, units=16),
], ids=["default-ppo", "reinforce", "reinforce-batched", "ppo", "nas_rl-cube"])
def test_a_reward_only_the_first_choice_earns_raises_its_probability(options):
    # On-policy draws (max_resamples=0): novelty seeking would exhaust 9 points.
    s = _make((3, 3), seed=1, max_resamples=0, **options)
    before = _marginal(s, 0, 0)
    for _ in range(60):
        p = s.ask()
        s.tell(p, 0.9 if p.choices[0] == 0 else 0.5)
    after = _marginal(s, 0, 0)
    assert s.num_updates > 0
    assert after > before + 0.2, (before, after)
    # The second decision earns nothing: it stays far from deterministic.
    assert max(_marginal(s, 1, v) for v in range(3)) < 0.9


def test_baseline_is_updated_after_the_advantage_and_uses_the_transformed_reward():
    s = _make((3, 3), preset="reinforce", baseline_decay=0.5, reward_transform="cube",
              normalize_advantages=False)  # an update on every tell
    p = s.ask()
    assert s.baseline is None
    s.tell(p, 0.5)
    assert s.baseline == pytest.approx(0.125)  # bias-corrected EMA of one value
    assert s.num_updates == 0  # the first reward has nothing to compare with
    p = s.ask()
    s.tell(p, 1.0)
    assert s.num_updates == 1
    assert s._buffer == []
    # EMA: 0.5 * (0.5 * 0.125) + 0.5 * 1.0, bias-corrected by 1 - 0.5 ** 2.
    assert s.baseline == pytest.approx((0.25 * 0.125 + 0.5) / 0.75)


def test_advantage_is_reward_minus_baseline_before_the_update():
    s = _make((3, 3), baseline_decay=0.9, normalize_advantages=False, batch_size=10)
    for reward in (0.2, 0.6):
        s.tell(s.ask(), reward)
    assert s._buffer[0][1] == pytest.approx(0.6 - 0.2)
    s = _make((3, 3), baseline_decay=0.9, normalize_advantages=True, batch_size=10)
    for reward in (0.2, 0.6):
        s.tell(s.ask(), reward)
    # divided by the std of all rewards so far (0.2).
    assert s._buffer[0][1] == pytest.approx(0.4 / 0.2)


def test_failed_trials_are_counted_and_skipped_or_penalised():
    s = _make((3, 3), preset="reinforce")  # an update on every tell
    for reward in (0.5, None, 0.7, float("nan")):
        s.tell(s.ask(), reward)
    assert s.num_failed == 2 and s.num_updates == 1
    s = _make((3, 3), preset="reinforce", failure_reward=0.0)
    for reward in (0.5, None, 0.7):
        s.tell(s.ask(), reward)
    assert s.num_failed == 1 and s.num_updates == 2


def test_asks_run_ahead_and_tells_arrive_out_of_order():
    for algorithm in ("reinforce", "ppo"):
        s = _make((4, 4, 4), algorithm=algorithm, batch_size=3)
        proposals = [s.ask() for _ in range(7)]
        for i, p in enumerate(reversed(proposals)):
            s.tell(p, 0.1 * i)
        assert s.pending == [] and s._asked_log_prob == {}
        assert s.num_updates == 2 and len(s._buffer) == 0
        with pytest.raises(ValueError, match="has not asked"):
            s.tell(proposals[0], 0.3)


def test_resampling_avoids_repeats_in_a_tiny_space():
    s = _make((2, 2), max_resamples=20)
    seen = [s.ask().choices for _ in range(4)]
    assert len(set(seen)) == 4
    s = _make((2,), max_resamples=0, seed=3)
    assert len({s.ask().choices for _ in range(30)}) == 2  # repeats allowed, still valid


def test_a_collapsed_policy_still_proposes_new_points_until_the_space_is_exhausted():
    s = _make((3, 3), max_resamples=4)
    s._controller.weights[4][:] = [30.0, 0, 0, 30.0, 0, 0]  # head bias: P((0, 0)) ~ 1
    assert s.probabilities([(0, 0)])[0] > 0.999
    seen = [s.ask().choices for _ in range(9)]
    assert sorted(seen) == sorted(itertools.product(range(3), range(3)))
    assert seen[0] == (0, 0)
    assert s.ask().choices in seen  # exhausted: a repeat, still valid
    # PPO's behaviour log-probability is that of the flattened policy that drew it.
    assert all(lp <= 0.0 for lp in s._asked_log_prob.values())
    s = _make((3, 3), max_resamples=0)
    s._controller.weights[4][:] = [30.0, 0, 0, 30.0, 0, 0]
    assert {s.ask().choices for _ in range(5)} == {(0, 0)}


def test_flattened_sampling_reports_the_flattened_log_probability():
    c = Controller((4,), units=16, rng=np.random.default_rng(0))
    c.weights = [np.zeros_like(w) for w in c.weights]  # h = 0: the logits are the head bias
    c.weights[4][:] = [4.0, 0.0, 0.0, 0.0]
    for flatten in (1.0, 4.0):
        logits = np.array([4.0, 0, 0, 0]) / flatten
        log_p = logits - np.log(np.exp(logits).sum())
        for choices, log_prob in c.sample(np.random.default_rng(0), 20, flatten=flatten):
            assert log_prob == pytest.approx(log_p[choices[0]], rel=1e-5)


@pytest.mark.parametrize("preset", sorted(rl_controller.PRESETS))
def test_every_preset_runs(preset):
    s = strategies.make("rl", CategoricalSpace((3, 3)), seed=0, preset=preset, units=16)
    assert s.config.algorithm == rl_controller.PRESETS[preset].algorithm
    for i in range(12):
        s.tell(s.ask(), 0.5 + 0.01 * i)
    assert s.num_updates >= 1


def test_the_priority_queue_keeps_the_k_best_distinct_architectures():
    s = _make((4, 4), priority_queue_size=3, max_resamples=0, seed=2)
    told = []
    for reward in (0.1, 0.9, 0.4, 0.8, 0.2, 0.95):
        p = s.ask()
        s.tell(p, reward)
        told.append((p.choices, reward))
    best = sorted({c: r for c, r in reversed(told)}.items(), key=lambda cr: -cr[1])[:3]
    assert s._queue == best
    state = json.loads(json.dumps(s.get_state()))
    assert state["algorithm"]["queue"] == [[list(c), r] for c, r in best]


def test_maximum_likelihood_on_the_queue_raises_its_probability():
    c = Controller((3, 3), units=16, rng=np.random.default_rng(0))
    best = [(2, 1), (2, 2)]
    before = c.log_probs_and_entropy(best)[0]
    loss, entropy, grads = c.update_terms([(0, 0)], [0.0], entropy_weight=0.0,
                                          ml_choices=best, ml_weight=1.0)
    assert loss == pytest.approx(-float(np.mean(before)), rel=1e-5)
    assert entropy == pytest.approx(float(c.log_probs_and_entropy([(0, 0)])[1][0]), rel=1e-5)
    _sgd_step(c, grads, lr=0.1)
    assert np.all(c.log_probs_and_entropy(best)[0] > before)
    # Weight 0: the queue rows change nothing.
    _, plain = c.loss_and_grads([(0, 0)], [0.5], entropy_weight=0.0)
    _, _, weighted = c.update_terms([(0, 0)], [0.5], entropy_weight=0.0, ml_choices=best,
                                    ml_weight=0.0)
    for a, b in zip(plain, weighted):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_rank_advantages_are_centred_ranks_within_the_batch():
    assert rl_controller.RLStrategy._ranks([0.3, 0.1, 0.9]) == [0.0, -1.0, 1.0]
    assert rl_controller.RLStrategy._ranks([0.5, 0.2, 0.5, 0.1]) == pytest.approx(
        [2 / 3, -1 / 3, 2 / 3, -1.0])  # the tied pair shares ranks 2 and 3
    s = _make((3, 3), advantage="rank", batch_size=4)
    for reward in (0.2, 0.6, 0.4):
        s.tell(s.ask(), reward)
    # Rewards wait for their batch (even the first: a rank needs no baseline).
    assert [b[1] for b in s._buffer] == [0.2, 0.6, 0.4] and s.num_updates == 0
    s.tell(s.ask(), 100.0)  # the scale of a reward does not matter, only its rank
    assert s.num_updates == 1 and s._buffer == []


def test_options_added_later_are_saved_only_when_on():
    options = _make((3, 3)).get_state()["options"]
    assert not {"advantage", "priority_queue_size", "priority_queue_weight"} & set(options)
    on = _make((3, 3), priority_queue_size=4, advantage="rank", batch_size=2)
    assert {"advantage": "rank", "priority_queue_size": 4}.items() <= on.get_state()[
        "options"].items()


def test_a_state_with_a_longer_priority_queue_is_refused():
    s = _make((3, 3), priority_queue_size=2)
    for reward in (0.1, 0.2, 0.3):
        s.tell(s.ask(), reward)
    state = json.loads(json.dumps(s.get_state()))
    state["algorithm"]["queue"].append([[0, 0], 0.0])
    with pytest.raises(ValueError, match="3 architectures in its priority queue, more than "
                                         "priority_queue_size=2"):
        _make((3, 3), priority_queue_size=2).set_state(state)


# -- the strategy: state ---------------------------------------------------------
def _drive(s, steps, rng, outstanding=3):
    """Asks ahead (``outstanding`` at a time), tells in a shuffled order, some failures."""
    history = []
    queue = [p for p in s.pending]
    for _ in range(steps):
        while len(queue) < outstanding:
            queue.append(s.ask())
        p = queue.pop(int(rng.integers(len(queue))))
        reward = None if rng.random() < 0.1 else float(sum(p.choices) % 5) / 5.0
        s.tell(p, reward)
        history.append((p.id, p.choices, reward))
    return history


@pytest.mark.parametrize("options", [
    dict(),
    dict(algorithm="ppo", batch_size=4, ppo_epochs=3),
    dict(preset="enas", units=16),
    dict(algorithm="ppo", batch_size=3, advantage="rank", priority_queue_size=4),
], ids=["default", "ppo", "enas", "ppo-rank-queue"])
def test_resume_from_json_state_continues_exactly(options):
    num_choices = (3, 4, 2, 5)
    full = _make(num_choices, seed=7, **options)
    expected = _drive(full, 40, np.random.default_rng(0))

    first = _make(num_choices, seed=7, **options)
    driver = np.random.default_rng(0)
    got = _drive(first, 23, driver)
    state = json.loads(json.dumps(first.get_state()))
    assert state["algorithm"]["buffer"] or options.get("algorithm") != "ppo"
    resumed = _make(num_choices, seed=123, **options)  # the seed comes from the state
    resumed.set_state(state)
    got += _drive(resumed, 17, driver)
    assert got == expected
    for a, b in zip(full._controller.weights, resumed._controller.weights):
        np.testing.assert_array_equal(a, b)
    assert json.dumps(full.get_state()) == json.dumps(resumed.get_state())


def test_state_round_trips_float32_weights_exactly():
    s = _make((3, 3))
    for i in range(5):
        s.tell(s.ask(), 0.1 * i)
    state = json.loads(json.dumps(s.get_state()))
    other = _make((3, 3))
    other.set_state(state)
    for a, b in zip(s._controller.weights + s._optimizer.m + s._optimizer.v,
                    other._controller.weights + other._optimizer.m + other._optimizer.v):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert other._optimizer.step == s._optimizer.step


def test_state_with_other_options_or_space_is_refused():
    s = _make((3, 3), learning_rate=0.01)
    state = json.loads(json.dumps(s.get_state()))
    with pytest.raises(ValueError, match="options"):
        _make((3, 3), learning_rate=0.02).set_state(state)
    with pytest.raises(ValueError, match="space"):
        _make((3, 4), learning_rate=0.01).set_state(state)
    with pytest.raises(ValueError, match="belongs to strategy 'rl'"):
        strategies.make("random", CategoricalSpace((3, 3)), seed=0).set_state(state)


def test_malformed_state_is_refused_and_leaves_the_strategy_unchanged():
    s = _make((3, 3))
    s.tell(s.ask(), 0.5)
    state = json.loads(json.dumps(s.get_state()))
    before = json.dumps(s.get_state())
    bad = json.loads(json.dumps(state))
    bad["algorithm"]["weights"][0] = [[0.0]]
    with pytest.raises(ValueError, match="shape"):
        s.set_state(bad)
    bad = json.loads(json.dumps(state))
    del bad["algorithm"]["adam"]
    with pytest.raises(ValueError, match="adam"):
        s.set_state(bad)
    assert json.dumps(s.get_state()) == before


# -- bad options -----------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    (dict(algorithm="a2c"), "unknown algorithm 'a2c'"),
    (dict(reward_transform="square"), "unknown reward_transform 'square'"),
    (dict(preset="zoph"), "unknown preset 'zoph'"),
    (dict(learning_rate=-0.1), r"learning_rate must be in \(0.0, inf\), got -0.1"),
    (dict(learning_rate=0.0), r"learning_rate must be .*got 0.0"),
    (dict(learning_rate="fast"), "learning_rate must be a number, got 'fast'"),
    (dict(learning_rate=float("nan")), "learning_rate must be .*got nan"),
    (dict(entropy_weight=-1e-4), "entropy_weight must be .*got -0.0001"),
    (dict(baseline_decay=1.5), "baseline_decay must be .*got 1.5"),
    (dict(baseline_decay=1.0), "baseline_decay must be < 1, got 1.0"),
    (dict(units=0), "units must be an int >= 1, got 0"),
    (dict(units=2.5), "units must be an int >= 1, got 2.5"),
    (dict(batch_size=0), "batch_size must be an int >= 1, got 0"),
    (dict(ppo_epochs=True), "ppo_epochs must be an int >= 1, got True"),
    (dict(ppo_clip=0.0), "ppo_clip must be .*got 0.0"),
    (dict(temperature=-1.0), "temperature must be .*got -1.0"),
    (dict(tanh_constant=0.0), "tanh_constant must be .*got 0.0"),
    (dict(grad_clip_norm=-5.0), "grad_clip_norm must be .*got -5.0"),
    (dict(failure_reward="zero"), "failure_reward must be a number, got 'zero'"),
    (dict(normalize_advantages="yes"), "normalize_advantages must be a bool, got 'yes'"),
    (dict(max_resamples=-1), "max_resamples must be an int >= 0, got -1"),
    (dict(advantage="gae"), "unknown advantage 'gae'; known: \\['baseline', 'rank'\\]"),
    (dict(advantage="rank", batch_size=1), "batch_size must be >= 2, got 1"),
    (dict(priority_queue_size=-1), "priority_queue_size must be an int >= 0, got -1"),
    (dict(priority_queue_size=2.0), "priority_queue_size must be an int >= 0, got 2.0"),
    (dict(priority_queue_weight=-0.5), "priority_queue_weight must be .*got -0.5"),
])
def test_bad_options_raise_value_errors_naming_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        _make((3, 3), **options)


def test_unknown_option_is_refused_by_make():
    with pytest.raises(ValueError, match="lstm_layers"):
        _make((3, 3), lstm_layers=2)


def test_options_accept_numpy_scalars_and_stay_json_serialisable():
    s = _make((3, 3), learning_rate=np.float32(0.01), batch_size=np.int64(2))
    json.dumps(s.get_state())
    assert isinstance(s.config.batch_size, int)


def test_diagnostics_report_the_last_update_for_tensorboard():
    s = strategies.make("rl", CategoricalSpace((3, 3)), seed=0)
    assert s.diagnostics() == {"updates": 0.0}
    # The default's first update: one PPO batch (the first reward only starts the baseline).
    for _ in range(s.config.batch_size + 1):
        p = s.ask()
        s.tell(p, float(p.choices[0] == 0))
    d = s.diagnostics()
    assert d["updates"] == s.num_updates >= 1 and set(d) == {"loss", "entropy", "baseline", "updates"}
    assert 0.0 < d["entropy"] <= 2 * np.log(3) + 1e-6
