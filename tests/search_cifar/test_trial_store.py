"""trial_store: trial records, the search state file, and a search's result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from search_cifar.trial_store import SearchResult, Trial, TrialStore


def test_trial_record_round_trip_and_errors():
    t = Trial(id=3, choices=(1, 2), key="c:1,2", status="ok", reward=0.5, evaluation=2)
    assert Trial.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    with pytest.raises(ValueError, match="status"):
        Trial(id=0, choices=(), key="", status="weird", reward=None)
    with pytest.raises(ValueError, match="an ok trial needs a finite reward, got nan"):
        Trial(id=0, choices=(), key="", status="ok", reward=float("nan"))
    with pytest.raises(ValueError, match="a failed trial has no reward, got 0.5"):
        Trial(id=0, choices=(), key="", status="failed", reward=0.5)
    with pytest.raises(ValueError, match="unknown key"):
        Trial.from_dict({**t.to_dict(), "colour": "red"})
    with pytest.raises(ValueError, match="not a trial record"):
        Trial.from_dict({"id": 1})


def test_store_writes_numpy_metrics_and_reads_them_back(tmp_path):
    store = TrialStore(str(tmp_path))
    store.create()
    t = Trial(id=0, choices=(1,), key="c:1", status="ok", reward=0.5,
              metrics={"loss": np.float32(0.25), "history": np.arange(2)})
    store.save_trial(t)
    assert store.load_trials()[0].metrics == {"loss": 0.25, "history": [0, 1]}
    with pytest.raises(TypeError, match="a trial record cannot hold a set"):
        store.save_trial(Trial(id=1, choices=(1,), key="c:1", status="ok", reward=0.5,
                               metrics={"bad": {1, 2}}))


def test_store_state_round_trip_and_bad_files(tmp_path):
    store = TrialStore(str(tmp_path))
    assert store.load_state() is None
    store.save_state({"strategy": "random"})
    assert store.load_state() == {"strategy": "random"}
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the search state"):
        store.load_state()
    (tmp_path / "state.json").write_text(json.dumps({"format_version": 0, "strategy": {}}))
    with pytest.raises(ValueError, match="not a search state of format 1"):
        store.load_state()
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / "000000.json").write_text("[]")
    with pytest.raises(ValueError, match="bad trial record .*000000.json"):
        store.load_trials()
    with pytest.raises(ValueError, match="workdir must be a non-empty path"):
        TrialStore("")


def test_search_result_best_and_evaluated():
    trials = [Trial(id=0, choices=(0,), key="a", status="ok", reward=0.3, evaluation=0),
              Trial(id=1, choices=(1,), key="b", status="failed", reward=None, error="x",
                    evaluation=1),
              Trial(id=2, choices=(0,), key="a", status="duplicate", reward=0.3, duplicate_of=0),
              Trial(id=3, choices=(2,), key="c", status="ok", reward=0.7, evaluation=2)]
    result = SearchResult(trials=trials, num_evaluated=3, stopped="budget", strategy=None)
    assert [t.id for t in result.evaluated] == [0, 1, 3]
    assert result.best().id == 3
    assert result.best(where=lambda t: t.key != "c").id == 0
    assert SearchResult(trials=trials[1:3], num_evaluated=1, stopped="budget",
                        strategy=None).best() is None


def test_trial_records_are_read_strictly(tmp_path):
    t = Trial(id=3, choices=(1, 2), key="c:1,2", status="ok", reward=0.5, evaluation=2)
    data = json.loads(json.dumps(t.to_dict()))
    with pytest.raises(ValueError, match=r"trial record is missing key\(s\) \['reward'\]"):
        Trial.from_dict({k: v for k, v in data.items() if k != "reward"})
    with pytest.raises(ValueError, match="not a trial record of format 1"):
        Trial.from_dict({**data, "format_version": True})
    with pytest.raises(ValueError, match=r"field 'choices\[0\]' must be an integer, got true"):
        Trial.from_dict({**data, "choices": [True, 2]})
    with pytest.raises(ValueError, match="field 'choices' must be an array, got \"12\""):
        Trial.from_dict({**data, "choices": "12"})
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / "000003.json").write_bytes(b"\x00\xff torn by a disk error")
    with pytest.raises(ValueError, match=r"bad trial record .*000003.json: trial record "
                                         r"'.*000003.json' is not a text file"):
        TrialStore(str(tmp_path)).load_trials()
    (tmp_path / "state.json").write_text(json.dumps({"format_version": 1, "strategy": [1]}))
    with pytest.raises(ValueError, match="not a search state of format 1"):
        TrialStore(str(tmp_path)).load_state()


def test_fidelity_and_rung_records_round_trip_and_are_read_strictly(tmp_path):
    from search_cifar.trial_store import Fidelity, RungDecision, RungRecord

    decisions = (RungDecision(1, 0.4, "continue"), RungDecision(3, 0.5, "stop"))
    fidelity = Fidelity(epochs=3, max_epochs=9, rung=1, stopped_early=True, decisions=decisions)
    t = Trial(id=3, choices=(1, 2), key="c:1,2", status="ok", reward=0.5, evaluation=2,
              fidelity=fidelity)
    data = json.loads(json.dumps(t.to_dict()))
    assert data["fidelity"]["decisions"][1] == {"epoch": 3, "value": 0.5, "decision": "stop"}
    assert Trial.from_dict(data) == t and not fidelity.full
    # Records written before early stopping existed have no fidelity: still read.
    old = {k: v for k, v in data.items() if k != "fidelity"}
    assert Trial.from_dict(old).fidelity is None
    for bad, message in [
            ({"epochs": True}, "field 'fidelity.epochs' must be an integer, got true"),
            ({"colour": 1}, r"fidelity has unknown key\(s\) \['colour'\]"),
            ({"stopped_early": "yes"}, "'fidelity.stopped_early' must be true or false"),
            ({"rung": -1}, "fidelity rung must be an int >= 0, got -1"),
            ({"decisions": [{"epoch": 1, "value": 0.4, "decision": "maybe"}]},
             "a rung decision must be one of"),
            ({"decisions": [{"epoch": 3, "value": 0.4, "decision": "continue"},
                            {"epoch": 1, "value": 0.4, "decision": "continue"}]},
             r"at increasing epochs, got epochs \[3, 1\]"),
            ({"decisions": [{"epoch": 1, "value": 0.4, "decision": "stop"},
                            {"epoch": 3, "value": 0.4, "decision": "stop"}]},
             "only the last rung decision can be a stop"),
            ({"decisions": [{"epoch": 1, "value": 0.4}]}, r"missing key\(s\) \['decision'\]")]:
        with pytest.raises(ValueError, match=message):
            Trial.from_dict({**data, "fidelity": {**data["fidelity"], **bad}})
    with pytest.raises(ValueError, match="a rung decision's value must be a finite number"):
        RungDecision(1, float("inf"), "stop")
    with pytest.raises(ValueError, match="a trial's fidelity must be a Fidelity or None"):
        Trial(id=0, choices=(), key="k", status="ok", reward=0.5, fidelity=3)

    store = TrialStore(str(tmp_path))
    record = RungRecord(trial=4, key="c:1", decisions=decisions[:1],
                        history=({"epoch": 1, "val_accuracy": 0.4},))
    store.save_rungs(record)
    assert store.load_rungs() == {4: record} and not record.stopped
    assert record.decision_at(1) == "continue" and record.decision_at(3) is None
    path = tmp_path / "rungs" / "000004.json"
    doc = json.loads(path.read_text())
    for bad, message in [({"format_version": 2}, "not a rung record of format 1"),
                         ({"trial": 5}, "it holds trial 5"),
                         ({"key": ""}, "a rung record's key must be a non-empty string"),
                         ({"history": [1]}, r"field 'history\[0\]' must be an object, got 1"),
                         ({"extra": 1}, r"unknown key\(s\) \['extra'\]")]:
        path.write_text(json.dumps({**doc, **bad}))
        with pytest.raises(ValueError, match=f"bad rung record .*000004.json: (.* )?{message}"):
            store.load_rungs()
    store.remove_rungs(4)
    store.remove_rungs(4)  # already gone: nothing to do
    assert store.load_rungs() == {}
    # Built in code rather than read from JSON, the same rules hold.
    with pytest.raises(ValueError, match="fidelity stopped_early must be true or false"):
        Fidelity(epochs=1, max_epochs=9, rung=0, stopped_early="yes")
    with pytest.raises(ValueError, match="rung decisions must be a list, got 'x'"):
        Fidelity(epochs=1, max_epochs=9, rung=0, stopped_early=True, decisions="x")
    with pytest.raises(ValueError, match="history must be a list of objects, got \\[1\\]"):
        RungRecord(trial=0, key="k", decisions=(), history=[1])
    with pytest.raises(ValueError, match="a rung record's trial must be an int >= 0, got -1"):
        RungRecord(trial=-1, key="k", decisions=())
