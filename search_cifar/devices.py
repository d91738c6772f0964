"""Which devices each process of a search sees: a trial its own GPUs, the driver none.

A search has a driver (the binary's process: the strategy, the RL
controller's TensorFlow functions, dataset checks) and trials (child
trainings on Ray workers, or in the driver with ``--workers=0``).

* **The driver sees no GPU** (``hide_gpus_from_this_process``, called by the
  binary before TensorFlow is imported): otherwise TensorFlow there reserves
  most of every visible GPU's memory and the trial Ray places on GPU 0
  starves. Where trials run in the driver (``--workers=0``) it keeps its GPUs,
  unless the machine has none.
* **A trial's environment** (``trial_env``, Ray's runtime_env ``env_vars``):
  a trial that requests no GPU gets ``TF_ENABLED_DEVICE_TYPES=CPU``; one that
  requests GPUs gets every device type and ``TF_FORCE_GPU_ALLOW_GROWTH=true``,
  so that trials sharing a GPU (``gpus_per_trial < 1``) each take the memory
  they use rather than all of it. Ray sets a GPU trial's
  ``CUDA_VISIBLE_DEVICES`` to its own GPUs, and the Ray executor runs each
  GPU trial in a fresh worker process (``max_calls=1``), so TensorFlow, which
  reads ``CUDA_VISIBLE_DEVICES`` once, always starts with the trial's own.
  ``trial_devices()``, on the worker, records what the trial was given.

``TF_ENABLED_DEVICE_TYPES`` is TensorFlow's list of device types whose
factories register when TensorFlow is loaded (``tensorflow/core/framework/
device_factory.cc``; empty = all); read once, at import. With only CPU,
TensorFlow never initialises CUDA: no GPU memory, and on a machine without a
GPU no ``E ... failed call to cuInit`` line, which TensorFlow prints at ERROR
level (so ``TF_CPP_MIN_LOG_LEVEL=2`` lets it through, and level 3 would hide
real errors too). ``TF_FORCE_GPU_ALLOW_GROWTH`` is TensorFlow's environment
form of ``tf.config.experimental.set_memory_growth``.

This module imports neither TensorFlow nor Ray (workers import it).

Example:
    >>> hide_gpus_from_this_process(trials_in_process=False)  # before `import tensorflow`
    True
    >>> trial_env(gpus_per_trial=0.5)
    {'TF_ENABLED_DEVICE_TYPES': '', 'TF_FORCE_GPU_ALLOW_GROWTH': 'true'}
"""

from __future__ import annotations

import glob
import math
import os
import sys
from typing import Any

ENABLED_DEVICE_TYPES = "TF_ENABLED_DEVICE_TYPES"
ALLOW_GROWTH = "TF_FORCE_GPU_ALLOW_GROWTH"
VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
#: Metric keys ``trial_devices`` adds to a Ray trial's record.
GPU_IDS, CUDA_VISIBLE = "gpu_ids", "cuda_visible_devices"


def machine_has_gpu_devices() -> bool:
    """Whether this machine has GPU device files (NVIDIA ``/dev/nvidia<N>``, AMD ``/dev/kfd``)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


def hide_gpus_from_this_process(trials_in_process: bool) -> bool:
    """Hides GPUs from TensorFlow in this process, unless its trials run here on a GPU machine.

    Must run before TensorFlow is imported; returns whether GPUs are hidden
    (False also when TensorFlow was imported already: then nothing changes).
    """
    if "tensorflow" in sys.modules:
        return False
    if trials_in_process and machine_has_gpu_devices():
        return False
    os.environ[ENABLED_DEVICE_TYPES] = "CPU"
    return True


def trial_env(gpus_per_trial: float) -> dict[str, str]:
    """Environment variables of a trial's process (see the module docstring)."""
    if isinstance(gpus_per_trial, bool) or not isinstance(gpus_per_trial, (int, float)) \
            or not math.isfinite(gpus_per_trial) or gpus_per_trial < 0:
        raise ValueError(f"gpus_per_trial must be a number >= 0, got {gpus_per_trial!r}")
    if gpus_per_trial == 0:
        return {ENABLED_DEVICE_TYPES: "CPU"}
    return {ENABLED_DEVICE_TYPES: "", ALLOW_GROWTH: "true"}


def trial_devices(ray: Any) -> dict[str, Any]:
    """On a Ray worker, inside a task: the task's GPU ids and ``CUDA_VISIBLE_DEVICES``."""
    return {GPU_IDS: [str(i) for i in ray.get_gpu_ids()],
            CUDA_VISIBLE: os.environ.get(VISIBLE_DEVICES)}


def describe_this_process() -> str:
    """The devices TensorFlow sees in this process, e.g. ``"CPU"`` or ``"GPU:0, GPU:1"``.

    Physical devices: listing them reserves no GPU memory. Imports TensorFlow.
    """
    import tensorflow as tf  # noqa: PLC0415

    gpus = [d.name.split("device:")[-1] for d in tf.config.list_physical_devices("GPU")]
    return ", ".join(gpus) if gpus else "CPU"


def describe_run(trials_in_process: bool, gpus_per_trial: float) -> str:
    """The devices line of a search's header: where its trials and its driver run."""
    here = describe_this_process()
    if trials_in_process:
        return f"devices: trials in this process, on {here}"
    if gpus_per_trial:
        trials = (f"each trial on {gpus_per_trial:g} GPU of its own (Ray's "
                  f"CUDA_VISIBLE_DEVICES; memory allocated as it grows)")
    else:
        trials = "each trial on CPU (no GPU visible to it)"
    return f"devices: {trials}; the driver on {here}"
