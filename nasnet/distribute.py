"""``tf.distribute`` strategies by name, batch and learning-rate scaling, precision.

Strategies (``make_strategy``):

* ``one_device``: one replica on the first GPU, else the CPU: TensorFlow's
  default strategy, which places ops that way (Keras' ``BackupAndRestore``,
  our preemption checkpointing, refuses ``OneDeviceStrategy`` itself).
* ``mirrored``: ``MirroredStrategy`` over all local GPUs; without GPUs, over
  all logical CPU devices (split the CPU with ``configure_cpu_devices`` first:
  that is how tests and benchmarks run data parallelism on a CPU).
* ``multi_worker_mirrored``: ``MultiWorkerMirroredStrategy``; the cluster is
  read from the ``TF_CONFIG`` environment variable (one process per worker).
  It must be created before any other TensorFlow op runs in the process.
* ``tpu``: ``TPUStrategy`` on ``tpu_address`` (a Cloud TPU name or
  ``grpc://host:port``; None or ``"local"`` for a TPU VM's own chips).

Batch and learning rate: the configured batch is per replica, so
``global_batch = per_replica_batch * strategy.num_replicas_in_sync`` and the
learning rate follows the linear scaling rule (``transfer.config``): slim's
recipes fix the per-replica batch and multiply the rate by the number of
replicas, which is the same thing. (The kernel holds these helpers because
``transfer`` and the weight-sharing search, ``search_cifar/weight_sharing``,
both train with them.)

Mixed precision (``precision_policy``): ``auto`` is ``mixed_bfloat16`` on TPU
(the TPU's native 16-bit type needs no loss scaling), ``mixed_float16`` on GPU
(Keras wraps the optimizer in a ``LossScaleOptimizer``: dynamic loss scaling)
and ``float32`` on CPU.

``dtype_policy(name)`` sets the global Keras dtype policy for a block (the
layers built inside keep it) and restores the previous one after.
``check_xla_devices`` refuses XLA where TensorFlow cannot run it (several
replicas on logical CPU devices).

Example:
    >>> configure_cpu_devices(2)            # before TensorFlow initialises
    >>> strategy = make_strategy("mirrored")
    >>> strategy.num_replicas_in_sync, global_batch_size(32, strategy)
    (2, 64)
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Iterator

import tensorflow as tf
import tf_keras

#: ``make_strategy`` names.
STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")
#: ``precision_policy`` names.
MIXED_PRECISION = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def configure_cpu_devices(count: int) -> None:
    """Splits the physical CPU into ``count`` logical devices (for ``mirrored`` on a CPU).

    Must run before TensorFlow initialises its devices (before any op runs).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"the number of logical CPU devices must be a positive int, got {count!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError as e:
        current = len(tf.config.list_logical_devices("CPU"))
        if current == count:
            return
        raise ValueError(
            f"cannot split the CPU into {count} logical devices: TensorFlow has already "
            f"initialised {current} (call configure_cpu_devices before any op runs, e.g. "
            f"first thing in the process) [{e}]") from None


def make_strategy(name: str, tpu_address: str | None = None) -> tf.distribute.Strategy:
    """The strategy called ``name`` (one of ``STRATEGIES``)."""
    if name == "one_device":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker_mirrored":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        return _tpu_strategy(tpu_address)
    raise ValueError(f"unknown distribution strategy {name!r}; known: {list(STRATEGIES)}")


def _check_tf_config() -> None:
    """A present TF_CONFIG must parse and name this task; absent means one worker."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {raw[:200]!r}") from None
    task = spec.get("task", {}) if isinstance(spec, dict) else {}
    cluster = spec.get("cluster", {}) if isinstance(spec, dict) else {}
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError(f"TF_CONFIG has no 'cluster': {raw[:200]!r}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ValueError(
            f"TF_CONFIG's task {task!r} is not in its cluster {cluster!r}: set "
            f"task.type to one of {sorted(cluster)} and task.index to this worker's position")


def _tpu_strategy(tpu_address: str | None) -> tf.distribute.Strategy:
    local = tpu_address in (None, "", "local")
    if local and not tf.config.list_physical_devices("TPU"):
        raise ValueError(
            "strategy 'tpu' needs a TPU, and none is attached to this machine "
            "(tf.config.list_physical_devices('TPU') is empty); pass tpu_address "
            "(--tpu_address=NAME or grpc://host:port) for a Cloud TPU")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu="local" if local else tpu_address)
        if not local:
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, OSError, tf.errors.OpError) as e:  # OSError: resolver lookups
        raise ValueError(f"cannot connect to the TPU {tpu_address or 'local'!r}: {e}") from None
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (always, except non-chief workers)."""
    return bool(strategy.extended.should_checkpoint)


def worker_id(strategy: tf.distribute.Strategy) -> str:
    """``"<task_type>_<task_id>"`` in a cluster, ``"local"`` otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "local"
    return f"{resolver.task_type}_{resolver.task_id}"


def num_input_workers(strategy: tf.distribute.Strategy) -> int:
    """Hosts that each run a copy of the input pipeline (and shard it among them).

    ``MultiWorkerMirroredStrategy``: the chief and workers of its cluster;
    ``TPUStrategy``: the TPU hosts; anything else: 1.
    """
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return max(1, int(strategy.extended.num_hosts))
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        spec = strategy.cluster_resolver.cluster_spec().as_dict()
        return max(1, sum(len(spec.get(kind, [])) for kind in ("chief", "worker")))
    return 1


def global_batch_size(per_replica_batch: int, strategy: tf.distribute.Strategy) -> int:
    """``per_replica_batch * num_replicas_in_sync`` (over all workers)."""
    return int(per_replica_batch) * int(strategy.num_replicas_in_sync)


def precision_policy(name: str, strategy: tf.distribute.Strategy) -> str:
    """The Keras dtype policy for ``name`` ("auto" picks by device, see the module docstring)."""
    if name not in MIXED_PRECISION:
        raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {name!r}")
    if name != "auto":
        return name
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    return "float32"


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """The global Keras dtype policy is ``name`` inside the block, the previous one after
    (also when the block raises). Layers built inside keep ``name``."""
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


def check_xla_devices(strategy: tf.distribute.Strategy, setting: str = "xla=true") -> None:
    """ValueError for XLA with several replicas on logical CPU devices.

    It fails at the first step in TensorFlow 2.20 ("Trying to access resource
    ... located in device CPU:1 from device CPU:0", the XLA known issue on
    variables of other devices), so it is refused up front; ``setting`` names
    the caller's switch in the message. (Measured in
    ``benchmarks/transfer_throughput.py``.)
    """
    if strategy.num_replicas_in_sync < 2 or not isinstance(strategy,
                                                           tf.distribute.MirroredStrategy):
        return
    devices = [str(d).upper() for d in strategy.extended.worker_devices]
    if any("CPU" in d for d in devices):
        raise ValueError(
            f"{setting} with {strategy.num_replicas_in_sync} replicas on logical CPU devices "
            f"is not supported by TensorFlow (XLA cannot read a variable of one CPU device "
            f"from another); use XLA with one device on a CPU, or mirrored on GPUs")


def describe(strategy: tf.distribute.Strategy) -> dict:
    """What a run records about its distribution (JSON-serialisable)."""
    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy has none: it places by TF's defaults
        gpus = tf.config.list_logical_devices("GPU")
        devices = [gpus[0].name if gpus else "/cpu:0"]
    return {"strategy": type(strategy).__name__,
            "replicas": int(strategy.num_replicas_in_sync),
            "local_devices": [str(d) for d in devices],
            "worker": worker_id(strategy),
            "chief": is_chief(strategy),
            "input_workers": num_input_workers(strategy)}
