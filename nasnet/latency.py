"""Latency of the network a cell will become, measured: the median of repeated forward passes.

MnasNet (Tan et al. 2019, Sec. 3) puts measured latency, not a proxy, into the
reward: each sampled model runs on the target device at batch size 1. Here
the network is the inference classifier (no auxiliary head) of a genotype at
a ``nasnet.cost.TargetNetwork`` size (``inference_network``), its forward pass
for one ``[1, size, size, 3]`` image traced once and frozen into a graph of
constants (``convert_variables_to_constants_v2``, the graph an export
serves; ``nasnet.flops`` counts the same graph), run ``warmup`` times, then
timed ``runs`` times; ``Latency.median_ms`` is the median. Each timed run ends
when its logits are on the host, so a GPU's asynchronous work is included.

The device is ``"cpu"`` or ``"gpu"`` (the first GPU TensorFlow sees), and
the result names it (``Latency.device``: the CPU model and the cores this
process may use, or the GPU's name), because a latency means nothing without
its machine. ``check_device`` fails, before anything is built, where the
device is unknown or absent. On a CPU shared with other work (children
training beside the measurement) latencies are inflated and noisy: measure on
a GPU of the trial's own, or one trial at a time.

TensorFlow is imported inside the functions: importing this module is free.

Example:
    >>> from nasnet import cost, known_genotypes, latency
    >>> result = latency.measure(known_genotypes.NASNET_A, cost.TargetNetwork(), "cpu", runs=20)
    >>> result.device                     # result.median_ms: milliseconds per image
    'CPU: AMD EPYC (2 cores)'
"""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
import time
from typing import Any

from nasnet.cost import TargetNetwork
from nasnet.genotype import Genotype

DEVICES = ("cpu", "gpu")


@dataclasses.dataclass(frozen=True)
class Latency:
    """A measured latency: the median of ``runs`` timed passes, in milliseconds."""

    median_ms: float
    runs: int
    device: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _visible_gpus() -> list[Any]:
    import tensorflow as tf  # noqa: PLC0415

    return tf.config.list_physical_devices("GPU")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def check_device(device: str) -> str:
    """The name of ``device`` in this process; ValueError when it is unknown or absent."""
    if device not in DEVICES:
        raise ValueError(f"unknown latency device {device!r}; known: {list(DEVICES)}")
    if device == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count()
        return f"CPU: {_cpu_name()} ({cores} cores)"
    gpus = _visible_gpus()
    if not gpus:
        raise ValueError("cannot measure latency on 'gpu': TensorFlow sees no GPU in this "
                         "process (give trials a GPU, e.g. --gpus_per_trial=1, or measure "
                         "on 'cpu')")
    import tensorflow as tf  # noqa: PLC0415

    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU: {details.get('device_name') or gpus[0].name}"


def inference_network(genotype: Genotype, target: TargetNetwork):
    """The ``tf_keras`` inference classifier ``images [B, S, S, 3] -> logits [B, classes]``
    of ``genotype`` at ``target`` (``target.filters_for(genotype)`` base filters)."""
    from nasnet import networks  # noqa: PLC0415 -- TensorFlow

    config = networks.ClassifierConfig(
        backbone=networks.BackboneConfig(
            stem=target.stem, num_cells_per_stack=target.num_cells_per_stack,
            num_conv_filters=target.filters_for(genotype),
            stem_multiplier=target.stem_multiplier,
            filter_scaling_rate=target.filter_scaling_rate,
            skip_reduction_layer_input=target.skip_reduction_layer_input,
            skeleton=target.skeleton),
        num_classes=target.num_classes, image_size=target.image_size,
        dense_dropout_keep_prob=1.0, use_aux_head=False)
    return networks.inference_model(networks.build_classifier(genotype, config))


def measure(genotype: Genotype, target: TargetNetwork, device: str = "cpu", runs: int = 20,
            warmup: int = 3) -> Latency:
    """Builds ``genotype``'s inference network at ``target`` and times it (module docstring)."""
    for name, value, minimum in (("runs", runs, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    name = check_device(device)
    import tensorflow as tf  # noqa: PLC0415
    from tensorflow.python.framework import convert_to_constants  # noqa: PLC0415

    size = target.image_size
    model = inference_network(genotype, target)

    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
    def forward(images):
        return model(images, training=False)

    with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
        frozen = convert_to_constants.convert_variables_to_constants_v2(
            forward.get_concrete_function())
        images = tf.random.stateless_uniform([1, size, size, 3], seed=[0, 0])
        for _ in range(warmup):
            frozen(images)[0].numpy()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            frozen(images)[0].numpy()
            times.append((time.perf_counter() - start) * 1e3)
    return Latency(median_ms=statistics.median(times), runs=runs, device=name)
