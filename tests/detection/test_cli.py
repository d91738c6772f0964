"""The detection binaries as a user runs them: exit codes, printed metrics, files.

The fast tests score detections files (no TensorFlow model). The slow test is
the README's offline demo in miniature: data -> train (2 steps) -> evaluate a
checkpoint -> export to the zoo -> evaluate the SavedModel -> draw.
"""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from detection_helpers import perfect_detections, tiny_coco, write_json  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(module, *args, timeout=1800):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("BUILD_WORKING_DIRECTORY", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_evaluate_scores_a_detections_file(tmp_path):
    gt = str(tmp_path / "gt.json")
    data = tiny_coco(gt)
    dets = write_json(str(tmp_path / "dets.json"), perfect_detections(data))
    out = tmp_path / "out"
    proc = _run("detection.evaluate", f"--annotation_file={gt}", f"--detections_json={dets}",
                f"--output_dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert "= 1.000   (AP)" in proc.stdout and "(ARl)" in proc.stdout
    assert json.load(open(out / "metrics.json"))["AP50"] == 1.0


def test_evaluate_bad_input_exits_2_without_metrics(tmp_path):
    gt = str(tmp_path / "gt.json")
    data = tiny_coco(gt)
    dets = perfect_detections(data)
    dets[0]["image_id"] = 4242
    path = write_json(str(tmp_path / "dets.json"), dets)
    out = tmp_path / "out"
    proc = _run("detection.evaluate", f"--annotation_file={gt}", f"--detections_json={path}",
                f"--output_dir={out}")
    assert proc.returncode == 2
    assert f"error: detections file {path!r}: 1 image id(s) of the detections are not in " \
        f"the annotation file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    proc = _run("detection.evaluate", f"--annotation_file={tmp_path / 'missing.json'}",
                f"--detections_json={path}", f"--output_dir={out}")
    assert proc.returncode == 2 and "annotation file" in proc.stderr and not out.exists()


def _one_line_error(proc, *parts):
    """Exit 2, one ``<binary>: error:`` line containing ``parts``, no traceback."""
    lines = [line for line in proc.stderr.strip().splitlines() if ": error: " in line]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])


def test_evaluate_refuses_an_output_dir_it_cannot_write_before_scoring(tmp_path):
    gt = str(tmp_path / "gt.json")
    dets = write_json(str(tmp_path / "dets.json"), perfect_detections(tiny_coco(gt)))
    a_file = tmp_path / "metrics_here"
    a_file.write_text("a file")
    proc = _run("detection.evaluate", f"--annotation_file={gt}", f"--detections_json={dets}",
                f"--output_dir={a_file}")
    _one_line_error(proc, f"output directory {str(a_file)!r} is a file, not a directory")
    proc = _run("detection.evaluate", f"--annotation_file={gt}", f"--detections_json={dets}",
                "--output_dir=/proc/nasnet_eval")
    _one_line_error(proc, "output directory '/proc/nasnet_eval' is not writable")
    # Checked first: even with a bad annotation file the output directory is what is named.
    proc = _run("detection.evaluate", f"--annotation_file={tmp_path}",
                f"--detections_json={dets}", f"--output_dir={a_file}/sub")
    _one_line_error(proc, "cannot be created", "is a file")
    assert a_file.read_text() == "a file"


def test_evaluate_names_a_directory_or_binary_file_given_as_input(tmp_path):
    gt = str(tmp_path / "gt.json")
    dets = write_json(str(tmp_path / "dets.json"), perfect_detections(tiny_coco(gt)))
    out = tmp_path / "out"
    proc = _run("detection.evaluate", f"--annotation_file={tmp_path}",
                f"--detections_json={dets}", f"--output_dir={out}")
    _one_line_error(proc, f"annotation file {str(tmp_path)!r} is a directory, not a file")
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(bytes(range(256)))
    proc = _run("detection.evaluate", f"--annotation_file={gt}",
                f"--detections_json={garbage}", f"--output_dir={out}")
    _one_line_error(proc, f"detections file {str(garbage)!r} is not a text file", "UTF-8")
    assert not out.exists()


@pytest.mark.slow
def test_offline_demo_in_miniature(tmp_path):
    data, run, zoo = tmp_path / "shapes", tmp_path / "run", tmp_path / "zoo"
    proc = _run("detection.data", "shapes", f"--output_dir={data}", "--num_train=8",
                "--num_val=4", "--image_size=64", "--shards=1")
    assert proc.returncode == 0, proc.stderr
    override = ("task.model.input_size=[64,64,3],task.train_data.global_batch_size=2,"
                "task.validation_data.global_batch_size=2,trainer.train_steps=2,"
                "trainer.steps_per_loop=1,trainer.checkpoint_interval=2")
    proc = _run("detection.train", "--experiment=fasterrcnn_nasnet_fpn_shapes",
                f"--data_dir={data}", f"--model_dir={run}", f"--params_override={override}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.path.exists(run / "ckpt-2.index")
    gt, images = str(data / "instances_val.json"), str(data / "images" / "val")
    proc = _run("detection.evaluate", f"--checkpoint={run}", f"--annotation_file={gt}",
                f"--images={images}", f"--output_dir={run / 'eval'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt_metrics = json.load(open(run / "eval" / "metrics.json"))
    assert ckpt_metrics["step"] == 2
    proc = _run("detection.export", f"--model_dir={run}", f"--export_dir={run / 'export'}",
                f"--metrics_file={run / 'eval' / 'metrics.json'}", f"--annotation_file={gt}",
                "--zoo_name=demo_shapes", f"--zoo_dir={zoo}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.path.isfile(zoo / "demo_shapes" / "manifest.json")
    proc = _run("detection.evaluate", f"--saved_model={zoo / 'demo_shapes'}",
                f"--annotation_file={gt}", f"--images={data / 'val*'}",
                f"--output_dir={run / 'eval_saved'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved_metrics = json.load(open(run / "eval_saved" / "metrics.json"))
    for name in ("AP", "AP50", "ARmax100"):
        assert saved_metrics[name] == pytest.approx(ckpt_metrics[name], abs=1e-3)
    proc = _run("detection.draw", f"--saved_model={run / 'export'}", f"--annotation_file={gt}",
                f"--images={images}", f"--output_dir={run / 'drawn'}", "--num_images=2",
                "--min_score=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len([f for f in os.listdir(run / "drawn") if f.endswith(".png")]) == 2


@pytest.mark.parametrize("module, args, message", [
    ("detection.evaluate", ["--annotation_file=a.json", "--output_dir=o"],
     "give exactly one of --detections_json, --checkpoint, --saved_model (got none)"),
    ("detection.evaluate", ["--annotation_file=a.json", "--output_dir=o", "--checkpoint=c",
                            "--saved_model=s"], "give exactly one of"),
    ("detection.evaluate", ["--annotation_file=a.json", "--output_dir=o", "--saved_model=s"],
     "--images (image directory or TFRecord pattern) is needed"),
    ("detection.evaluate", ["--annotation_file=a.json", "--output_dir=o", "--images=i",
                            "--checkpoint=/no/ckpt-1", "--wait"],
     "--wait needs a checkpoint directory"),
    ("detection.draw", ["--annotation_file=a.json", "--images=i", "--output_dir=o"],
     "give exactly one of --saved_model and --detections_json"),
    ("detection.data", ["coco", "--output_dir=o"], "coco needs --annotations and --images"),
])
def test_binaries_reject_bad_flags(tmp_path, module, args, message):
    proc = _run(module, *[a.replace("=o", f"={tmp_path / 'o'}") for a in args])
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
