"""``export_info.json``: the typed record of one exported model, written by the exporters
and read by the model zoo.

An export directory (``nasnet.artifacts``) holds a SavedModel and, beside it,
this record: what the model is, what it takes and returns, where it came from.
``transfer.export`` (classifiers) and ``detection.export_lib`` (detectors)
write it; ``model_zoo.registry.Zoo.add`` reads it to make an entry's manifest.

Fields, and why each is there:

* ``task``: ``"classification"`` or ``"detection"``: which signatures and
  outputs to expect; each task has its own details record (``classification``
  or ``detection``; the other is None).
* ``architecture``: the genotype's name (``nasnet_a``), ``"custom"`` for a
  searched cell, or a hand-designed network's name.
* ``genotype_fingerprint``: ``Genotype.fingerprint()`` of the export's
  ``genotype.json``, the architecture id everywhere; None for a hand-designed
  network, whose export has no ``genotype.json``.
* ``size``: ``"N@P"`` of a NASNet network (None when not a NASNet).
* ``input_size``: ``[height, width, channels]`` the model was trained at.
* ``num_classes``, ``parameters``, ``mult_adds`` (None when not counted).
* ``signatures``: ``{signature name: its input}``; ``outputs``: the output names.
* ``dataset``, ``source_run``, ``checkpoint``: provenance (None when unknown).
* ``created_at``: ISO 8601 with a time zone; ``framework_versions``:
  ``{"python": ..., "tensorflow": ..., ...}`` of the exporting process, so a
  SavedModel that fails to load later can be traced to a version change.

Reading is strict: an unknown key, a missing required key, a wrong type
(booleans are not integers) or another ``format_version`` is a ValueError
naming the file and the field. The validation is written out here, as in
``nasnet.genotype`` and ``model_zoo.registry.Manifest``, rather than taken
from a schema library: the record is small, the kernel stays free of extra
dependencies, and every message names the field in one line.

Example:
    >>> info = ExportInfo(
    ...     task="classification", architecture="nasnet_a",
    ...     genotype_fingerprint=genotype.fingerprint(), size="1@48",
    ...     input_size=(16, 16, 3), num_classes=10, parameters=1234, mult_adds=None,
    ...     signatures={"serving_images": "images: uint8 [B, H, W, 3]"},
    ...     outputs=("probabilities",), created_at=utc_now(),
    ...     framework_versions=framework_versions(("tensorflow",)),
    ...     classification=ClassificationDetails(top_k=5, preprocessing="resize"))
    >>> info.save("/tmp/export/export_info.json")
    >>> ExportInfo.load("/tmp/export/export_info.json") == info
    True
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import platform
import types
from typing import Any, Iterable, Mapping

from nasnet import io_utils

FORMAT_VERSION = 1
CLASSIFICATION = "classification"
DETECTION = "detection"
TASKS = (CLASSIFICATION, DETECTION)


# -- field checks: each names the field and the bad value ---------------------------
def _where(record: str, field: str) -> str:
    return f"{record} field {field!r}"


def _check_str(record: str, field: str, value: Any, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        kind = "a non-empty string or null" if optional else "a non-empty string"
        raise ValueError(f"{_where(record, field)} must be {kind}, got {value!r}")


def _check_int(record: str, field: str, value: Any, minimum: int,
               optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = f"an integer >= {minimum}" + (" or null" if optional else "")
        raise ValueError(f"{_where(record, field)} must be {kind}, got {value!r}")


def _frozen_str_map(record: str, field: str, value: Any, optional: bool = False,
                    allow_empty: bool = False) -> Mapping[str, str] | None:
    if value is None and optional:
        return None
    if not isinstance(value, Mapping) or (not value and not allow_empty) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in value.items()):
        kind = "an object of strings" + ("" if allow_empty else " (non-empty)")
        raise ValueError(f"{_where(record, field)} must be {kind}"
                         f"{' or null' if optional else ''}, got {value!r}")
    return types.MappingProxyType(dict(sorted(value.items())))


def _expect_keys(record: str, data: Any, cls: type) -> None:
    """Unknown and missing keys of a JSON object read as ``cls``."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{record} must be a JSON object, got {type(data).__name__}")
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    unknown = sorted(set(data) - names - {"format_version"})
    if unknown:
        raise ValueError(f"{record} has unknown field(s) {unknown} (known: {sorted(names)})")
    missing = sorted(f.name for f in fields if f.name not in data
                     and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    if missing:
        raise ValueError(f"{record} is missing required field(s) {missing}")


@dataclasses.dataclass(frozen=True)
class ClassificationDetails:
    """A classifier's serving details: ``top_k`` classes returned, the evaluation
    preprocessing the signatures apply (``transfer.config.PREPROCESSING``)."""

    top_k: int
    preprocessing: str

    def __post_init__(self):
        _check_int("export_info.classification", "top_k", self.top_k, 1)
        _check_str("export_info.classification", "preprocessing", self.preprocessing)

    def to_dict(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "preprocessing": self.preprocessing}

    @classmethod
    def from_dict(cls, data: Any) -> "ClassificationDetails":
        _expect_keys("export_info.classification", data, cls)
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class DetectionDetails:
    """A detector's details: the detector and backbone in words, the backbone's
    parameters, the box format of ``detection_boxes`` and ``{category id: name}``
    (None when no annotation file named them)."""

    detector: str
    backbone: str
    backbone_parameters: int
    box_format: str
    categories: Mapping[str, str] | None = None

    def __post_init__(self):
        record = "export_info.detection"
        _check_str(record, "detector", self.detector)
        _check_str(record, "backbone", self.backbone)
        _check_int(record, "backbone_parameters", self.backbone_parameters, 0)
        _check_str(record, "box_format", self.box_format)
        object.__setattr__(self, "categories", _frozen_str_map(
            record, "categories", self.categories, optional=True))

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "backbone": self.backbone,
                "backbone_parameters": self.backbone_parameters,
                "box_format": self.box_format,
                "categories": None if self.categories is None else dict(self.categories)}

    @classmethod
    def from_dict(cls, data: Any) -> "DetectionDetails":
        _expect_keys("export_info.detection", data, cls)
        return cls(**data)


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """The record of one export (see the module docstring for each field)."""

    task: str
    architecture: str
    genotype_fingerprint: str | None
    input_size: tuple[int, ...]
    num_classes: int
    parameters: int
    signatures: Mapping[str, str]
    outputs: tuple[str, ...]
    created_at: str
    framework_versions: Mapping[str, str]
    size: str | None = None
    mult_adds: int | None = None
    dataset: str | None = None
    source_run: str | None = None
    checkpoint: str | None = None
    classification: ClassificationDetails | None = None
    detection: DetectionDetails | None = None

    def __post_init__(self):
        record = "export_info"
        if self.task not in TASKS:
            raise ValueError(f"{_where(record, 'task')} must be one of {list(TASKS)}, "
                             f"got {self.task!r}")
        _check_str(record, "architecture", self.architecture)
        _check_str(record, "genotype_fingerprint", self.genotype_fingerprint, optional=True)
        for field in ("size", "dataset", "source_run", "checkpoint"):
            _check_str(record, field, getattr(self, field), optional=True)
        size = self.input_size
        if (not isinstance(size, (tuple, list)) or len(size) != 3
                or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                           for d in size)):
            raise ValueError(f"{_where(record, 'input_size')} must be [height, width, channels] "
                             f"of positive integers, got {size!r}")
        object.__setattr__(self, "input_size", tuple(size))
        _check_int(record, "num_classes", self.num_classes, 1)
        _check_int(record, "parameters", self.parameters, 0)
        _check_int(record, "mult_adds", self.mult_adds, 0, optional=True)
        object.__setattr__(self, "signatures",
                           _frozen_str_map(record, "signatures", self.signatures))
        outputs = self.outputs
        if (not isinstance(outputs, (tuple, list)) or not outputs
                or not all(isinstance(o, str) and o for o in outputs)
                or len(set(outputs)) != len(outputs)):
            raise ValueError(f"{_where(record, 'outputs')} must be a non-empty list of distinct "
                             f"names, got {outputs!r}")
        object.__setattr__(self, "outputs", tuple(outputs))
        _check_str(record, "created_at", self.created_at)
        try:
            created = datetime.datetime.fromisoformat(self.created_at)
        except ValueError:
            created = None
        if created is None or created.tzinfo is None:
            raise ValueError(f"{_where(record, 'created_at')} must be an ISO 8601 time with a "
                             f"time zone, got {self.created_at!r}")
        object.__setattr__(self, "framework_versions", _frozen_str_map(
            record, "framework_versions", self.framework_versions, allow_empty=True))
        self._check_details()

    def _check_details(self) -> None:
        expected = {CLASSIFICATION: ClassificationDetails, DETECTION: DetectionDetails}
        for task, cls in expected.items():
            value = getattr(self, task)
            if task == self.task:
                if not isinstance(value, cls):
                    raise ValueError(f"{_where('export_info', task)} must hold the "
                                     f"{cls.__name__} of a {task} export, got {value!r}")
            elif value is not None:
                raise ValueError(f"{_where('export_info', task)} must be null for a "
                                 f"{self.task} export, got {value!r}")
        if self.classification is not None and self.classification.top_k > self.num_classes:
            raise ValueError(f"export_info.classification field 'top_k' must be <= num_classes "
                             f"({self.num_classes}), got {self.classification.top_k}")

    # -- JSON ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format_version": FORMAT_VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, (ClassificationDetails, DetectionDetails)):
                value = value.to_dict()
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            data[field.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "ExportInfo":
        """Strict: the keys of ``to_dict``; ValueError naming the bad field."""
        _expect_keys("export_info", data, cls)
        version = data.get("format_version")
        if isinstance(version, bool) or version != FORMAT_VERSION:
            raise ValueError(f"export_info field 'format_version' must be {FORMAT_VERSION} "
                             f"(the version this code reads), got {version!r}")
        values = {k: v for k, v in data.items() if k != "format_version"}
        for key, details in (("classification", ClassificationDetails),
                             ("detection", DetectionDetails)):
            if values.get(key) is not None:
                values[key] = details.from_dict(values[key])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save(self, path: str) -> None:
        """Writes ``path`` atomically."""
        io_utils.atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str) -> "ExportInfo":
        """Reads ``path``; every error is one ValueError line naming the file."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f, parse_constant=_no_constants)
        except OSError as e:
            raise ValueError(f"{path}: cannot read the export info: {e.strerror}") from None
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{path}: not valid JSON: {e}") from None
        try:
            return cls.from_dict(data)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None


def _no_constants(name: str) -> float:
    """json's NaN / Infinity are not JSON: refuse them."""
    raise ValueError(f"{name} is not a JSON value")


def utc_now() -> str:
    """The current time, ISO 8601 in UTC to the second (``created_at``)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def framework_versions(packages: Iterable[str]) -> dict[str, str]:
    """``{"python": ..., package: installed version, ...}``; a package that is not
    installed is left out. Reads package metadata: imports nothing."""
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
