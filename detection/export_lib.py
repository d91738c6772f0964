"""Export a trained detector: a SavedModel (the Model Garden's export library) and its records.

Layout of an export directory (``nasnet.artifacts``; written whole through
``nasnet.io_utils.atomic_directory``)::

    saved_model/        official.vision export (``export_saved_model_lib``) of
                        ``detection.serving.DetectionServing``
    params.yaml         the experiment config (written by that library)
    config.json         the same config as JSON
    genotype.json       the backbone's architecture (``nasnet.genotype``)
    label_map.json      {category id: name} when an annotation file was given
    metrics.json        the COCO metrics of the evaluation job ({} when unknown)
    export_info.json    ``nasnet.export_info.ExportInfo``: task "detection", input
                        size, classes, parameters, signature, outputs, the
                        detector and backbone, categories, provenance

The signature ``serving_default`` and its outputs are described in
``detection.serving``. The model zoo (``model_zoo.registry.Zoo.add``, or
``//detection:export --zoo_name``) takes the directory as it is.

Example:
    >>> params = configs.load_experiment(model_dir="/runs/shapes")
    >>> export_detector(params, "/runs/shapes/ckpt-1200", "/runs/shapes/export",
    ...                 metrics_file="/runs/shapes/eval/metrics.json")
"""

from __future__ import annotations

import json
import os
from typing import Any

from official.vision.serving import export_saved_model_lib

from detection import backbone as nasnet_backbone
from detection import coco_data, configs, serving
from nasnet import io_utils
from nasnet.artifacts import (CONFIG_FILE, EXPORT_INFO_FILE, GENOTYPE_FILE, LABEL_MAP_FILE,
                              METRICS_FILE, SAVED_MODEL_DIR)
from nasnet.export_info import DETECTION, DetectionDetails, ExportInfo, framework_versions, utc_now

DETECTOR = "Faster R-CNN + FPN (official.vision MaskRCNNModel, no mask head)"
BOX_FORMAT = "ymin, xmin, ymax, xmax in input-image pixels"
#: The packages whose versions an export records.
FRAMEWORKS = ("tensorflow", "tf-keras", "tf-models-official")


def _label_map(annotation_file: str | None) -> dict[str, str] | None:
    if not annotation_file:
        return None
    coco = coco_data.load_ground_truth(annotation_file)
    return {str(c["id"]): c["name"] for c in coco.dataset["categories"]}


def _read_metrics(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    if not os.path.isfile(path):
        raise ValueError(f"metrics file {path!r} does not exist (run the evaluation job)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def export_detector(params, checkpoint: str, export_dir: str, *,
                    annotation_file: str | None = None, metrics_file: str | None = None,
                    source_run: str | None = None, overwrite: bool = False) -> str:
    """Writes the export directory of a trained detector; returns its absolute path.

    Everything is checked (checkpoint, metrics file, annotation file) before
    anything is written; the directory appears whole or not at all.
    """
    export_dir = os.path.abspath(export_dir)
    if os.path.exists(export_dir) and not overwrite:
        raise ValueError(f"export directory {export_dir!r} already exists "
                         f"(pass --overwrite to replace it)")
    if params.task.model.backbone.type != nasnet_backbone.BACKBONE_TYPE:
        raise ValueError(f"export_detector exports NASNet detectors; this experiment's "
                         f"backbone is {params.task.model.backbone.type!r}")
    metrics = _read_metrics(metrics_file)
    labels = _label_map(annotation_file)
    module = serving.serving_module(params)
    prefix = serving.restore(module.model, checkpoint, params)
    backbone = module.model.backbone
    with io_utils.atomic_directory(export_dir, overwrite=overwrite) as tmp:
        export_saved_model_lib.export_inference_graph(
            input_type="image_tensor", batch_size=None,
            input_image_size=list(params.task.model.input_size[:2]), params=params,
            checkpoint_path=None, export_dir=tmp, export_module=module,
            export_saved_model_subdir=SAVED_MODEL_DIR)
        genotype = backbone.genotype
        genotype.save(os.path.join(tmp, GENOTYPE_FILE))
        io_utils.atomic_write_json(os.path.join(tmp, CONFIG_FILE), params.as_dict())
        io_utils.atomic_write_json(os.path.join(tmp, METRICS_FILE), metrics)
        if labels is not None:
            io_utils.atomic_write_json(os.path.join(tmp, LABEL_MAP_FILE), labels)
        model_cfg = params.task.model
        info = ExportInfo(
            task=DETECTION,
            architecture=genotype.name or "custom",
            genotype_fingerprint=genotype.fingerprint(),
            size=backbone.backbone_config.size,
            input_size=tuple(int(d) for d in model_cfg.input_size),
            num_classes=int(model_cfg.num_classes),
            parameters=int(module.model.count_params()),
            mult_adds=None,
            signatures={"serving_default": "inputs: uint8 [B, H, W, 3]"},
            outputs=serving.OUTPUTS,
            dataset=str(params.task.validation_data.tfds_name
                        or params.task.validation_data.input_path) or None,
            source_run=source_run,
            checkpoint=os.path.abspath(prefix),
            created_at=utc_now(),
            framework_versions=framework_versions(FRAMEWORKS),
            detection=DetectionDetails(
                detector=DETECTOR, backbone=configs.describe_backbone(params),
                backbone_parameters=int(backbone.count_params()), box_format=BOX_FORMAT,
                categories=labels))
        info.save(os.path.join(tmp, EXPORT_INFO_FILE))
    return export_dir
