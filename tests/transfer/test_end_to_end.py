"""The offline path through the binaries: train on digits (killed after its first
checkpoint, restarted: it continues from that checkpoint), export into the zoo,
`zoo verify`, classify an image file through the SavedModel.

The default test uses the 2-block test cell (a genotype JSON file, as a search
writes) and a few steps; the slow test runs README.md's commands verbatim with
the published NASNet-A.
"""

import os
import re
import signal

import numpy as np
import pytest
import tensorflow as tf

import train_helpers
from model_zoo import registry
from nasnet import datasets
from nasnet.genotype import Genotype

KILL_AT = 3          # checkpoints at steps 2, 4, 6: the kill lands after step 3


def _train(workdir, *extra):
    return train_helpers.run_module("transfer.train", [
        "--preset=digits_tiny", f"--workdir={workdir}",
        *train_helpers.train_flags(train_helpers.tiny_overrides(6, 3, 2)), *extra])


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("e2e") / "run")
    killed = _train(workdir, f"--testing_kill_at_step={KILL_AT}")
    events_before = train_helpers.read_events(workdir)
    resumed = _train(workdir)
    return {"workdir": workdir, "killed": killed, "resumed": resumed,
            "events_before": events_before, "events": train_helpers.read_events(workdir)}


def test_a_killed_run_continues_from_its_last_checkpoint(resumed_run):
    killed, resumed = resumed_run["killed"], resumed_run["resumed"]
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    before = resumed_run["events_before"]
    assert [e["event"] for e in before][:2] == ["start", "train_begin"]
    assert before[-1]["event"] != "end"                        # died mid-run
    saved = [e for e in before if e["event"] == "checkpoint"]
    assert [e["step"] for e in saved] == [2]                   # the first checkpoint only
    events = resumed_run["events"]
    starts = [i for i, e in enumerate(events) if e["event"] == "start"]
    assert len(starts) == 2
    second = events[starts[1]:]
    assert second[0]["resumed_from_step"] == 2 and second[0]["resuming"]
    assert second[0]["checkpoint"].endswith("ckpt-1")
    begin = second[1]
    assert begin["event"] == "train_begin" and begin["step"] == 2
    # The restored weights are the checkpoint's, not a fresh initialisation.
    assert begin["weights_l1"] == pytest.approx(saved[0]["weights_l1"], rel=1e-9)
    assert begin["weights_l1"] != pytest.approx(before[1]["weights_l1"], rel=1e-6)
    trained = sum(e["steps"] for e in second if e["event"] == "loop")
    assert trained == 6 - 2                                    # not from scratch
    assert second[-1]["event"] == "end" and second[-1]["final_step"] == 6


def test_offline_path_export_verify_classify(resumed_run, tmp_path):
    zoo_dir = str(tmp_path / "zoo")
    exported = train_helpers.run_module(
        "model_zoo.zoo", ["export", "digits_test_cell", f"--workdir={resumed_run['workdir']}",
                          f"--zoo_dir={zoo_dir}"])
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "exported digits_test_cell" in exported.stdout
    verified = train_helpers.run_module("model_zoo.zoo", ["verify", "digits_test_cell",
                                                          f"--zoo_dir={zoo_dir}"])
    assert verified.returncode == 0, verified.stderr[-3000:]
    assert "OK digits_test_cell" in verified.stdout and "one prediction ran" in verified.stdout

    images, labels = datasets.digits(16)["test"]
    paths = []
    for i in range(3):
        path = tmp_path / f"digit_{i}_label_{labels[i]}.png"
        path.write_bytes(tf.io.encode_png(images[i]).numpy())
        paths.append(str(path))
    classified = train_helpers.run_module("model_zoo.zoo", ["classify", "digits_test_cell",
                                                            *paths, f"--zoo_dir={zoo_dir}"])
    assert classified.returncode == 0, classified.stderr[-3000:]
    lines = classified.stdout.strip().splitlines()
    assert len(lines) == 3
    cli_top1 = [int(re.match(r".*\.png: (\d+) \(", line).group(1)) for line in lines]

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("meeting notes, not a picture")
    refused = train_helpers.run_module("model_zoo.zoo", ["classify", "digits_test_cell",
                                                         str(not_an_image), f"--zoo_dir={zoo_dir}"])
    assert refused.returncode == 2  # bad input (nasnet.cli)
    assert f"zoo: error: {str(not_an_image)!r} is not a decodable image" in refused.stderr
    assert "Graph execution error" not in refused.stderr and "Traceback" not in refused.stderr

    model = registry.load("digits_test_cell", zoo_dir=zoo_dir)
    results = model.classify_files(paths)
    assert [r["top_k_classes"][0] for r in results] == cli_top1
    assert all(len(r["top_k_classes"]) == 5 for r in results)
    manifest = model.manifest
    assert manifest.genotype_fingerprint == Genotype.load(
        train_helpers.TINY_GENOTYPE).fingerprint()
    assert manifest.source_run == resumed_run["workdir"]
    assert manifest.parameters > 0 and manifest.mult_adds > 0
    assert manifest.metrics["final_step"] == 6
    probabilities = model.predict_images(images[:2])["probabilities"]
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_readme_offline_path_with_nasnet_a(tmp_path):
    """README.md's commands (python -m form), NASNet-A on digits, 300 steps."""
    workdir, zoo_dir = str(tmp_path / "digits"), str(tmp_path / "zoo")
    trained = train_helpers.run_module("transfer.train", [
        "--preset=digits_tiny", "--genotype=nasnet_a", f"--workdir={workdir}"], timeout=3600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    exported = train_helpers.run_module("model_zoo.zoo", [
        "export", "digits_nasnet_a", f"--workdir={workdir}", f"--zoo_dir={zoo_dir}"])
    assert exported.returncode == 0, exported.stderr[-3000:]
    verified = train_helpers.run_module("model_zoo.zoo", ["verify", "digits_nasnet_a",
                                                          f"--zoo_dir={zoo_dir}"])
    assert verified.returncode == 0, verified.stderr[-3000:]
    model = registry.load("digits_nasnet_a", zoo_dir=zoo_dir)
    assert model.manifest.metrics["top1"] > 0.8
    images, labels = datasets.digits(16)["test"]
    predicted = model.predict_images(images)["top_k_classes"][:, 0]
    assert (predicted == labels).mean() > 0.8
