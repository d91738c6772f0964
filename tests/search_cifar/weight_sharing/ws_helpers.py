"""Shared by the weight-sharing tests: a tiny search config, checkpoint reading, subprocess runs.

Run as a script, it runs a search in a fresh process (for SIGKILL and
logical-device tests): ``python ws_helpers.py CONFIG_JSON WORKDIR [CPU_DEVICES]``
prints the summary as one JSON line at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

OPS = ("sep_conv_3x3", "max_pool_3x3", "identity")

#: 2-block cells over 3 ops, N = 1, F = 4, 8 px digits, 2 epochs of 4 steps, 2 controller
#: steps of 3 architectures, 4 derived candidates scored on one validation batch.
TINY = {
    "name": "tiny",
    "supernet": {"num_blocks": 2, "ops": list(OPS), "num_cells_per_stack": 1, "out_filters": 4,
                 "use_aux_head": False, "drop_path_keep_prob": 0.7,
                 "dense_dropout_keep_prob": 0.9},
    "training": {"epochs": 2, "steps_per_epoch": 4, "restart_period_epochs": 1,
                 "checkpoint_every_steps": 2},
    "controller": {"strategy": "rl", "strategy_options": {"preset": "enas", "batch_size": 3},
                   "steps_per_epoch": 2, "architectures_per_step": 3, "reward_batch_size": 20,
                   "checkpoint_every_steps": 1},
    "derive": {"num_candidates": 4, "validation_batches": 1},
    "data": {"dataset": "digits", "image_size": 8, "batch_size": 16},
    "tensorboard": False,
}


def tiny_config(**overrides):
    """The TINY search config with dotted-key overrides."""
    from search_cifar.weight_sharing import config as config_lib
    return config_lib.override(config_lib.WeightSharingConfig.from_dict(TINY), overrides)


def tiny_child():
    """A child-training config small enough for a test: digits at 8 px, N = 1, F = 4, no aux
    head, 1 epoch of 2 steps (the search's child network, ``child_config.search_network``)."""
    import dataclasses

    from search_cifar import child_config, data
    network = dataclasses.replace(child_config.search_network(1, 4), use_aux_head=False)
    return child_config.ChildConfig(
        data=data.DataConfig(dataset="digits", image_size=8, batch_size=16), network=network,
        epochs=1, steps_per_epoch=2, validation_steps=2)


def tiny_child_dict() -> dict:
    """``tiny_child()`` as the JSON ``WeightSharingConfig.retrain`` reads."""
    return json.loads(json.dumps(tiny_child().to_dict()))


def index(workdir: str) -> dict:
    with open(os.path.join(workdir, "checkpoints", "index.json")) as f:
        return json.load(f)


def weights(workdir: str) -> dict:
    """Every saved variable of the current checkpoint, by checkpoint key."""
    import tensorflow as tf
    reader = tf.train.load_checkpoint(
        os.path.join(workdir, "checkpoints", index(workdir)["weights"]))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if not k.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")}


def env() -> dict:
    e = dict(os.environ)
    e["TF_CPP_MIN_LOG_LEVEL"] = "2"
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    return e


def start(config: dict, workdir: str, cpu_devices: int | None = None) -> subprocess.Popen:
    """This file as a script on ``config`` in its own process group (stdout piped)."""
    os.makedirs(os.path.dirname(os.path.abspath(workdir)), exist_ok=True)
    path = os.path.abspath(workdir) + ".config.json"
    with open(path, "w") as f:
        json.dump(config, f)
    args = [sys.executable, os.path.abspath(__file__), path, workdir]
    if cpu_devices:
        args.append(str(cpu_devices))
    return subprocess.Popen(args, cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def run(config: dict, workdir: str, cpu_devices: int | None = None, timeout: float = 600):
    """(returncode, output, summary or None) of a search run in a subprocess."""
    proc = start(config, workdir, cpu_devices)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    summary = None
    for line in out.splitlines():
        if line.startswith("SUMMARY "):
            summary = json.loads(line[len("SUMMARY "):])
    return proc.returncode, out, summary


def _main(argv: list[str]) -> None:
    config_path, workdir = argv[1], argv[2]
    if len(argv) > 3:
        from nasnet import distribute
        distribute.configure_cpu_devices(int(argv[3]))   # before TensorFlow starts
    from search_cifar.weight_sharing import config as config_lib
    from search_cifar.weight_sharing.loop import run_weight_sharing
    with open(config_path) as f:
        config = config_lib.WeightSharingConfig.from_dict(json.load(f))
    summary = run_weight_sharing(config, workdir)
    print("SUMMARY " + json.dumps(summary, default=str), flush=True)


if __name__ == "__main__":
    _main(sys.argv)
