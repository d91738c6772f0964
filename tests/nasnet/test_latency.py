"""nasnet.latency: measured latency of a tiny target network, and the devices it refuses."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nasnet import cost, known_genotypes, latency

TINY = cost.TargetNetwork(stem="cifar", num_cells_per_stack=1, penultimate_filters=None,
                          num_conv_filters=4, image_size=8, num_classes=10)


def test_measures_the_median_on_the_cpu_and_names_it():
    result = latency.measure(known_genotypes.NASNET_A, TINY, "cpu", runs=3, warmup=1)
    assert result.runs == 3 and result.median_ms > 0
    assert result.device.startswith("CPU: ") and result.device.endswith(" cores)")
    assert result.to_dict() == {"median_ms": result.median_ms, "runs": 3,
                                "device": result.device}


def test_the_inference_network_has_the_counted_size():
    model = latency.inference_network(known_genotypes.PNASNET_5, cost.TargetNetwork(
        num_cells_per_stack=1, penultimate_filters=100, image_size=32, num_classes=3))
    assert model.output.shape.as_list() == [None, 3] and len(model.outputs) == 1
    # PNASNet-5 concatenates 5 states: F = floor(100 / 20) = 5, the last stack 4 F wide.
    assert model.get_layer("logits").kernel.shape.as_list() == [5 * 4 * 5, 3]


def test_unknown_and_absent_devices_are_refused(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown latency device 'tpu'; known: \['cpu', 'gpu'\]"):
        latency.check_device("tpu")
    monkeypatch.setattr(latency, "_visible_gpus", lambda: [])
    with pytest.raises(ValueError, match="cannot measure latency on 'gpu': TensorFlow sees no "
                                         "GPU in this process"):
        latency.measure(known_genotypes.NASNET_A, TINY, "gpu")


@pytest.mark.parametrize("name,value", [("runs", 0), ("runs", True), ("warmup", -1)])
def test_bad_run_counts_are_refused(name, value):
    with pytest.raises(ValueError, match=f"{name} must be an int >= "):
        latency.measure(known_genotypes.NASNET_A, TINY, "cpu", **{name: value})


def test_importing_it_imports_no_tensorflow():
    code = "import sys; from nasnet import latency; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
