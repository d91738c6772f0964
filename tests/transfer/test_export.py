"""Export: the SavedModel's two signatures equal the Keras model in a fresh process;
records beside it; refusals leave nothing half-written."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import train_helpers
from nasnet import known_genotypes, networks
from nasnet.export_info import ExportInfo
from transfer import data, export, trainer


def _keras_probabilities(model, images, image_size, preprocessing):
    inference = networks.inference_model(model)
    x = data.preprocess_for_eval(tf.constant(images), image_size, preprocessing)
    return tf.nn.softmax(inference(x, training=False)).numpy()


def test_serving_signatures_match_the_keras_model_in_a_fresh_process(one_device_run, tmp_path):
    run = one_device_run
    export_dir = export.export_from_workdir(run.workdir, str(tmp_path / "export"))
    names = sorted(os.listdir(export_dir))
    assert names == ["config.json", "export_info.json", "genotype.json", "metrics.json",
                     "saved_model"]
    with open(os.path.join(export_dir, "export_info.json")) as f:
        info = json.load(f)
    assert info["genotype_fingerprint"] == run.genotype.fingerprint()
    assert info["input_size"] == [16, 16, 3] and info["num_classes"] == 10
    assert info["parameters"] == networks.inference_model(run.model).count_params()
    assert info["mult_adds"] > 0 and info["classification"]["top_k"] == 5
    typed = ExportInfo.load(os.path.join(export_dir, "export_info.json"))
    assert typed.task == "classification" and typed.detection is None
    assert typed.classification.preprocessing == "resize"
    assert sorted(typed.signatures) == ["serving_bytes", "serving_images"]
    assert typed.framework_versions["tensorflow"] == tf.__version__
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []  # no temp left
    with open(os.path.join(export_dir, "metrics.json")) as f:
        assert json.load(f)["top1"] == run.metrics["top1"]

    # Digits at their stored size and random images of another size.
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (4, 20, 18, 3)).astype(np.uint8)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    np.save(inputs / "images.npy", images)
    jpeg_decoded = []
    for i, image in enumerate(images):
        (inputs / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
        jpeg = tf.io.encode_jpeg(image, quality=90).numpy()
        (inputs / f"{i}.jpg").write_bytes(jpeg)
        jpeg_decoded.append(tf.io.decode_jpeg(jpeg, channels=3).numpy())
    expected = _keras_probabilities(run.model, images, 16, "resize")
    expected_jpeg = _keras_probabilities(run.model, np.stack(jpeg_decoded), 16, "resize")

    out = tmp_path / "served.npz"
    proc = train_helpers.run_script(["serve", os.path.join(export_dir, "saved_model"),
                                     str(inputs), str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = np.load(out)
    for prefix, reference in (("images", expected), ("png", expected), ("jpg", expected_jpeg)):
        np.testing.assert_allclose(served[f"{prefix}_probabilities"], reference, atol=1e-5,
                                   err_msg=prefix)
        top = np.argsort(-reference, axis=1)[:, :5]
        np.testing.assert_array_equal(served[f"{prefix}_top_k_classes"], top)
        np.testing.assert_allclose(served[f"{prefix}_top_k_probabilities"],
                                   np.take_along_axis(reference, top, axis=1), atol=1e-5)


def test_export_from_a_training_checkpoint(one_device_run, tmp_path):
    backup = trainer.latest_backup(one_device_run.workdir)
    export_dir = export.export_from_checkpoint(backup, str(tmp_path / "from_ckpt"),
                                               count_mult_adds=False)
    with open(os.path.join(export_dir, "export_info.json")) as f:
        info = json.load(f)
    assert info["checkpoint"] == backup and info["mult_adds"] is None
    assert info["source_run"] == one_device_run.workdir


def test_export_refuses_an_existing_directory(one_device_run, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    with pytest.raises(ValueError, match="already exists"):
        export.export_from_workdir(one_device_run.workdir, str(target))
    assert os.listdir(target) == []


def test_export_needs_a_run_with_a_checkpoint(tmp_path, one_device_run):
    with pytest.raises(ValueError, match="is not a training work directory"):
        export.export_from_workdir(str(tmp_path), str(tmp_path / "out"))
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "genotype.json"):
        (run / name).write_bytes(open(os.path.join(one_device_run.workdir, name), "rb").read())
    with pytest.raises(ValueError, match="has no checkpoint yet"):
        export.export_from_workdir(str(run), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="cannot find the training run"):
        export.export_from_checkpoint(str(tmp_path / "elsewhere" / "ckpt-1"), str(tmp_path / "o"))
    with pytest.raises(ValueError, match="no checkpoint at"):
        export.restore_classifier(one_device_run.genotype, one_device_run.config,
                                  str(tmp_path / "ckpt-9"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


def test_a_checkpoint_of_another_architecture_is_refused(one_device_run):
    checkpoint = trainer.final_checkpoint(one_device_run.workdir)
    with pytest.raises(ValueError, match="does not hold this model's weights"):
        export.restore_classifier(known_genotypes.NASNET_A, one_device_run.config, checkpoint)
