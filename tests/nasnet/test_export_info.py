"""ExportInfo: a versioned JSON round trip, and every malformed record refused by field."""

import copy
import json
import math

import pytest

from nasnet import export_info
from nasnet.export_info import ClassificationDetails, DetectionDetails, ExportInfo

CLASSIFIER = {
    "format_version": 1, "task": "classification", "architecture": "nasnet_a",
    "genotype_fingerprint": "0123456789abcdef", "size": "1@48", "input_size": [16, 16, 3],
    "num_classes": 10, "parameters": 1234, "mult_adds": 5678,
    "signatures": {"serving_images": "images: uint8 [B, H, W, 3]",
                   "serving_bytes": "images: string [B]"},
    "outputs": ["probabilities", "logits", "top_k_classes", "top_k_probabilities"],
    "dataset": "digits", "source_run": "/runs/a", "checkpoint": "/runs/a/final/ckpt",
    "created_at": "2026-11-30T08:00:00+00:00",
    "framework_versions": {"python": "3.11.2", "tensorflow": "2.20.0"},
    "classification": {"top_k": 5, "preprocessing": "resize"}, "detection": None,
}
DETECTOR = {
    **CLASSIFIER, "task": "detection", "num_classes": 4, "mult_adds": None,
    "signatures": {"serving_default": "inputs: uint8 [B, H, W, 3]"},
    "outputs": ["detection_boxes", "detection_classes", "detection_scores", "num_detections"],
    "classification": None,
    "detection": {"detector": "Faster R-CNN + FPN", "backbone": "nasnet nasnet_a 1@48",
                  "backbone_parameters": 1000, "box_format": "ymin, xmin, ymax, xmax",
                  "categories": {"1": "rectangle", "2": "ellipse"}},
}


def _write(tmp_path, data, name="export_info.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


@pytest.mark.parametrize("data", [CLASSIFIER, DETECTOR], ids=["classifier", "detector"])
def test_round_trip(data, tmp_path):
    info = ExportInfo.from_dict(data)
    assert info.to_dict() == data
    info.save(str(tmp_path / "export_info.json"))
    assert ExportInfo.load(str(tmp_path / "export_info.json")) == info
    assert json.loads((tmp_path / "export_info.json").read_text()) == data
    assert info.input_size == (16, 16, 3) and isinstance(info.outputs, tuple)
    with pytest.raises(TypeError):
        info.signatures["extra"] = "no"          # read-only


def test_a_hand_designed_network_has_no_fingerprint():
    info = ExportInfo.from_dict({**CLASSIFIER, "genotype_fingerprint": None,
                                 "architecture": "resnet50", "size": None})
    assert info.genotype_fingerprint is None and info.to_dict()["genotype_fingerprint"] is None


def test_optional_fields_may_be_left_out():
    data = {k: v for k, v in CLASSIFIER.items()
            if k not in ("size", "mult_adds", "dataset", "source_run", "checkpoint", "detection")}
    info = ExportInfo.from_dict(data)
    assert (info.size, info.mult_adds, info.dataset, info.detection) == (None, None, None, None)
    detection = {k: v for k, v in DETECTOR["detection"].items() if k != "categories"}
    assert ExportInfo.from_dict({**DETECTOR, "detection": detection}).detection.categories is None


def test_helpers():
    assert export_info.utc_now().endswith("+00:00")
    versions = export_info.framework_versions(("pytest", "surely-not-installed-package"))
    assert set(versions) == {"python", "pytest"}


def _set(path, value):
    def edit(data):
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        if value is _DELETE:
            del data[last]
        else:
            data[last] = value
    return edit


_DELETE = object()

BAD = [
    ("task", "segmentation", "field 'task' must be one of"),
    ("architecture", "", "field 'architecture' must be a non-empty string"),
    ("genotype_fingerprint", 7, "field 'genotype_fingerprint' must be a non-empty string or null"),
    ("size", "", "field 'size' must be a non-empty string or null"),
    ("dataset", ["digits"], "field 'dataset' must be"),
    ("source_run", 3, "field 'source_run' must be"),
    ("checkpoint", "", "field 'checkpoint' must be"),
    ("input_size", [16, 16], "field 'input_size' must be .height, width, channels."),
    ("input_size", [16, True, 3], "field 'input_size' must be"),
    ("input_size", [16, 0, 3], "field 'input_size' must be"),
    ("input_size", "16x16", "field 'input_size' must be"),
    ("num_classes", True, "field 'num_classes' must be an integer >= 1, got True"),
    ("num_classes", 0, "field 'num_classes' must be an integer >= 1"),
    ("num_classes", 2.0, "field 'num_classes' must be an integer"),
    ("parameters", -1, "field 'parameters' must be an integer >= 0"),
    ("mult_adds", False, "field 'mult_adds' must be an integer >= 0 or null, got False"),
    ("signatures", {}, "field 'signatures' must be an object of strings"),
    ("signatures", {"serving_default": 3}, "field 'signatures' must be"),
    ("signatures", ["serving_default"], "field 'signatures' must be"),
    ("outputs", [], "field 'outputs' must be a non-empty list of distinct names"),
    ("outputs", ["logits", "logits"], "field 'outputs' must be"),
    ("outputs", "logits", "field 'outputs' must be"),
    ("created_at", "yesterday", "field 'created_at' must be an ISO 8601 time with a time zone"),
    ("created_at", "2026-11-30T08:00:00", "field 'created_at' must be an ISO 8601 time with a"),
    ("created_at", 1700000000, "field 'created_at' must be a non-empty string"),
    ("framework_versions", {"tensorflow": 2.2}, "field 'framework_versions' must be"),
    ("framework_versions", None, "field 'framework_versions' must be"),
    ("format_version", 2, "field 'format_version' must be 1 .the version this code reads., "
                          "got 2"),
    ("format_version", True, "field 'format_version' must be 1"),
    ("format_version", _DELETE, "field 'format_version' must be 1 .* got None"),
    ("colour", "blue", r"has unknown field\(s\) \['colour'\]"),
    ("task", _DELETE, r"is missing required field\(s\) \['task'\]"),
    ("genotype_fingerprint", _DELETE, r"missing required field\(s\) \['genotype_fingerprint'\]"),
    ("classification", None, "field 'classification' must hold the ClassificationDetails"),
    ("detection", DETECTOR["detection"], "field 'detection' must be null for a classification"),
    ("classification", "resize", "export_info.classification must be a JSON object"),
    ("classification.top_k", 0, "classification field 'top_k' must be an integer >= 1"),
    ("classification.top_k", 11, "classification field 'top_k' must be <= num_classes .10."),
    ("classification.preprocessing", None, "classification field 'preprocessing' must be"),
    ("classification.crop", 0.875, r"classification has unknown field\(s\) \['crop'\]"),
]

BAD_DETECTOR = [
    ("detection.detector", "", "detection field 'detector' must be a non-empty string"),
    ("detection.backbone", 1, "detection field 'backbone' must be"),
    ("detection.backbone_parameters", -5, "detection field 'backbone_parameters' must be"),
    ("detection.box_format", None, "detection field 'box_format' must be"),
    ("detection.categories", {"1": 2}, "detection field 'categories' must be an object of str"),
    ("detection.detector", _DELETE, r"detection is missing required field\(s\) \['detector'\]"),
]


@pytest.mark.parametrize("field, value, message", BAD + BAD_DETECTOR,
                         ids=[f"{f}={v!r}"[:60] for f, v, _ in BAD + BAD_DETECTOR])
def test_a_bad_record_is_refused_naming_the_file_and_field(tmp_path, field, value, message):
    data = copy.deepcopy(DETECTOR if (field, value, message) in BAD_DETECTOR else CLASSIFIER)
    _set(field, value)(data)
    path = _write(tmp_path, data)
    with pytest.raises(ValueError, match=message) as e:
        ExportInfo.load(path)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="missing.json: cannot read the export info"):
        ExportInfo.load(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="torn.json: not valid JSON"):
        ExportInfo.load(_write(tmp_path, "{torn", "torn.json"))
    with pytest.raises(ValueError, match="nan.json: not valid JSON: NaN is not a JSON value"):
        ExportInfo.load(_write(tmp_path, json.dumps({**CLASSIFIER, "parameters": math.nan}),
                               "nan.json"))
    with pytest.raises(ValueError, match="list.json: export_info must be a JSON object, got list"):
        ExportInfo.load(_write(tmp_path, "[]", "list.json"))


def test_construction_validates_too():
    with pytest.raises(ValueError, match="field 'top_k' must be an integer >= 1"):
        ClassificationDetails(top_k=0, preprocessing="resize")
    with pytest.raises(ValueError, match="field 'backbone_parameters' must be an integer"):
        DetectionDetails(detector="d", backbone="b", backbone_parameters=True, box_format="f")
