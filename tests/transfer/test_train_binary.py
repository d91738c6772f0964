"""The //transfer:train binary on bad input: one clear line, exit 2, nothing written."""

import json
import os

import pytest

import train_helpers


@pytest.mark.parametrize("flags, message", [
    (["--genotype=nasnet_b"], "cannot resolve genotype 'nasnet_b'"),
    (["--override=optimizer.learning_rate=0.1"], "unknown config key 'optimizer.learning_rate'"),
    (["--dataset=cifar10", "--data_dir={tmp}/tfds"], "dataset 'cifar10' is not prepared"),
    (["--strategy=mirrored", "--num_cpu_devices=2", "--xla"],
     "xla=true with 2 replicas on logical CPU devices is not supported"),
    # A size the cells cannot be built at fails before config.json is written (issue 10.1).
    (["--genotype=nasnet_a", "--size=1@7"], "penultimate_filters 7 is not a multiple"),
    (["--budget=3"], "Unknown command line flag 'budget'"),
    (["--genotype=nasnet_a", "--hand_designed=resnet50", "--image_size=32"],
     "--genotype=nasnet_a and --hand_designed=resnet50 name two architectures"),
    (["--hand_designed=vgg16"],
     "unknown hand-designed network 'vgg16'; known: ['inception_resnet_v2', 'resnet50']"),
    (["--train_steps=abc"], "flag --train_steps=abc"),
])
def test_bad_input_fails_with_one_clear_line_and_writes_nothing(tmp_path, flags, message):
    workdir = tmp_path / "run"
    flags = [f.replace("{tmp}", str(tmp_path)) for f in flags]
    proc = train_helpers.run_module("transfer.train", ["--preset=digits_tiny",
                                                       f"--workdir={workdir}", *flags])
    assert proc.returncode == 2
    assert f"train: error: " in proc.stderr and message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()[-1]) > 0
    assert not workdir.exists()


def test_print_config_applies_flags_and_overrides():
    proc = train_helpers.run_module("transfer.train", [
        "--preset=nasnet_a_large", "--size=2@768", "--dataset=imagenette", "--xla",
        "--strategy=tpu", "--override=optimizer.base_learning_rate=0.02",
        "--steps_per_execution=50", "--print_config"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = json.loads(proc.stdout)
    assert cfg["model"]["backbone"]["num_cells_per_stack"] == 2
    assert cfg["model"]["backbone"]["penultimate_filters"] == 768
    assert cfg["data"]["dataset"] == "imagenette" and cfg["xla"] is True
    assert cfg["strategy"] == "tpu" and cfg["optimizer"]["base_learning_rate"] == 0.02
    assert cfg["per_replica_batch_size"] == 16                      # the Large recipe
    assert cfg["steps_per_execution"] == 50


def test_print_config_of_a_hand_designed_network():
    proc = train_helpers.run_module("transfer.train", [
        "--preset=nasnet_a_mobile", "--hand_designed=inception_resnet_v2", "--image_size=299",
        "--print_config"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = json.loads(proc.stdout)
    assert cfg["hand_designed"] == "inception_resnet_v2" and cfg["genotype"] is None
    assert cfg["model"]["use_aux_head"] is False and cfg["model"]["image_size"] == 299
    assert cfg["per_replica_batch_size"] == 32                      # the Mobile recipe


def test_workdir_is_required():
    proc = train_helpers.run_module("transfer.train", ["--preset=digits_tiny"])
    assert proc.returncode == 2 and "--workdir is required" in proc.stderr
