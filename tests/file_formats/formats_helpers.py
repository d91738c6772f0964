"""Every file format users feed the pipeline: a valid document of each, and how it is read.

``FORMATS`` maps a name to a ``Format``: ``valid()`` builds a fresh valid
document (a JSON value), ``write(root, raw)`` puts raw bytes where the reader
looks, and ``read(root)`` runs the real reader on it, as the binaries do.
The readers must either succeed or raise ValueError (ZooError is one).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable

from detection import evaluate_lib
from model_zoo import registry
from nasnet import genotype_source, known_genotypes
from nasnet.export_info import ClassificationDetails, ExportInfo
from nasnet.genotype import Genotype
from search_cifar import strategies, trial_store
from search_cifar.space import NasnetCellSpace

GENOTYPE = known_genotypes.NASNET_A


def genotype_doc() -> dict:
    return json.loads(GENOTYPE.to_json())


def trial_doc() -> dict:
    genotype = json.loads(GENOTYPE.to_json())
    return trial_store.Trial(
        id=3, choices=(1, 0, 2), key=GENOTYPE.fingerprint(), status="ok", reward=0.5,
        evaluation=2, genotype=genotype, duration=1.5, finished_at=1.7e9,
        metrics={"history": [{"val_accuracy": 0.5, "loss": 1.0}], "cpu_seconds": 3.0},
    ).to_dict()


def strategy():
    """The quickstart's kind of strategy on a small space (what a search resumes)."""
    space = NasnetCellSpace(num_blocks=2, ops=("identity", "sep_conv_3x3"))
    return strategies.make("evolution", space, seed=0, population_size=4, tournament_size=2)


def state_doc() -> dict:
    asked = strategy()
    asked.tell(asked.ask(), 0.5)
    asked.ask()                                          # one pending proposal
    return json.loads(json.dumps({"format_version": 1, "strategy": asked.get_state()}))


def export_info_doc() -> dict:
    return ExportInfo(
        task="classification", architecture="nasnet_a",
        genotype_fingerprint=GENOTYPE.fingerprint(), size="1@48", input_size=(16, 16, 3),
        num_classes=10, parameters=1234, mult_adds=5678,
        signatures={"serving_images": "images: uint8 [B, H, W, 3]"},
        outputs=("probabilities",), created_at="2026-11-30T09:00:00+00:00",
        framework_versions={"python": "3.11"},
        classification=ClassificationDetails(top_k=5, preprocessing="resize")).to_dict()


def manifest_doc() -> dict:
    return registry.Manifest(
        name="entry", task="classification", architecture="nasnet_a",
        genotype_fingerprint=GENOTYPE.fingerprint(), input_size=(16, 16, 3),
        files=(registry.FileRecord(path="genotype.json", sha256="0" * 64, size=10),),
        created_at="2026-11-30T09:00:00+00:00", num_classes=10, parameters=1234,
        mult_adds=5678, metrics={"top1": 0.5}, source_run="/runs/a",
        signatures=("serving_images",), size="1@48").to_dict()


def coco_doc() -> dict:
    images = [{"id": i, "file_name": f"{i:06d}.jpg", "height": 64, "width": 80} for i in (1, 2)]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 5, 20, 18], "area": 360.0,
         "iscrowd": 0, "segmentation": [[4, 5, 24, 5, 24, 23, 4, 23]]},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10, 10, 30, 20], "area": 600.0,
         "iscrowd": 0}]
    return {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "rectangle"}, {"id": 2, "name": "ellipse"}]}


def detections_doc() -> list:
    return [{"image_id": a["image_id"], "category_id": a["category_id"],
             "bbox": list(a["bbox"]), "score": 0.9} for a in coco_doc()["annotations"]]


def write_bytes(path: str, raw: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(raw)
    return path


def dump(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


# -- where each document goes, and the reader the binaries use ---------------------------
def _read_trials(root: str):
    return trial_store.load_trials(os.path.join(root, "search"))


def _read_state(root: str):
    """The state file, then the strategy restored from it, as a resumed search does."""
    state = trial_store.TrialStore(os.path.join(root, "search")).load_state()
    strategy().set_state(state)
    return state


def _read_manifest(root: str):
    zoo = registry.Zoo(os.path.join(root, "zoo"))
    zoo.list()                                   # lists a broken entry, never raises
    report = zoo.check_files("entry")            # reports problems, never raises
    assert isinstance(report.problems, list)
    try:
        genotype_source.zoo_genotype("entry", zoo.root)
    except ValueError:
        pass
    return zoo.manifest("entry")


def _read_export_info(root: str):
    """``ExportInfo.load``, then what the zoo does with it: ``Zoo.add`` of the export."""
    export = os.path.join(root, "export")
    info = ExportInfo.load(os.path.join(export, "export_info.json"))
    write_bytes(os.path.join(export, "saved_model", "saved_model.pb"), b"placeholder graph")
    GENOTYPE.save(os.path.join(export, "genotype.json"))
    registry.Zoo(os.path.join(root, "zoo")).add(export, "entry")
    return info


def _read_coco(root: str):
    """The whole evaluation: annotations, then scoring valid detections of them."""
    dets = write_bytes(os.path.join(root, "dets.json"), dump(detections_doc()))
    return evaluate_lib.evaluate_detections_file(os.path.join(root, "instances.json"), dets,
                                                 os.path.join(root, "eval"))


def _read_detections(root: str):
    gt = write_bytes(os.path.join(root, "gt.json"), dump(coco_doc()))
    return evaluate_lib.evaluate_detections_file(gt, os.path.join(root, "detections.json"),
                                                 os.path.join(root, "eval"))


@dataclasses.dataclass(frozen=True)
class Format:
    valid: Callable[[], Any]
    relpath: str                        # where the document is written under a root
    read: Callable[[str], Any]          # the real reader, given the root

    def write(self, root: str, raw: bytes) -> str:
        return write_bytes(os.path.join(root, self.relpath), raw)


FORMATS: dict[str, Format] = {
    "genotype": Format(genotype_doc, "genotype.json",
                       lambda root: Genotype.load(os.path.join(root, "genotype.json"))),
    "trial record": Format(trial_doc, "search/trials/000003.json", _read_trials),
    "search state": Format(state_doc, "search/state.json", _read_state),
    "zoo manifest": Format(manifest_doc, "zoo/entry/manifest.json", _read_manifest),
    "export info": Format(export_info_doc, "export/export_info.json", _read_export_info),
    "COCO annotations": Format(coco_doc, "instances.json", _read_coco),
    "COCO detections": Format(detections_doc, "detections.json", _read_detections),
}

#: Where a reader writes its results (metrics, a zoo entry): after a ValueError there
#: must be nothing there, not even a temporary.
OUTPUTS = {"COCO annotations": "eval", "COCO detections": "eval", "export info": "zoo"}


def files_under(root: str) -> list[str]:
    """Every file and directory under ``root``, relative to it."""
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, dirs, files in os.walk(root) for n in dirs + files)
