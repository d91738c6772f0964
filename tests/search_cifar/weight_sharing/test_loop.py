"""The weight-sharing search end to end on a tiny supernet: phases, files, report, retraining,
exact resumes after interruptions, and bad input refused before anything is written."""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_helpers  # noqa: E402

from nasnet.genotype import Genotype  # noqa: E402
from search_cifar.weight_sharing import checkpoint as checkpoint_lib  # noqa: E402
from search_cifar.child_evaluator import ChildEvaluator  # noqa: E402
from search_cifar.weight_sharing import loop  # noqa: E402
from search_cifar.weight_sharing.loop import run_weight_sharing  # noqa: E402


class CountingRetrain:
    """The real child training, counting its calls."""

    def __init__(self):
        self.evaluator = ChildEvaluator(ws_helpers.tiny_child())
        self.genotypes = []

    def evaluate(self, genotype):
        self.genotypes.append(genotype)
        return self.evaluator.evaluate(genotype)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny search, uninterrupted, retrained with real child training."""
    workdir = str(tmp_path_factory.mktemp("ws") / "uninterrupted")
    stream = io.StringIO()
    retrainer = CountingRetrain()
    summary = run_weight_sharing(ws_helpers.tiny_config(tensorboard=True), workdir,
                                 retrain=retrainer, stream=stream)
    return workdir, summary, stream.getvalue(), retrainer


def test_the_search_runs_every_phase_and_writes_its_report(finished):
    workdir, summary, output, retrainer = finished
    config = ws_helpers.tiny_config()
    assert summary["finished"] and summary["epochs"] == 2 and summary["controller_steps"] == 4
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert all(np.isfinite(h["loss"]) and 0 <= h["accuracy"] <= 1 for h in summary["history"])
    assert summary["cpu_seconds"] > 0 and summary["replicas"] == 1
    # One progress line per epoch, with an ETA; the derivation's line.
    lines = [line for line in output.splitlines() if line.startswith("[epoch")]
    assert len(lines) == 2 and all("ETA" in line and "rewards" in line for line in lines)
    assert "entropy" in lines[0] and "derived: " in output
    # The derivation: distinct candidates, best first, all scored on the same images.
    with open(os.path.join(workdir, loop.DERIVE_JSON)) as f:
        derived = json.load(f)["candidates"]
    accuracies = [c["accuracy"] for c in derived]
    assert accuracies == sorted(accuracies, reverse=True) and 1 <= len(derived) <= 4
    assert len({c["examples"] for c in derived}) == 1
    assert len({c["fingerprint"] for c in derived}) == len(derived)
    # The report: the derived cell as the genotype JSON transfer reads, its pictures.
    best = Genotype.load(os.path.join(workdir, "report", "best_genotype.json"))
    assert best.fingerprint() == derived[0]["fingerprint"] == summary["best"]["fingerprint"]
    assert config.space().encode(best) == tuple(derived[0]["choices"])
    assert all(os.path.exists(p) for p in summary["report"]["best_cell"])
    assert "| 1 |" in open(summary["report"]["top_k"]).read()
    assert os.path.exists(summary["report"]["rewards_plot"])
    # Retraining: the real child training of exactly that cell.
    assert [g.fingerprint() for g in retrainer.genotypes] == [best.fingerprint()]
    with open(os.path.join(workdir, loop.RETRAIN_JSON)) as f:
        retrained = json.load(f)
    assert retrained["error"] is None and 0 <= retrained["reward"] <= 1
    assert retrained["metrics"]["epochs_completed"] == 1
    assert summary["retrain"]["reward"] == retrained["reward"]
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    assert ws_helpers.index(workdir)["phase"] == "done"


def test_running_a_finished_search_again_reprints_it(finished):
    workdir, summary, _, _ = finished
    retrainer = CountingRetrain()
    again = run_weight_sharing(ws_helpers.tiny_config(tensorboard=False), workdir,
                               retrain=retrainer, stream=None)
    assert retrainer.genotypes == []            # retrain.json is reused
    assert again["best"] == summary["best"] and again["retrain"] == summary["retrain"]
    assert again["history"] == summary["history"]


class Interrupt(Exception):
    pass


def _interrupt_at_save(monkeypatch, number: int) -> None:
    """The ``number``-th checkpoint save of the next run raises instead (a kill just before it)."""
    real = checkpoint_lib.SearchCheckpoint.save
    calls = []

    def save(self, index):
        calls.append(index["phase"])
        if len(calls) == number:
            raise Interrupt(f"interrupted before save {number} ({index['phase']} "
                            f"step {index['step']} of epoch {index['epoch'] + 1})")
        real(self, index)

    monkeypatch.setattr(checkpoint_lib.SearchCheckpoint, "save", save)


def _assert_same_search(workdir: str, resumed: dict, reference: str, summary: dict) -> None:
    """``workdir``'s search ended exactly as the uninterrupted one in ``reference``."""
    assert resumed["finished"] and resumed["epochs"] == 2 and resumed["controller_steps"] == 4
    keys = ("loss", "accuracy", "reward_mean", "reward_max", "step_rewards", "diagnostics",
            "learning_rate")
    for a, b in zip(resumed["history"], summary["history"]):
        assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    assert resumed["best"] == summary["best"]
    assert ws_helpers.index(workdir)["strategy"] == ws_helpers.index(reference)["strategy"]
    ours, theirs = ws_helpers.weights(workdir), ws_helpers.weights(reference)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    with open(os.path.join(workdir, loop.DERIVE_JSON)) as f, \
            open(os.path.join(reference, loop.DERIVE_JSON)) as g:
        assert json.load(f) == json.load(g)


def test_interrupted_mid_training_then_resumed_equals_uninterrupted(finished, tmp_path,
                                                                    monkeypatch):
    reference, summary, _, _ = finished
    workdir = str(tmp_path / "interrupted")
    config = ws_helpers.tiny_config(tensorboard=True)
    # Saves per epoch: training step 2 (every 2 steps), end of training (4 steps), after
    # controller step 1, end of epoch. Stop before the end-of-training save of epoch 2:
    # its training steps 3-4 are lost and redone from the checkpoint of step 2 (weights,
    # optimizer, generator, strategy, the data stream skipped to batch 3).
    _interrupt_at_save(monkeypatch, 6)
    with pytest.raises(Interrupt, match="controller step 0 of epoch 2"):
        run_weight_sharing(config, workdir, stream=None)
    assert (ws_helpers.index(workdir)["epoch"], ws_helpers.index(workdir)["step"]) == (1, 2)
    monkeypatch.undo()
    output = io.StringIO()
    resumed = run_weight_sharing(config, workdir, stream=output)
    assert "resuming at epoch 2, train step 2" in output.getvalue()
    _assert_same_search(workdir, resumed, reference, summary)


@pytest.mark.slow
def test_interrupted_anywhere_then_resumed_equals_uninterrupted(finished, tmp_path, monkeypatch):
    reference, summary, _, _ = finished
    workdir = str(tmp_path / "interrupted")
    config = ws_helpers.tiny_config(tensorboard=True)
    # Saves per epoch: training step 2 (every 2 steps), end of training (4 steps), after
    # controller step 1, end of epoch. 1) Stop before the end-of-training save of epoch 1:
    # training steps 3-4 are lost and redone.
    _interrupt_at_save(monkeypatch, 2)
    with pytest.raises(Interrupt, match="controller step 0 of epoch 1"):
        run_weight_sharing(config, workdir, stream=None)
    assert ws_helpers.index(workdir)["step"] == 2
    monkeypatch.undo()
    # 2) Resume to the end of epoch 1 (a stop at an epoch boundary).
    first = run_weight_sharing(config, workdir, stream=None, max_epochs=1)
    assert not first["finished"] and first["epochs"] == 1
    # 3) Stop before the save after controller step 1 of epoch 2: that step is redone.
    _interrupt_at_save(monkeypatch, 3)
    with pytest.raises(Interrupt, match="controller step 1 of epoch 2"):
        run_weight_sharing(config, workdir, stream=None)
    monkeypatch.undo()
    # 4) Resume to the end: the same search as the uninterrupted one, bit for bit.
    output = io.StringIO()
    resumed = run_weight_sharing(config, workdir, stream=output, retrain=None)
    assert "resuming at epoch 2, controller step 0" in output.getvalue()
    _assert_same_search(workdir, resumed, reference, summary)


@pytest.mark.slow
def test_a_float16_search_resumes_with_its_loss_scale_as_an_uninterrupted_one(tmp_path,
                                                                             monkeypatch):
    config = ws_helpers.tiny_config(**{"training.mixed_precision": "mixed_float16"})
    reference = str(tmp_path / "uninterrupted")
    summary = run_weight_sharing(config, reference, stream=None)
    keys = ws_helpers.weights(reference).keys()
    assert "optimizer/loss_scale/current_loss_scale/.ATTRIBUTES/VARIABLE_VALUE" in keys
    workdir = str(tmp_path / "interrupted")
    _interrupt_at_save(monkeypatch, 6)
    with pytest.raises(Interrupt, match="controller step 0 of epoch 2"):
        run_weight_sharing(config, workdir, stream=None)
    monkeypatch.undo()
    output = io.StringIO()
    resumed = run_weight_sharing(config, workdir, stream=output)
    assert "resuming at epoch 2, train step 2" in output.getvalue()
    _assert_same_search(workdir, resumed, reference, summary)


class FakeClock:
    """Stands in for ``loop.time``: both clocks stand still unless ``advance`` is called."""

    def __init__(self):
        self.now = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def perf_counter(self) -> float:
        return self.now

    def process_time(self) -> float:
        return self.now


def test_checkpoint_saves_count_in_the_search_seconds(tmp_path, monkeypatch):
    search = loop.WeightSharingSearch(ws_helpers.tiny_config(), str(tmp_path / "ws"),
                                      stream=None)
    clock = FakeClock()
    monkeypatch.setattr(loop, "time", clock)
    real = search.checkpoint.save

    def slow_save(index):
        real(index)
        clock.advance(7.0)

    monkeypatch.setattr(search.checkpoint, "save", slow_save)
    state = search.state
    before = state["cpu_seconds"], state["wall_seconds"], state["running"]["cpu_seconds"]
    for _ in range(3):
        assert search.save() == (clock.now, clock.now)
    assert (state["cpu_seconds"] - before[0], state["wall_seconds"] - before[1],
            state["running"]["cpu_seconds"] - before[2]) == (21.0, 21.0, 21.0)
    # What the last index on disk holds: all but the last save's own seconds.
    assert ws_helpers.index(search.workdir)["cpu_seconds"] == before[0] + 14.0


# -- bad input: refused before anything is written --------------------------------------
@pytest.mark.parametrize("overrides, message", [
    ({"supernet.num_blocks": 1, "space_num_blocks": 2},
     "the space has 2 blocks per cell, more than the supernet's 1"),
    ({"space_ops": ["sep_conv_3x3", "sep_conv_7x7"]},
     r"op\(s\) \['sep_conv_7x7'\] are not held by the supernet"),
    ({"space_num_blocks": 3}, "the space has 3 blocks per cell, more than the supernet's 2"),
    ({"controller.strategy_options": {"preset": "enas", "bogus": 1}},
     r"does not take option\(s\) \['bogus'\]"),
    ({"controller.reward_batch_size": 151}, "reward_batch_size 151 is larger than the 150"),
    ({"data.dataset": "cifar10", "data.data_dir": "/nonexistent/tfds"}, "cifar10"),
])
def test_bad_searches_are_refused_before_anything_is_written(tmp_path, overrides, message):
    workdir = str(tmp_path / "ws")
    with pytest.raises(ValueError, match=message):
        run_weight_sharing(ws_helpers.tiny_config(**overrides), workdir, stream=None)
    assert not os.path.exists(workdir)


def test_resuming_with_another_supernet_or_space_is_refused(finished, tmp_path):
    workdir = str(tmp_path / "ws")
    os.makedirs(workdir)
    with open(os.path.join(finished[0], loop.CONFIG_JSON)) as f:
        saved = f.read()
    with open(os.path.join(workdir, loop.CONFIG_JSON), "w") as f:
        f.write(saved)
    before = sorted(os.listdir(workdir))
    for overrides, message in (
            ({"supernet.out_filters": 6}, r"supernet.out_filters: 4 -> 6"),
            ({"space_ops": ["sep_conv_3x3", "identity"]}, r"space_ops: None -> \['sep_conv_3x3'"),
            ({"controller.strategy": "random", "controller.strategy_options": {}},
             "controller.strategy: 'rl' -> 'random'")):
        with pytest.raises(ValueError, match=message):
            run_weight_sharing(ws_helpers.tiny_config(**overrides), workdir, stream=None)
    assert sorted(os.listdir(workdir)) == before


def test_workdirs_that_are_not_this_kind_of_search(tmp_path):
    config = ws_helpers.tiny_config()
    stray = tmp_path / "stray"
    (stray / "checkpoints").mkdir(parents=True)
    with pytest.raises(ValueError, match="has checkpoints but no config.json"):
        loop.prepare_workdir(config, str(stray))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        loop.prepare_workdir(config, str(broken))


@pytest.mark.parametrize("kwargs, message", [
    ({"config": {"name": "x"}}, "config must be a WeightSharingConfig"),
    ({"retrain": object()}, r"retrain must have an evaluate\(genotype\) method"),
    ({"max_epochs": 0}, "max_epochs must be an int >= 1 or None"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    args = {"config": ws_helpers.tiny_config(), "workdir": str(tmp_path / "ws"), **kwargs}
    with pytest.raises(ValueError, match=message):
        run_weight_sharing(args.pop("config"), args.pop("workdir"), stream=None, **args)
    assert not os.path.exists(tmp_path / "ws")


def test_foreign_or_broken_checkpoint_indexes(tmp_path):
    ckpt = checkpoint_lib.SearchCheckpoint(str(tmp_path))
    assert ckpt.restore() is None
    (tmp_path / "index.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="cannot read the search checkpoint"):
        ckpt.read_index()
    (tmp_path / "index.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ValueError, match="is not a version-1 weight-sharing checkpoint index"):
        ckpt.read_index()


@pytest.mark.slow   # random search through the binary: test_binary.py
@pytest.mark.parametrize("strategy, options, controller_steps", [
    # Random search with weight sharing (Li & Talwalkar 2019): no controller phase at all.
    ("random", {}, 0),
    ("evolution", {"population_size": 4, "tournament_size": 2}, 2),
])
def test_random_and_evolution_search_the_same_supernet(tmp_path, strategy, options,
                                                       controller_steps):
    config = ws_helpers.tiny_config(**{
        "training.epochs": 1, "controller.strategy": strategy,
        "controller.strategy_options": options, "controller.steps_per_epoch": controller_steps})
    workdir = str(tmp_path / strategy)
    summary = run_weight_sharing(config, workdir, stream=None)
    assert summary["finished"] and summary["controller_steps"] == controller_steps
    [epoch] = summary["history"]
    assert np.isfinite(epoch["loss"])
    assert (epoch["reward_mean"] is None) == (controller_steps == 0)
    state = ws_helpers.index(workdir)["strategy"]
    assert state["strategy"] == strategy and state["next_id"] == controller_steps * 3
    with open(os.path.join(workdir, loop.DERIVE_JSON)) as f:
        derived = json.load(f)["candidates"]
    if strategy == "evolution":
        # Its policy is its population: the supernet trained on it and derives from it.
        population = {tuple(c) for c, _ in state["algorithm"]["population"]}
        assert len(population) <= 4 and {tuple(c["choices"]) for c in derived} <= population
    assert Genotype.load(os.path.join(workdir, "report", "best_genotype.json"))
