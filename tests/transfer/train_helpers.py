"""Shared by the transfer and zoo tests: tiny configs, subprocess runs, event logs.

Also a script:

* ``python train_helpers.py mwms_worker WORKDIR OUT.npz`` trains the tiny config
  under ``MultiWorkerMirroredStrategy`` (cluster from ``TF_CONFIG``) and saves
  the final weights, for the two-worker test;
* ``python train_helpers.py serve SAVED_MODEL INPUT_DIR OUT.npz`` loads a
  SavedModel in a fresh process and runs both serving signatures on
  ``INPUT_DIR/images.npy`` and ``INPUT_DIR/*.png|*.jpg`` (sorted).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TINY_GENOTYPE = os.path.join(HERE, "testdata", "tiny_genotype.json")


def tiny_overrides(train_steps: int, steps_per_loop: int, checkpoint_every: int,
                   genotype: str = TINY_GENOTYPE, eval_steps: int = 2) -> dict:
    """digits_tiny made tinier: a 2-block test cell, few steps, 2 eval batches."""
    return {"genotype": genotype, "train_steps": train_steps, "steps_per_loop": steps_per_loop,
            "checkpoint_every_steps": checkpoint_every, "eval_steps": eval_steps,
            "model.backbone.total_training_steps": train_steps, "log_every_steps": 1}


def train_flags(overrides: dict) -> list[str]:
    """``--override=key=value`` flags for the train binary."""
    return [f"--override={k}={json.dumps(v)}" for k, v in overrides.items()]


def env(**extra) -> dict:
    out = dict(os.environ)
    out["PYTHONPATH"] = REPO + os.pathsep + out.get("PYTHONPATH", "")
    out.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    out.pop("TF_CONFIG", None)
    out.update(extra)
    return out


def run_module(module: str, args: list[str], timeout: float = 600, **extra_env):
    """``python -m module args`` from the repository root; returns CompletedProcess."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env(**extra_env),
                          capture_output=True, text=True, timeout=timeout)


def read_events(workdir: str) -> list[dict]:
    with open(os.path.join(workdir, "events.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_script(args: list[str], timeout: float = 600, **extra_env):
    """``python train_helpers.py args`` (see the module docstring)."""
    return subprocess.run([sys.executable, os.path.abspath(__file__), *args], cwd=REPO,
                          env=env(**extra_env), capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mwms_worker(workdir: str, out: str) -> int:
    from nasnet import distribute
    strategy = distribute.make_strategy("multi_worker_mirrored")   # before any other op
    import numpy as np
    from transfer import config, trainer
    cfg = config.preset("digits_tiny", {**tiny_overrides(6, 3, 3),
                                        "strategy": "multi_worker_mirrored"})
    result = trainer.train(cfg, workdir, strategy=strategy)
    weights = result.model.get_weights()      # every worker reads (synced variables)
    np.savez(out, *weights)
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump({"final_step": result.final_step, "replicas": result.metrics["replicas"],
                   "global_batch": result.metrics["global_batch"],
                   "worker": distribute.worker_id(strategy)}, f)
    return 0


def _serve(saved_model: str, input_dir: str, out: str) -> int:
    import numpy as np
    import tensorflow as tf
    served = tf.saved_model.load(saved_model)
    images = np.load(os.path.join(input_dir, "images.npy"))
    results = {}
    for key, value in served.signatures["serving_images"](images=tf.constant(images)).items():
        results[f"images_{key}"] = value.numpy()
    for ext in ("png", "jpg"):
        names = sorted(n for n in os.listdir(input_dir) if n.endswith("." + ext))
        encoded = []
        for name in names:
            with open(os.path.join(input_dir, name), "rb") as f:
                encoded.append(f.read())
        outputs = served.signatures["serving_bytes"](images=tf.constant(encoded))
        for key, value in outputs.items():
            results[f"{ext}_{key}"] = value.numpy()
    np.savez(out, **results)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    if len(sys.argv) == 4 and sys.argv[1] == "mwms_worker":
        sys.exit(_mwms_worker(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        sys.exit(_serve(*sys.argv[2:]))
    sys.exit(f"usage: {sys.argv[0]} mwms_worker WORKDIR OUT.npz | serve SAVED_MODEL DIR OUT.npz")
