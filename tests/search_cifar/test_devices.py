"""devices: the driver hides its GPUs from TensorFlow before importing it; trial environments."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from search_cifar import devices

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_trial_environments():
    assert devices.trial_env(0) == {"TF_ENABLED_DEVICE_TYPES": "CPU"}
    for gpus in (0.5, 1, 2.0):
        assert devices.trial_env(gpus) == {"TF_ENABLED_DEVICE_TYPES": "",
                                           "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    for bad in (-1, float("nan"), True, "1"):
        with pytest.raises(ValueError, match="gpus_per_trial must be a number >= 0"):
            devices.trial_env(bad)


def test_nothing_changes_once_tensorflow_is_imported(monkeypatch):
    import tensorflow  # noqa: F401 -- this process has it already
    monkeypatch.delenv("TF_ENABLED_DEVICE_TYPES", raising=False)
    assert devices.hide_gpus_from_this_process(trials_in_process=False) is False
    assert "TF_ENABLED_DEVICE_TYPES" not in os.environ


@pytest.mark.parametrize("trials_in_process", [False, True])
def test_a_driver_that_hides_its_gpus_sees_none_and_prints_no_cuda_error(trials_in_process):
    # A fresh process, as the binary: hide (before TensorFlow), import, list the devices.
    code = ("import os, sys; from search_cifar import devices; "
            f"hidden = devices.hide_gpus_from_this_process({trials_in_process}); "
            "print('hidden', hidden, os.environ.get('TF_ENABLED_DEVICE_TYPES')); "
            "print('devices', devices.describe_this_process())")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLED_DEVICE_TYPES"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"  # as the binary sets it: warnings off, errors on
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    hides = not trials_in_process or not devices.machine_has_gpu_devices()
    assert f"hidden {hides} {'CPU' if hides else None}" in done.stdout
    if hides:
        assert "devices CPU" in done.stdout
        assert "cuInit" not in done.stderr and " E " not in done.stderr, done.stderr
    else:  # trials train in this process on this machine's GPUs
        assert "devices GPU:0" in done.stdout


def test_describe_run():
    here = devices.describe_this_process()
    assert devices.describe_run(True, 0) == f"devices: trials in this process, on {here}"
    assert devices.describe_run(False, 0) == (
        f"devices: each trial on CPU (no GPU visible to it); the driver on {here}")
    assert devices.describe_run(False, 0.5).startswith(
        "devices: each trial on 0.5 GPU of its own (Ray's CUDA_VISIBLE_DEVICES")
