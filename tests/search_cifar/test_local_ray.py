"""local_ray: the guard's answers and failures, without a whole search.

The running case (loopback sockets, nothing left after close or after a
SIGKILL of the search) is tested where a search runs: test_ray_executor.py and
test_resume_kill.py.
"""

from __future__ import annotations

import os
import sys

import pytest

from search_cifar.local_ray import LocalRay, LocalRayError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import binary_helpers  # noqa: E402


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_cpus must be an int >= 1, got 0"):
        LocalRay(num_cpus=0)
    with pytest.raises(ValueError, match="num_cpus must be an int >= 1, got True"):
        LocalRay(num_cpus=True)
    with pytest.raises(ValueError, match="num_gpus must be an int >= 0 or None, got -1"):
        LocalRay(num_cpus=1, num_gpus=-1)
    with pytest.raises(ValueError, match="startup_timeout must be a number > 0, got 0"):
        LocalRay(num_cpus=1, startup_timeout=0)


def test_ray_failing_to_start_is_its_own_message_and_leaves_no_process():
    # Ray cannot make its temporary directory: ray.init raises in the guard.
    before = set(p.pid for p in binary_helpers.descendants(os.getpid()))
    with pytest.raises(LocalRayError, match="FileNotFoundError: .*/proc/nasnet-nonexistent"):
        LocalRay(num_cpus=1, env={"RAY_TMPDIR": "/proc/nasnet-nonexistent"})
    assert {p.pid for p in binary_helpers.descendants(os.getpid())} <= before


def test_a_guard_that_dies_or_does_not_answer_in_time_is_an_error():
    with pytest.raises(LocalRayError, match=r"the guard process exited with status 1: .*encodings"):
        LocalRay(num_cpus=1, env={"PYTHONHOME": "/nonexistent"})
    before = set(p.pid for p in binary_helpers.descendants(os.getpid()))
    with pytest.raises(LocalRayError, match=r"Ray did not start within 0.2 s"):
        LocalRay(num_cpus=1, startup_timeout=0.2)
    # The guard's process group is killed, whatever it had started.
    assert {p.pid for p in binary_helpers.descendants(os.getpid())} <= before
