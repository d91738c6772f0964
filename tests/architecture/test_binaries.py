"""Every binary follows nasnet.cli's conventions when run as a plain script.

``python pkg/bin.py`` (the third way to run a binary, beside ``bazel run
//pkg:bin`` and ``python -m pkg.bin``) must find the project's packages, and a
bad flag is one line on stderr with exit status 2 (absl alone exits 1 and
prints its usage). Each case imports TensorFlow once: seconds each.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Every binary of the project (the console scripts of pyproject.toml point at these).
BINARIES = ("transfer/train.py", "model_zoo/zoo.py", "model_zoo/summarize.py",
            "detection/train.py", "detection/evaluate.py", "detection/export.py",
            "detection/data.py", "detection/draw.py")


@pytest.mark.parametrize("path", BINARIES)
def test_runs_as_a_script_and_rejects_a_bad_flag_in_one_line(path, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",
                                                            "BUILD_WORKING_DIRECTORY")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, path), "--no_such_flag=1"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "ModuleNotFoundError" not in proc.stderr and "Traceback" not in proc.stderr
    assert lines[-1].endswith("error: Unknown command line flag 'no_such_flag'"), lines[-5:]
    assert not os.listdir(tmp_path)  # nothing written
