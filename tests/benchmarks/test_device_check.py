"""benchmarks/device_check.py: the parts share one wall budget, rows survive a kill, bad flags."""

import json
import subprocess
import sys

import pytest

from benchmarks import device_check

SCRIPT = device_check.__file__


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_each_part_gets_at_most_what_is_left_and_late_parts_are_skipped(tmp_path):
    clock = FakeClock()
    given = []

    def run_part(part, variant, timeout):
        given.append((part, variant, timeout))
        clock.now += 200                     # every part takes 200 s
        return {"part": part, "images_per_s": 1.0}

    jobs = [("input", None), ("supernet", "float32"), ("supernet", "mixed_float16"),
            ("detection", None)]
    path = tmp_path / "rows.json"
    rows = device_check.run_jobs(jobs, run_part, budget_s=540, timeout_s=480,
                                 json_path=str(path), clock=clock)
    # 540 left: the timeout (480); 340 left: 340; 140 left: 140; then 0 left (< 60).
    assert given == [("input", None, 480), ("supernet", "float32", 340),
                     ("supernet", "mixed_float16", 140)]
    assert [r["part"] for r in rows] == ["input", "supernet", "supernet", "detection"]
    assert rows[3]["error"].startswith("skipped: 0 s of the 540 s budget left")
    assert json.loads(path.read_text()) == rows


def test_the_rows_measured_before_a_kill_are_on_disk(tmp_path):
    path = tmp_path / "out" / "rows.json"

    def run_part(part, variant, timeout):
        if part == "detection":
            assert json.loads(path.read_text()) == [{"part": "input", "images_per_s": 2.0}]
            raise KeyboardInterrupt          # the device command killed mid-part
        return {"part": part, "images_per_s": 2.0}

    with pytest.raises(KeyboardInterrupt):
        device_check.run_jobs([("input", None), ("detection", None)], run_part, budget_s=540,
                              timeout_s=480, json_path=str(path), clock=FakeClock())
    assert json.loads(path.read_text()) == [{"part": "input", "images_per_s": 2.0}]
    assert [p.name for p in path.parent.iterdir()] == ["rows.json"]   # no temp file left


def test_a_part_that_times_out_or_fails_gives_an_error_row(tmp_path):
    class Args:
        batch, mixed_precision, repeats, detection_steps, supernet_steps = 8, "auto", 1, 1, 1
        tiny = True

    # An unknown part fails in the child process; a 1-second timeout cannot start TensorFlow.
    failed = device_check._run_part(Args, "nope", None, 60)
    assert failed["part"] == "nope" and "nope" in failed["error"]
    timed_out = device_check._run_part(Args, "supernet", "float32", 1)
    assert timed_out == {"part": "supernet", "variant": "float32",
                         "error": "timed out after 1 s"}


@pytest.mark.parametrize("flag, message", [
    ("--budget=59", "--budget must be >= 60, got 59"),
    ("--timeout=0", "--timeout must be >= 1, got 0"),
    ("--supernet_steps=0", "--supernet_steps must be >= 1, got 0"),
    ("--parts=", "--parts names no part: ''"),
    ("--parts=input,gpu", "unknown part 'gpu'"),
    ("--supernet_variants=float64", "--supernet_variants:"),
])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(tmp_path, flag, message):
    out = tmp_path / "rows.json"
    proc = subprocess.run([sys.executable, SCRIPT, flag, f"--json={out}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr.strip().splitlines()[-1]
    assert not out.exists()
