"""search_cifar.hparams: every child as a session that TensorBoard's HParams plugin reads."""

from __future__ import annotations

import os

import pytest
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import (api_pb2, backend_context, get_experiment,
                                         list_session_groups)

from search_cifar import hparams
from search_cifar.space import CategoricalSpace, NasnetCellSpace
from search_cifar.trial_store import Trial

SPACE = NasnetCellSpace(num_blocks=2, ops=("sep_conv_3x3", "max_pool_3x3", "identity"),
                        search_combine=True)


def trial(i, status="ok", choices=None):
    choices = choices or tuple((i * 3 + d) % n for d, n in enumerate(SPACE.num_choices))
    ok = status == "ok"
    metrics = {"cost": {"mult_adds": 5e8 + i * 1e7, "latency_ms": 10.0 + i}}
    if ok:
        metrics.update(accuracy=0.6 + i / 100, epochs_completed=i + 1)
    return Trial(id=i, choices=choices, key=f"k{i}", status=status,
                 reward=0.5 + i / 100 if status != "failed" else None,
                 error=None if ok else "boom" if status == "failed" else None,
                 evaluation=i, metrics=metrics, duration=2.0, finished_at=1.7e9 + i,
                 duplicate_of=0 if status == "duplicate" else None)


def read(logdir: str):
    """The HParams plugin's experiment and session groups, as TensorBoard serves them."""
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    tb = base_plugin.TBContext(logdir=logdir, multiplexer=mux,
                               data_provider=data_provider.MultiplexerDataProvider(mux, logdir))
    backend = backend_context.Context(tb)
    ctx = context.RequestContext()
    experiment = get_experiment.Handler(ctx, backend, "", api_pb2.GetExperimentRequest()).run()
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=1000,
                                               allowed_statuses=[0, 1, 2, 3])
    for info in experiment.hparam_infos:
        request.col_params.add(hparam=info.name)
    for info in experiment.metric_infos:
        request.col_params.add(metric=info.name)
    groups = list_session_groups.Handler(ctx, backend, "", request).run().session_groups
    return experiment, {g.name: g for g in groups}


def _value(v):
    return v.string_value if v.HasField("string_value") else v.number_value


def test_every_child_is_a_session_with_its_decisions_fidelity_accuracy_and_cost(tmp_path):
    short = trial(4, choices=trial(4).choices[:SPACE.decisions_per_block])  # a 1-block cell
    trials = [trial(0), trial(1, "failed"), trial(2, "duplicate"), trial(3), short]
    root = hparams.rewrite(str(tmp_path), trials, SPACE)
    assert root == os.path.join(str(tmp_path), "hparams")
    experiment, groups = read(str(tmp_path))
    names = SPACE.decision_names()
    infos = {h.name: h for h in experiment.hparam_infos}
    assert sorted(infos) == sorted(names)
    ops = [v.string_value for v in infos["b1.reduction.op_b"].domain_discrete.values]
    assert sorted(ops) == ["identity", "max_pool_3x3", "sep_conv_3x3"]
    assert [v.number_value for v in infos["b1.normal.input_a"].domain_discrete.values] \
        == [0, 1, 2]
    assert [m.name.tag for m in experiment.metric_infos] == [
        "reward", "accuracy", "mult_adds_M", "latency_ms", "epochs"]

    assert sorted(groups) == ["trial 0", "trial 1", "trial 3", "trial 4"]  # no duplicate
    values = hparams.hparam_values(trials[3], SPACE)
    got = {k: _value(v) for k, v in groups["trial 3"].hparams.items()}
    assert got == values and got["b0.normal.combine"] in ("add", "concat")
    op_choice = trials[3].choices[names.index("b0.reduction.op_a")]
    assert got["b0.reduction.op_a"] == SPACE.ops[op_choice].value
    metrics = {m.name.tag: m.value for m in groups["trial 3"].metric_values}
    assert metrics == pytest.approx({"reward": 0.53, "accuracy": 0.63, "mult_adds_M": 530.0,
                                     "latency_ms": 13.0, "epochs": 4.0})
    assert [s.status for s in groups["trial 3"].sessions] == [api_pb2.STATUS_SUCCESS]
    assert [s.status for s in groups["trial 1"].sessions] == [api_pb2.STATUS_FAILURE]
    failed = {m.name.tag: m.value for m in groups["trial 1"].metric_values}
    assert failed == pytest.approx({"mult_adds_M": 510.0, "latency_ms": 11.0})
    assert len(groups["trial 4"].hparams) == SPACE.decisions_per_block


def test_sessions_added_one_by_one_and_rewritten_whole(tmp_path):
    logdir = str(tmp_path)
    assert hparams.write_session(logdir, trial(2, "duplicate"), SPACE) is None
    assert not os.path.exists(os.path.join(logdir, "hparams"))
    for i in range(3):
        hparams.write_session(logdir, trial(i), SPACE)
    hparams.write_session(logdir, trial(1), SPACE)  # a rewrite replaces its event file
    assert len(os.listdir(os.path.join(logdir, "hparams", "000001"))) == 1
    experiment, groups = read(logdir)
    assert len(experiment.hparam_infos) == len(SPACE.num_choices)
    assert sorted(groups) == ["trial 0", "trial 1", "trial 2"]
    hparams.rewrite(logdir, [trial(5)], SPACE)  # e.g. --report_only: the records only
    assert sorted(read(logdir)[1]) == ["trial 5"]


def test_a_plain_categorical_space_has_numbered_decisions(tmp_path):
    space = CategoricalSpace((3, 2))
    t = Trial(id=0, choices=(2, 1), key="c:2,1", status="ok", reward=0.4, evaluation=0,
              metrics={})
    assert hparams.hparam_values(t, space) == {"d0": 2, "d1": 1}
    hparams.rewrite(str(tmp_path), [t], space)
    _, groups = read(str(tmp_path))
    assert {m.name.tag: m.value for m in groups["trial 0"].metric_values} \
        == pytest.approx({"reward": 0.4})
