"""The next run of a work directory removes what a SIGKILLed writer left (issue 10 item 7):
the search work directory, a training run directory, a detection export's parent
(the zoo is tested in tests/model_zoo/test_registry.py).

Each leftover is real: a child process is killed inside an atomic write. The
run that cleans here is this test process, which started before the child; so
``process_start_time`` is moved to "now", as it would be for a run started
after the kill. Each run is then stopped right after its start-up checks (the
first write it would make raises), which is where the cleaning happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nasnet import io_utils

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILLED_WRITER = """
import os, signal, sys
from nasnet import io_utils
io_utils.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
io_utils.atomic_write_json(sys.argv[1], {"half": True})
"""


class Stop(Exception):
    """Raised by the first write of a run under test."""


def _leftover(directory) -> str:
    os.makedirs(directory, exist_ok=True)
    before = set(os.listdir(directory))
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER,
                             os.path.join(directory, "state.json")],
                            env={**os.environ, "PYTHONPATH": REPO}, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    (name,) = set(os.listdir(directory)) - before
    assert io_utils.is_temporary_name(name)
    return os.path.join(directory, name)


@pytest.fixture
def started_now(monkeypatch):
    monkeypatch.setattr(io_utils, "process_start_time", lambda: time.time() + 1)


def _stop(*args, **kwargs):
    raise Stop


def test_a_search_run_removes_a_killed_runs_leftovers(tmp_path, started_now, monkeypatch):
    from search_cifar import experiments, trial_store
    workdir = str(tmp_path / "search")
    config = experiments.apply_overrides(experiments.get("synthetic"),
                                         {"workers": 0, "budget": 1})
    io_utils.atomic_write_json(os.path.join(workdir, "config.json"), config.to_dict())
    left = [_leftover(workdir), _leftover(os.path.join(workdir, "trials"))]
    monkeypatch.setattr(trial_store.TrialStore, "create", _stop)
    with pytest.raises(Stop):
        experiments.run_experiment(config, workdir)
    assert not any(os.path.exists(p) for p in left)


def test_a_training_run_removes_a_killed_runs_leftovers(tmp_path, started_now, monkeypatch):
    from nasnet.genotype import Genotype
    from transfer import config, trainer
    workdir = str(tmp_path / "run")
    left = _leftover(workdir)
    monkeypatch.setattr(Genotype, "save", _stop)
    with pytest.raises(Stop):
        trainer.train(config.preset("digits_tiny"), workdir)
    assert not os.path.exists(left)


def test_a_detection_export_removes_leftovers_beside_it(tmp_path, started_now, monkeypatch):
    from detection import configs, export_lib, serving
    left = _leftover(str(tmp_path))
    monkeypatch.setattr(serving, "serving_module", _stop)
    params = configs.load_experiment("fasterrcnn_nasnet_fpn_shapes", validate=False)
    with pytest.raises(Stop):
        export_lib.export_detector(params, "unused", str(tmp_path / "export"))
    assert not os.path.exists(left)
