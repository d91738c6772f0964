"""early_stopping: the promotion rule against Optuna's, the rungs, the driver's book, and
early stopping through the search driver in this process (the Ray path is in
test_ray_executor.py, the kill-and-resume paths in test_scheduler.py and test_resume_kill.py)."""

from __future__ import annotations

import random

import pytest

from search_cifar import objectives, scheduler, strategies
from search_cifar.early_stopping import (EarlyStopping, PromotionRule, RungBook,
                                         check_evaluator, geometric_rungs)
from search_cifar.evaluator import Result, from_function
from search_cifar.executors import InProcessExecutor, RungReporter
from search_cifar.synthetic import SyntheticEvaluator
from search_cifar.trial_store import RungDecision, RungRecord, TrialStore

SMALL_OPS = ("sep_conv_3x3", "max_pool_3x3", "identity")


def curves(epochs=9, seed=0, num_blocks=2):
    base = objectives.NasnetCellObjective(num_blocks=num_blocks, ops=SMALL_OPS, seed=seed,
                                          threshold_samples=1000)
    return objectives.LearningCurveObjective(base, epochs=epochs, seed=seed)


# -- the rule ------------------------------------------------------------------------------
@pytest.mark.parametrize("min_epochs,eta,epochs", [(1, 3, 9), (1, 2, 8), (2, 3, 20), (1, 4, 30)])
def test_the_rule_takes_optunas_decisions_on_interleaved_learning_curves(min_epochs, eta, epochs):
    """Optuna's SuccessiveHalvingPruner and PromotionRule see the same reports, in the same
    interleaved order (several children running at once), and decide alike at every one."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.SuccessiveHalvingPruner(
        min_resource=min_epochs, reduction_factor=eta))
    rungs = geometric_rungs(min_epochs, eta, epochs)
    book = RungBook(EarlyStopping(rungs=rungs, max_epochs=epochs, reduction_factor=eta))
    rng = random.Random(epochs * 100 + eta)
    running: dict[int, tuple] = {}  # id -> (optuna trial, curve, next epoch)
    decisions = stops = 0
    for trial_id in range(120):
        # Values on a coarse grid, so that ties happen too.
        final, speed = rng.random(), rng.uniform(0.5, 4.0)
        curve = [round(final * (1 - 0.9 ** (e * speed)), 2) for e in range(1, epochs + 1)]
        running[trial_id] = (study.ask(), curve, 1)
        book.start(trial_id, f"k{trial_id}")
        while len(running) >= 4 or (trial_id == 119 and running):
            tid = rng.choice(sorted(running))  # one epoch of a random running child
            trial, curve, epoch = running[tid]
            value = curve[epoch - 1]
            if epoch == epochs:  # finished: nothing is decided at the top rung
                study.tell(trial, value)
                del running[tid]
                continue
            trial.report(value, epoch)
            pruned = trial.should_prune()
            go_on = book.decide(tid, epoch, [{"val_accuracy": v} for v in curve[:epoch]])
            assert go_on == (not pruned), (tid, epoch, value)
            decisions += epoch in rungs
            if pruned:
                stops += 1
                study.tell(trial, state=TrialState.PRUNED)
                del running[tid]
            else:
                running[tid] = (trial, curve, epoch + 1)
    assert decisions > 100 and 20 < stops < decisions


def test_the_rule_promotes_the_top_third_and_stops_non_finite_values():
    rule = PromotionRule(num_rungs=1, reduction_factor=3)
    # The first value continues; until 3 have arrived only a new best continues.
    assert [rule.decide(0, v) for v in (0.5, 0.4, 0.6)] == [True, False, True]
    # With 4 or 5 values, the best continues; with 6 or 7, the top 2.
    assert [rule.decide(0, v) for v in (0.45, 0.55, 0.7, 0.65)] == [False, False, True, True]
    assert rule.decide(0, 0.62) is False  # 8 values: below the second best
    assert rule.decide(0, float("nan")) is False and rule.decide(0, None) is False
    assert len(rule.values[0]) == 8  # not recorded
    with pytest.raises(ValueError, match="reduction_factor must be an int >= 2, got 1"):
        PromotionRule(num_rungs=1, reduction_factor=1)


def test_rungs_and_their_errors():
    assert geometric_rungs(1, 3, 9) == (1, 3)
    assert geometric_rungs(1, 3, 10) == (1, 3, 9)
    assert geometric_rungs(2, 2, 20) == (2, 4, 8, 16)
    assert geometric_rungs(5, 3, 5) == ()
    es = EarlyStopping(rungs=[1, 3], max_epochs=9)
    assert es.rungs == (1, 3) and es.ladder == (1, 3, 9)
    assert [es.rung_of(e) for e in (0, 1, 2, 3, 8, 9)] == [None, 0, 0, 1, 1, 2]
    assert es.reward([{"val_accuracy": 0.25}, {"val_accuracy": 0.5}]) == 0.5
    with pytest.raises(ValueError, match=r"rungs must be increasing, got \[3, 1\]"):
        EarlyStopping(rungs=(3, 1), max_epochs=9)
    with pytest.raises(ValueError, match=r"rungs must be increasing, got \[1, 1\]"):
        EarlyStopping(rungs=(1, 1), max_epochs=9)
    with pytest.raises(ValueError, match=r"rung\(s\) \[9, 27\] are not below max_epochs=9"):
        EarlyStopping(rungs=(1, 9, 27), max_epochs=9)
    with pytest.raises(ValueError, match="reduction_factor must be an int >= 2, got 1"):
        EarlyStopping(rungs=(1,), max_epochs=9, reduction_factor=1)
    with pytest.raises(ValueError, match=r"rungs must be epochs \(ints >= 1\), got \[0, 3\]"):
        EarlyStopping(rungs=(0, 3), max_epochs=9)
    with pytest.raises(ValueError, match="rungs must be a non-empty list of epochs, got \\(\\)"):
        EarlyStopping(rungs=(), max_epochs=9)
    with pytest.raises(ValueError, match="max_epochs must be an int >= 1, got 0"):
        EarlyStopping(rungs=(1,), max_epochs=0)
    with pytest.raises(ValueError, match="reward_from_history must be callable, got 3"):
        EarlyStopping(rungs=(1,), max_epochs=9, reward_from_history=3)
    with pytest.raises(ValueError, match="min_epochs must be an int >= 1, got 0"):
        geometric_rungs(0, 3, 9)


# -- the book -------------------------------------------------------------------------------
def test_a_rung_compares_rewards_so_a_cheap_child_is_not_stopped_for_its_accuracy():
    """With a cost factor in the reported epochs (a cost-aware reward), the value at a rung
    is the reward the child would get: a cheap child with a lower accuracy continues where
    comparing accuracies would stop it, and the recorded value is the reward."""
    def book():
        b = RungBook(EarlyStopping(rungs=(1,), max_epochs=3, reduction_factor=2))
        for i, accuracy in enumerate((0.8, 0.7)):  # two expensive children first
            b.start(i, f"expensive{i}")
            b.decide(i, 1, [{"val_accuracy": accuracy, "reward_factor": 0.5}])
        b.start(9, "cheap")
        return b

    by_reward = book()
    assert by_reward.decide(9, 1, [{"val_accuracy": 0.6, "reward_factor": 1.0}]) is True
    assert by_reward.running[9].decisions[-1].value == pytest.approx(0.6)
    assert by_reward.rule.values[0] == pytest.approx([0.4, 0.35, 0.6])
    by_accuracy = RungBook(EarlyStopping(rungs=(1,), max_epochs=3, reduction_factor=2))
    for i, accuracy in enumerate((0.8, 0.7, 0.6)):  # no factor: the accuracies compete
        by_accuracy.start(i, str(i))
        stopped = not by_accuracy.decide(i, 1, [{"val_accuracy": accuracy}])
    assert stopped
    assert by_reward.rung_value([]) is None
    assert by_reward.rung_value([{"val_accuracy": 0.5, "reward_factor": "x"}]) is None
    assert by_reward.rung_value([{"loss": 1.0}]) is None
    assert by_reward.rung_value([{"val_accuracy": True}]) is None


def test_the_book_persists_every_decision_replays_a_resumed_child_and_gives_its_fidelity(tmp_path):
    store = TrialStore(str(tmp_path))
    book = RungBook(EarlyStopping(rungs=(1, 3), max_epochs=9), store)
    book.start(0, "a")
    assert book.decide(0, 1, [{"val_accuracy": 0.5}]) is True
    assert book.decide(0, 2, [{"val_accuracy": 0.5}] * 2) is True  # not a rung: not recorded
    saved = store.load_rungs()[0]
    assert saved.key == "a" and saved.decisions == (RungDecision(1, 0.5, "continue"),)
    assert book.decide(0, 3, [{"val_accuracy": v} for v in (0.5, 0.6, 0.7)]) is True
    fidelity = book.finish(0, Result(0.8, {"epochs_completed": 9}))
    assert (fidelity.epochs, fidelity.rung, fidelity.stopped_early) == (9, 2, False)
    assert [d.epoch for d in fidelity.decisions] == [1, 3] and fidelity.full
    book.forget(0)
    assert store.load_rungs() == {}

    book.start(1, "b")  # a NaN at the first rung stops the child; the value is not recorded
    assert book.decide(1, 1, [{"val_accuracy": float("nan")}]) is False
    assert book.decide(1, 3, [{"val_accuracy": 0.9}] * 3) is False  # stopped stays stopped
    fidelity = book.finish(1, Result(0.1))  # no epochs_completed: the stop's epoch
    assert (fidelity.epochs, fidelity.rung, fidelity.stopped_early) == (1, 0, True)
    assert fidelity.decisions == (RungDecision(1, None, "stop"),)
    assert book.rule.values == [[0.5], [0.7]]
    assert book.decide(99, 1, [{"val_accuracy": 1.0}]) is False  # not a running child

    # A resumed child: its values count once, its decisions replay.
    resumed = RungBook(EarlyStopping(rungs=(1, 3), max_epochs=9), store)
    record = RungRecord(trial=2, key="c", decisions=(RungDecision(1, 0.2, "continue"),),
                        history=({"val_accuracy": 0.2},))
    resumed.resume(record)
    resumed.start(2, "c")  # keeps the restored record
    assert resumed.decide(2, 1, [{"val_accuracy": 0.1}]) is True  # replayed, not re-judged
    assert resumed.rule.values == [[0.2], []]
    with pytest.raises(ValueError, match=r"has decisions at epochs \[2\], which are not rungs"):
        resumed.resume(RungRecord(trial=3, key="d", decisions=(RungDecision(2, 0.2, "stop"),)))

    # A child stopped at a rung before a kill is recorded from its rung record.
    stopped = RungRecord(trial=4, key="e", decisions=(RungDecision(1, 0.3, "stop"),),
                         history=({"epoch": 1, "val_accuracy": 0.3},))
    resumed.resume(stopped)
    result = resumed.recovered_result(4)
    assert result.reward == 0.3 and result.metrics["epochs_completed"] == 1
    assert result.metrics["stopped_early"] and result.metrics["recovered_from_rung_record"]
    broken = RungRecord(trial=5, key="f", decisions=(RungDecision(1, 0.3, "stop"),))
    resumed.resume(broken)  # no history: a failed trial, not a crash
    assert "cannot take the reward" in resumed.recovered_result(5).error


def test_the_rung_reporter_asks_only_at_rungs_and_stays_stopped():
    asked = []

    def ask(epoch, history):
        asked.append((epoch, len(history)))
        return epoch < 3

    report = RungReporter((1, 3), ask)
    assert [report(e, {"val_accuracy": 0.1 * e}) for e in (1, 2, 3, 4)] == [True, True, False,
                                                                          False]
    assert asked == [(1, 1), (3, 3)]
    assert report.history[1] == {"val_accuracy": 0.2}


def test_check_evaluator_refuses_what_has_no_epochs():
    es = EarlyStopping(rungs=(1, 3), max_epochs=9)
    check_evaluator(curves(epochs=9), es)
    check_evaluator(object(), es)  # unknown epochs (a CachedEvaluator): the config's word
    with pytest.raises(ValueError, match="a plain function .* has none"):
        check_evaluator(from_function(lambda c: 0.5), es)
    with pytest.raises(ValueError, match="NasnetCellObjective has none"):
        check_evaluator(objectives.NasnetCellObjective(num_blocks=2, ops=SMALL_OPS), es)
    with pytest.raises(ValueError, match="set for 9 epochs, but LearningCurveObjective trains 5"):
        check_evaluator(curves(epochs=5), es)


# -- through the driver ------------------------------------------------------------------------
def test_a_search_with_early_stopping_records_fidelity_and_saves_epochs(tmp_path):
    obj = curves(epochs=9)
    told = []
    strategy = strategies.make("evolution", obj.space, seed=0, population_size=6,
                               tournament_size=2)
    tell = strategy.tell
    strategy.tell = lambda p, r: (told.append((p.id, r)), tell(p, r))[1]
    es = EarlyStopping(rungs=(1, 3), max_epochs=9)
    result = scheduler.run_in_process(strategy, obj, budget=30, workdir=str(tmp_path),
                                      early_stopping=es)
    evaluated = result.evaluated
    assert len(evaluated) == 30
    for t in evaluated:
        f = t.fidelity
        assert f.max_epochs == 9 and f.epochs in (1, 3, 9) and f.rung == es.rung_of(f.epochs)
        assert f.stopped_early == (f.epochs < 9) == (f.decisions[-1].decision == "stop")
        assert [d.epoch for d in f.decisions] == [e for e in (1, 3) if e <= f.epochs]
        # The reward is the value at the rung where the child stopped, as told.
        assert t.reward == obj.curve(t.choices)[f.epochs - 1]
        assert t.metrics["epochs_completed"] == f.epochs
    # The strategy was told each child's reward once, at whatever rung it stopped.
    assert sorted(told) == sorted((t.id, t.reward) for t in result.trials)
    stopped = [t for t in evaluated if t.fidelity.stopped_early]
    assert 10 < len(stopped) < 30
    assert sum(t.fidelity.epochs for t in evaluated) < 0.7 * 9 * 30
    # Every decision is persisted with the record; no rung record is left behind.
    records = TrialStore(str(tmp_path)).load_trials()
    assert all(records[t.id].fidelity == t.fidelity for t in evaluated)
    assert TrialStore(str(tmp_path)).load_rungs() == {}
    # Without early stopping the records carry no fidelity, as before.
    plain = scheduler.run_in_process(strategies.make("random", obj.space, seed=0), obj, budget=3)
    assert all(t.fidelity is None and t.metrics["epochs_completed"] == 9 for t in plain.trials)


def test_early_stopping_errors_before_anything_is_written(tmp_path):
    obj = curves(epochs=9)
    es = EarlyStopping(rungs=(1, 3), max_epochs=9)
    workdir = tmp_path / "w"

    def run(objective, early_stopping=es, executor=None):
        strategy = strategies.make("random", obj.space, seed=0)
        if executor is None:
            return scheduler.run_in_process(strategy, objective, 3, workdir=str(workdir),
                                            early_stopping=early_stopping)
        return scheduler.run(strategy, objective, 3, executor, early_stopping=early_stopping)

    with pytest.raises(ValueError, match="a plain function"):
        run(lambda choices: 0.5)
    with pytest.raises(ValueError, match="NasnetCellObjective has none"):
        run(obj.base)
    with pytest.raises(ValueError, match="must be an early_stopping.EarlyStopping or None"):
        run(obj, early_stopping={"rungs": [1, 3]})

    class OldExecutor(InProcessExecutor):
        def submit(self, trial_id, evaluator, point):
            super().submit(trial_id, evaluator, point)

    with pytest.raises(ValueError, match="executor OldExecutor cannot stop children early"):
        run(obj, executor=OldExecutor())
    assert not workdir.exists()


def test_a_failure_of_the_drivers_decision_stops_the_search_in_process_too(tmp_path):
    obj = curves(epochs=9)
    es = EarlyStopping(rungs=(1, 3), max_epochs=9)
    store = TrialStore(str(tmp_path))

    def refuse(record):
        raise OSError("disk full")

    store.save_rungs = refuse
    with pytest.raises(OSError, match="disk full"):
        scheduler.run(strategies.make("random", obj.space, seed=0), obj, 3, InProcessExecutor(),
                      store=store, early_stopping=es)


def test_the_synthetic_evaluator_and_the_learning_curves():
    obj = curves(epochs=9, seed=3)
    point = obj.space.decode((0,) * len(obj.space.num_choices))
    curve = obj.curve(point)
    assert len(curve) == 9 and curve[-1] == obj.base.reward(point) == obj.evaluate(point).reward
    assert curve == obj.curve(obj.space.encode(point))  # a genotype or its choices
    assert obj.max_epochs == 9 and obj.true_value(point) == obj.base.true_value(point)
    assert obj.optimum() == obj.base.optimum()
    seen = []
    stopped = obj.evaluate(point, report=lambda e, m: seen.append(m) or e < 3)
    assert stopped.reward == curve[2] and stopped.metrics["stopped_early"]
    assert seen == [{"epoch": e, "val_accuracy": curve[e - 1]} for e in (1, 2, 3)]
    # Curves cross: the ranking after 1 epoch is not the final one.
    finals, firsts = [], []
    for i in range(40):
        c = obj.curve(obj.space.decode(tuple((i + d) % n for d, n in
                                             enumerate(obj.space.num_choices))))
        finals.append(c[-1])
        firsts.append(c[0])
    order = sorted(range(40), key=finals.__getitem__)
    assert sorted(range(40), key=firsts.__getitem__) != order
    ev = SyntheticEvaluator(num_blocks=2, ops=SMALL_OPS, epochs=9, seed=3)
    result = ev.evaluate(point, report=lambda e, m: e < 3)
    assert result.metrics["epochs_completed"] == 3 and result.metrics["stopped_early"]
    assert ev.max_epochs == 9 and len(result.metrics["history"]) == 3
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        objectives.LearningCurveObjective(obj.base, epochs=0)
    with pytest.raises(ValueError, match="tau_range must be 0 < low <= high"):
        objectives.LearningCurveObjective(obj.base, tau_range=(0.5, 0.1))
    with pytest.raises(ValueError, match="curve_noise_sd must be >= 0"):
        objectives.LearningCurveObjective(obj.base, curve_noise_sd=-1)
