"""Strategies by name, batch scaling, precision policies and their error paths (in-process).

Data-parallel training itself runs in subprocesses (tests/transfer/test_trainer.py,
test_multi_worker.py): splitting the CPU must happen before TensorFlow starts.
"""

import json

import pytest
import tensorflow as tf

from nasnet import distribute


def test_one_device_and_mirrored_on_this_cpu():
    one = distribute.make_strategy("one_device")
    assert one.num_replicas_in_sync == 1 and distribute.is_chief(one)
    assert distribute.global_batch_size(32, one) == 32
    assert distribute.describe(one)["replicas"] == 1
    mirrored = distribute.make_strategy("mirrored")
    n = len(tf.config.list_logical_devices("CPU"))
    assert mirrored.num_replicas_in_sync == n
    assert distribute.global_batch_size(16, mirrored) == 16 * n
    assert distribute.worker_id(mirrored) == "local"
    # One host feeds both: no data sharding, so no need for a deterministic input order.
    assert distribute.num_input_workers(one) == distribute.num_input_workers(mirrored) == 1
    assert distribute.describe(mirrored)["input_workers"] == 1


def test_multi_worker_without_tf_config_is_one_worker(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    distribute._check_tf_config()      # no error: a one-worker cluster


@pytest.mark.parametrize("tf_config, message", [
    ("{not json", "TF_CONFIG is not valid JSON"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), "TF_CONFIG has no 'cluster'"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}),
     "is not in its cluster"),
])
def test_bad_tf_config_is_refused(monkeypatch, tf_config, message):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=message):
        distribute.make_strategy("multi_worker_mirrored")


def test_tpu_without_a_tpu_fails_clearly():
    with pytest.raises(ValueError, match="needs a TPU, and none is attached"):
        distribute.make_strategy("tpu")


def test_tpu_at_an_unknown_name_fails_clearly():
    # A Cloud TPU name is looked up through Google's metadata service: unreachable here.
    with pytest.raises(ValueError, match="cannot connect to the TPU 'no-such-tpu-here'"):
        distribute.make_strategy("tpu", tpu_address="no-such-tpu-here")


def test_unknown_strategy():
    with pytest.raises(ValueError, match="unknown distribution strategy 'horovod'"):
        distribute.make_strategy("horovod")


def test_precision_policy():
    strategy = distribute.make_strategy("one_device")
    assert distribute.precision_policy("auto", strategy) == "float32"    # CPU
    assert distribute.precision_policy("mixed_bfloat16", strategy) == "mixed_bfloat16"
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        distribute.precision_policy("fp8", strategy)


def test_dtype_policy_holds_inside_the_block_and_is_restored_even_on_an_error():
    import tf_keras

    assert tf_keras.mixed_precision.global_policy().name == "float32"
    with distribute.dtype_policy("mixed_bfloat16"):
        layer = tf_keras.layers.Dense(2)
        assert tf_keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert tf_keras.mixed_precision.global_policy().name == "float32"
    assert layer.dtype_policy.name == "mixed_bfloat16"     # a layer keeps its policy
    with pytest.raises(RuntimeError, match="inside"):
        with distribute.dtype_policy("mixed_float16"):
            raise RuntimeError("inside")
    assert tf_keras.mixed_precision.global_policy().name == "float32"


def test_xla_on_one_device_is_accepted():
    # Several logical CPU devices (refused) need a split CPU: test_train_binary.py and
    # tests/search_cifar/weight_sharing/test_distribute.py run that in a subprocess.
    distribute.check_xla_devices(distribute.make_strategy("one_device"))


def test_cpu_devices_cannot_be_split_after_tensorflow_started():
    tf.config.list_logical_devices("CPU")          # TensorFlow is initialised by now
    current = len(tf.config.list_logical_devices("CPU"))
    distribute.configure_cpu_devices(current)      # the current layout: accepted
    with pytest.raises(ValueError, match="already initialised"):
        distribute.configure_cpu_devices(current + 1)
    with pytest.raises(ValueError, match="positive int"):
        distribute.configure_cpu_devices(0)
