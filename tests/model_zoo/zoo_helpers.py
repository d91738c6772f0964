"""Fake export directories (no TensorFlow) and the zoo binary in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nasnet import known_genotypes

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fake_export(path, genotype=known_genotypes.NASNET_A, task="classification") -> str:
    """An export directory whose SavedModel is placeholder bytes: enough for
    checksums, manifests and refusals (not for loading)."""
    path = str(path)
    os.makedirs(os.path.join(path, "saved_model", "variables"))
    with open(os.path.join(path, "saved_model", "saved_model.pb"), "wb") as f:
        f.write(b"placeholder graph")
    with open(os.path.join(path, "saved_model", "variables", "variables.index"), "wb") as f:
        f.write(b"placeholder index")
    genotype.save(os.path.join(path, "genotype.json"))
    with open(os.path.join(path, "metrics.json"), "w") as f:
        json.dump({"top1": 0.5, "top5": 0.9}, f)
    with open(os.path.join(path, "export_info.json"), "w") as f:
        json.dump({"task": task, "architecture": genotype.name or "custom",
                   "genotype_fingerprint": genotype.fingerprint(), "size": "1@48",
                   "input_size": [16, 16, 3], "num_classes": 10, "parameters": 1234,
                   "mult_adds": 5678, "signatures": {"serving_images": "", "serving_bytes": ""},
                   "source_run": "/runs/fake"}, f)
    return path


def run_zoo(args: list[str], zoo_dir: str, timeout: float = 300):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.run([sys.executable, "-m", "model_zoo.zoo", *args, f"--zoo_dir={zoo_dir}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
