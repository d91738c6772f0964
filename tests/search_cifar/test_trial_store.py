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
