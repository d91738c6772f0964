"""Fake export directories (no TensorFlow) and the zoo binary in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nasnet import known_genotypes
from nasnet.export_info import ClassificationDetails, DetectionDetails, ExportInfo, utc_now

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fake_export(path, genotype=known_genotypes.NASNET_A, task="classification") -> str:
    """An export directory whose SavedModel is placeholder bytes: enough for
    checksums, manifests and refusals (not for loading). ``genotype=None`` makes
    the export of a hand-designed network (no genotype.json, no fingerprint)."""
    path = str(path)
    os.makedirs(os.path.join(path, "saved_model", "variables"))
    with open(os.path.join(path, "saved_model", "saved_model.pb"), "wb") as f:
        f.write(b"placeholder graph")
    with open(os.path.join(path, "saved_model", "variables", "variables.index"), "wb") as f:
        f.write(b"placeholder index")
    if genotype is not None:
        genotype.save(os.path.join(path, "genotype.json"))
    with open(os.path.join(path, "metrics.json"), "w") as f:
        json.dump({"top1": 0.5, "top5": 0.9}, f)
    details = {"classification": ClassificationDetails(top_k=5, preprocessing="resize")}
    if task == "detection":
        details = {"detection": DetectionDetails(
            detector="Faster R-CNN + FPN", backbone="nasnet", backbone_parameters=100,
            box_format="ymin, xmin, ymax, xmax in input-image pixels")}
    ExportInfo(
        task=task,
        architecture=(genotype.name or "custom") if genotype is not None else "hand_designed",
        genotype_fingerprint=genotype.fingerprint() if genotype is not None else None,
        size="1@48", input_size=(16, 16, 3), num_classes=10, parameters=1234, mult_adds=5678,
        signatures={"serving_images": "images: uint8 [B, H, W, 3]",
                    "serving_bytes": "images: string [B]"},
        outputs=("probabilities", "logits", "top_k_classes", "top_k_probabilities"),
        source_run="/runs/fake", created_at=utc_now(),
        framework_versions={"python": "3.11"}, **details,
    ).save(os.path.join(path, "export_info.json"))
    return path


def run_zoo(args: list[str], zoo_dir: str, timeout: float = 300):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.run([sys.executable, "-m", "model_zoo.zoo", *args, f"--zoo_dir={zoo_dir}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
