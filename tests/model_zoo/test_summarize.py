"""The summarize binary, end to end (small size), run as `python model_zoo/summarize.py`."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, os.path.join(ROOT, "model_zoo", "summarize.py"), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_summary_table_json_and_diagrams(tmp_path):
    result = run(f"--output_dir={tmp_path}", "--genotypes=nasnet_a,amoebanet_a",
                 "--presets=cifar", "--size=1@48")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "summary.json").read_text())
    assert [(r["genotype"], r["size"]) for r in rows] == [("nasnet_a", "1@48"), ("amoebanet_a", "1@48")]
    assert all(r["parameters"] > 0 and r["mult_adds"] > 0 for r in rows)
    assert "| nasnet_a | cifar | 1@48 |" in result.stdout
    for name in ("nasnet_a", "amoebanet_a"):
        for kind in ("normal", "reduction"):
            assert (tmp_path / "cells" / name / f"{kind}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_inputs_exit_non_zero_with_a_clear_message(tmp_path):
    result = run(f"--output_dir={tmp_path}", "--genotypes=nasnet_z")
    assert result.returncode == 2 and "unknown published genotype 'nasnet_z'" in result.stderr
    result = run(f"--output_dir={tmp_path}", "--presets=tiny")
    assert result.returncode == 2 and "unknown preset(s) ['tiny']" in result.stderr
    result = run(f"--output_dir={tmp_path}", "--size=4x1056")
    assert result.returncode == 2 and "must look like 'N@P'" in result.stderr
    result = run(f"--output_dir={tmp_path}", "--presets=cifar", "--size=1@50")
    assert result.returncode == 2 and "penultimate_filters 50 is not a multiple" in result.stderr
    assert not (tmp_path / "summary.json").exists()
