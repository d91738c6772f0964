"""The model zoo: exported models on disk, each with a checksummed manifest.

Layout::

    <zoo_dir>/<name>/manifest.json     this entry's record (``Manifest``)
    <zoo_dir>/<name>/saved_model/...   the files the manifest lists, with sha256
    <zoo_dir>/<name>/genotype.json, config.json, metrics.json, export_info.json

The file names and the zoo directory (``$NASNET_ZOO_DIR``, else ``out/zoo``)
are ``nasnet.artifacts``'s. An entry is made from an export directory
(``transfer.export`` and ``detection.export_lib`` write one, each with a typed
``export_info.json``, ``nasnet.export_info.ExportInfo``): ``Zoo.add`` reads and
validates the export info, copies the export into a temporary directory
beside the entry (``nasnet.io_utils.atomic_directory``), checksums every
file, writes the manifest and renames the directory into place, so a reader
sees a whole entry or none. The manifest names the task, the design
(``"cell"``: a network of NASNet cells with its genotype; ``"hand-designed"``:
a network such as ResNet-50 trained by the same harness, with no genotype),
the genotype fingerprint (None for a hand-designed network, whose export has
no ``genotype.json``), the input size, parameters, mult-adds, metrics, the
files with their sha256 and sizes, the creation time and the source run.

``Zoo.verify`` re-hashes every file (a modified file is a checksum mismatch,
a missing one is reported by name, an unlisted one too), then loads the
SavedModel and runs one prediction. A manifest whose file paths leave the
entry directory (absolute paths, ``..``, symbolic links pointing out) is
refused. What the checksums prove: integrity against accidents (a torn copy,
a flipped bit, a file edited by mistake), not authenticity. Whoever can write
an entry can write its manifest too, and loading a SavedModel runs the graph
in it: an entry from someone else is code you run, to be trusted as such.

Reading a manifest is strict: unknown or missing keys and values of the
wrong JSON type (booleans are not integers, ``nasnet.json_types``) are
ZooErrors naming the field. ``remove`` refuses an entry that is a symbolic
link (the zoo deletes only what it holds). ``add`` and ``remove`` first
delete what killed ``add`` / ``remove`` calls left (``nasnet.io_utils.
remove_stale_temporaries``). The zoo directory may be a URL (``gs://bucket/
zoo``): everything goes through ``nasnet.filesystem`` (``tf.io.gfile``), and
an entry's ``manifest.json`` is written last, so an entry is listed only once
it is whole (an object store has no atomic directory rename).

The published architectures (``nasnet.known_genotypes``) are listed beside
the entries as architectures without weights: ``show`` (with the published
models of each and their figures, ``nasnet.published``), ``genotype`` and
``zoo:NAME`` genotype sources (``nasnet.genotype_source``, which reads an
entry's genotype without this module) work for them; ``load`` explains that
there are no weights.

Example:
    >>> zoo = Zoo("out/zoo")
    >>> zoo.add("/tmp/run/export", "digits_nasnet_a")
    >>> zoo.verify("digits_nasnet_a").ok
    True
    >>> model = load("digits_nasnet_a", zoo_dir="out/zoo")
    >>> model.classify_files(["seven.png"])[0]["top_k_classes"][0]
    7
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
from typing import Any, Iterable, Mapping

from nasnet import (artifacts, genotype_source, io_utils, json_types, known_genotypes, paths,
                    published)
from nasnet import filesystem as fs
from nasnet.artifacts import (EXPORT_INFO_FILE, GENOTYPE_FILE, MANIFEST_FILE, METRICS_FILE,
                              SAVED_MODEL_DIR)
from nasnet.export_info import ExportInfo, utc_now
from nasnet.genotype import Genotype

FORMAT_VERSION = 1

#: Where each published cell comes from.
_CELL_SOURCES = {
    "nasnet_a": "Zoph et al. 2018, Learning Transferable Architectures for Scalable Image "
                "Recognition; cells from tensorflow/models research/slim/nets/nasnet/"
                "nasnet_utils.py",
    "pnasnet_5": "Liu et al. 2018, Progressive Neural Architecture Search; cell from "
                 "tensorflow/models research/slim/nets/nasnet/pnasnet.py",
    "amoebanet_a": "Real et al. 2019, Regularized Evolution for Image Classifier Architecture "
                   "Search; cells from tensorflow/tpu models/official/amoeba_net/model_specs.py",
}

#: The manifest's ``design``: a network of NASNet cells, or a hand-designed one.
CELL = "cell"
HAND_DESIGNED = "hand-designed"
DESIGNS = (CELL, HAND_DESIGNED)


def _figure(figure: published.Figure) -> dict[str, Any]:
    return {"value": figure.value, "source": figure.source, "confidence": figure.confidence}


def _published_record(architecture: str) -> dict[str, Any]:
    """Source, skeleton and published models (``nasnet.published``) of a published cell."""
    return {
        "source": _CELL_SOURCES[architecture],
        "skeleton": known_genotypes.SKELETON_OF[architecture],
        "published_models": {
            m.name: {"preset": m.preset, "image_size": m.image_size, "size": m.size,
                     "parameters": _figure(m.parameters), "mult_adds": _figure(m.mult_adds),
                     "imagenet_top1": _figure(m.imagenet_top1),
                     "ours": {"parameters": m.ours_parameters, "mult_adds": m.ours_mult_adds}}
            for m in published.of_architecture(architecture)}}


#: Published architectures: source, skeleton and published models with their figures,
#: each labelled with where it comes from and how sure it is (``nasnet.published``).
PUBLISHED: dict[str, dict[str, Any]] = {name: _published_record(name)
                                        for name in known_genotypes.KNOWN}


class ZooError(ValueError):
    """A zoo operation that cannot proceed (unknown entry, bad manifest, ...)."""


class NoWeightsError(ZooError):
    """The name is a published architecture: it has a genotype but no weights."""


def check_name(name: str) -> str:
    """An entry name (``nasnet.artifacts.check_zoo_entry_name``); ZooError otherwise."""
    try:
        return artifacts.check_zoo_entry_name(name)
    except ValueError as e:
        raise ZooError(str(e)) from None


def check_relative_path(path: str) -> str:
    """A manifest file path: relative, normalised, inside the entry (no ``..``)."""
    if not isinstance(path, str) or not path:
        raise ZooError(f"manifest file path must be a non-empty string, got {path!r}")
    if os.path.isabs(path) or path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path):
        raise ZooError(f"manifest file path {path!r} is absolute: it escapes the entry "
                       f"directory, refused")
    parts = path.replace("\\", "/").split("/")
    if ".." in parts:
        raise ZooError(f"manifest file path {path!r} contains '..': it escapes the entry "
                       f"directory, refused")
    if any(p in ("", ".") for p in parts) or "\x00" in path:
        raise ZooError(f"manifest file path {path!r} is not normalised (empty or '.' "
                       f"component), refused")
    return path


def _inside(entry_dir: str, relpath: str) -> str:
    """The real path of ``relpath`` in ``entry_dir``; ZooError when links lead outside."""
    try:
        return artifacts.path_inside(entry_dir, relpath)
    except ValueError as e:
        raise ZooError(str(e)) from None


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with fs.open_file(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class FileRecord:
    """One file of an entry: path relative to the entry directory, sha256, bytes."""

    path: str
    sha256: str
    size: int

    def __post_init__(self):
        check_relative_path(self.path)
        if not isinstance(self.sha256, str) or not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ZooError(f"file {self.path!r}: sha256 must be 64 lowercase hex digits, "
                           f"got {self.sha256!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ZooError(f"file {self.path!r}: size must be a non-negative int, "
                           f"got {self.size!r}")


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The record of one zoo entry (``manifest.json``). ``genotype_fingerprint`` is
    None for a hand-designed network (its entry has no ``genotype.json``)."""

    name: str
    task: str
    architecture: str
    genotype_fingerprint: str | None
    input_size: tuple[int, ...]
    files: tuple[FileRecord, ...]
    created_at: str
    num_classes: int | None = None
    parameters: int | None = None
    mult_adds: int | None = None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    source_run: str | None = None
    signatures: tuple[str, ...] = ()
    size: str | None = None
    #: ``"cell"`` or ``"hand-designed"``; None (a manifest written before the field
    #: existed) is filled in from the fingerprint.
    design: str | None = None

    def __post_init__(self):
        check_name(self.name)
        expected = HAND_DESIGNED if self.genotype_fingerprint is None else CELL
        if self.design is None:
            object.__setattr__(self, "design", expected)
        elif self.design not in DESIGNS:
            raise ZooError(f"manifest design must be one of {list(DESIGNS)}, got {self.design!r}")
        elif self.design != expected:
            raise ZooError(f"manifest design {self.design!r} contradicts its genotype "
                           f"fingerprint {self.genotype_fingerprint!r} (a {CELL!r} network has "
                           f"one, a {HAND_DESIGNED!r} one has none)")
        for field in ("task", "architecture", "genotype_fingerprint", "created_at"):
            value = getattr(self, field)
            if value is None and field == "genotype_fingerprint":
                continue
            if not isinstance(value, str) or not value:
                raise ZooError(f"manifest {field} must be a non-empty string, got {value!r}")
        object.__setattr__(self, "input_size", tuple(self.input_size))
        if not self.input_size or not all(isinstance(d, int) and not isinstance(d, bool)
                                          and d > 0 for d in self.input_size):
            raise ZooError(f"manifest input_size must be positive ints, got {self.input_size!r}")
        for field in ("num_classes", "parameters", "mult_adds"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 0):
                raise ZooError(f"manifest {field} must be a non-negative integer or null, "
                               f"got {value!r}")
        for field in ("size", "source_run"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, str):
                raise ZooError(f"manifest {field} must be a string or null, got {value!r}")
        files = tuple(f if isinstance(f, FileRecord) else FileRecord(**f) for f in self.files)
        paths = [f.path for f in files]
        if len(set(paths)) != len(paths):
            raise ZooError(f"manifest lists a file twice: {sorted(paths)}")
        if MANIFEST_FILE in paths:
            raise ZooError(f"manifest must not list itself ({MANIFEST_FILE})")
        object.__setattr__(self, "files", files)
        object.__setattr__(self, "signatures", tuple(self.signatures))
        if not all(isinstance(s, str) for s in self.signatures):
            raise ZooError(f"manifest signatures must be names, got {list(self.signatures)!r}")
        if not isinstance(self.metrics, dict):
            raise ZooError(f"manifest metrics must be an object, got {self.metrics!r}")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["input_size"] = list(self.input_size)
        data["signatures"] = list(self.signatures)
        data["format_version"] = FORMAT_VERSION
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "Manifest":
        if not isinstance(data, Mapping):
            raise ZooError(f"a manifest must be a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if isinstance(version, bool) or version != FORMAT_VERSION:
            raise ZooError(f"unsupported manifest format_version {data.get('format_version')!r} "
                           f"(this code reads {FORMAT_VERSION})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names - {"format_version"})
        if unknown:
            raise ZooError(f"manifest has unknown key(s) {unknown}")
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.default is dataclasses.MISSING
                         and f.default_factory is dataclasses.MISSING and f.name not in data)
        if missing:
            raise ZooError(f"manifest is missing key(s) {missing}")
        values = {k: v for k, v in data.items() if k in names}
        if not isinstance(values["files"], list) or not all(
                isinstance(f, Mapping) and set(f) == {"path", "sha256", "size"}
                for f in values["files"]):
            raise ZooError("manifest 'files' must be a list of {path, sha256, size} objects")
        try:
            json_types.check(cls, data, "manifest")
        except ValueError as e:
            raise ZooError(str(e)) from None
        return cls(**values)


@dataclasses.dataclass
class VerifyReport:
    """What ``Zoo.verify`` found: ``ok`` when ``problems`` is empty."""

    name: str
    problems: list[str]
    files_checked: int = 0
    prediction: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            extra = ""
            if self.prediction:
                extra = f"; one prediction ran ({self.prediction.get('summary', 'ok')})"
            return f"OK {self.name}: {self.files_checked} files match their sha256{extra}"
        lines = [f"FAILED {self.name}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _walk_files(directory: str) -> list[str]:
    """Relative paths of the regular files under ``directory``; links are refused."""
    if not fs.uses_gfile(directory):
        for root, dirs, files in os.walk(directory):
            for name in dirs + files:
                full = os.path.join(root, name)
                if os.path.islink(full):
                    raise ZooError(f"{full!r} is a symbolic link; zoo entries hold plain "
                                   f"files only")
    try:
        return fs.relative_files(directory)
    except OSError as e:
        raise ZooError(f"cannot list {directory!r}: {e.strerror or e}") from None


def _read_json(path: str, what: str) -> Any:
    try:
        return io_utils.read_json(path, what)
    except ValueError as e:
        raise ZooError(str(e)) from None


class Zoo:
    """A zoo directory (``nasnet.artifacts.default_zoo_dir()`` when None)."""

    def __init__(self, root: str | None = None):
        self.root = paths.user_path(root) if root else artifacts.default_zoo_dir()

    # -- reading ----------------------------------------------------------------
    def entry_dir(self, name: str) -> str:
        return fs.join(self.root, check_name(name))

    def names(self) -> list[str]:
        """Entry names (directories with a manifest), sorted."""
        if not fs.isdir(self.root):
            return []
        return sorted(n for n in fs.listdir(self.root)
                      if artifacts.is_zoo_entry_name(n)
                      and fs.isfile(fs.join(self.root, n, MANIFEST_FILE)))

    def _unknown(self, name: str) -> ZooError:
        return ZooError(f"no zoo entry {name!r} in {self.root} (entries: {self.names()}; "
                        f"published architectures: {sorted(known_genotypes.KNOWN)})")

    def manifest(self, name: str) -> Manifest:
        path = fs.join(self.entry_dir(name), MANIFEST_FILE)
        if not fs.isfile(path):
            if name in known_genotypes.KNOWN:
                raise NoWeightsError(
                    f"{name!r} is a published architecture without weights in the zoo: "
                    f"train it (transfer/train.py --genotype={name}) and add the export")
            raise self._unknown(name)
        try:
            return Manifest.from_dict(_read_json(path, "manifest"))
        except (ZooError, TypeError) as e:
            raise ZooError(f"{path}: {e}") from None

    def list(self) -> list[dict[str, Any]]:
        """One row per entry, then one per published architecture (``weights: False``)."""
        rows = []
        for name in self.names():
            try:
                m = self.manifest(name)
                rows.append({"name": name, "kind": "model", "task": m.task,
                             "design": m.design,
                             "architecture": m.architecture, "size": m.size,
                             "genotype_fingerprint": m.genotype_fingerprint,
                             "input_size": list(m.input_size), "parameters": m.parameters,
                             "mult_adds": m.mult_adds, "metrics": m.metrics, "weights": True})
            except ZooError as e:
                rows.append({"name": name, "kind": "model", "error": str(e), "weights": True})
        for name, genotype in sorted(known_genotypes.KNOWN.items()):
            rows.append({"name": name, "kind": "architecture", "task": "architecture",
                         "design": CELL,
                         "architecture": name, "genotype_fingerprint": genotype.fingerprint(),
                         "weights": False})
        return rows

    def show(self, name: str) -> dict[str, Any]:
        """The manifest of an entry, or the record of a published architecture."""
        if name in known_genotypes.KNOWN and not fs.isdir(self.entry_dir(name)):
            genotype = known_genotypes.get(name)
            return {"name": name, "kind": "architecture", "weights": False, "design": CELL,
                    "genotype_fingerprint": genotype.fingerprint(),
                    "genotype": genotype.to_dict(), **PUBLISHED.get(name, {})}
        return {"kind": "model", "weights": True, **self.manifest(name).to_dict()}

    def genotype(self, name: str) -> Genotype:
        """The genotype of an entry (checked against its manifest) or a published one:
        the whole manifest is validated here, then ``nasnet.genotype_source.zoo_genotype``
        reads the genotype (one implementation for the zoo and ``zoo:NAME`` sources)."""
        if not (name in known_genotypes.KNOWN and not fs.isdir(self.entry_dir(name))):
            self.manifest(name)
        try:
            return genotype_source.zoo_genotype(name, self.root)
        except ValueError as e:
            raise ZooError(str(e)) from None

    # -- checking ---------------------------------------------------------------
    def check_files(self, name: str) -> VerifyReport:
        """Checksums only: missing, modified and unlisted files."""
        report = VerifyReport(name=name, problems=[])
        try:
            manifest = self.manifest(name)
        except ZooError as e:
            report.problems.append(str(e))
            return report
        entry = self.entry_dir(name)
        for record in manifest.files:
            try:
                full = _inside(entry, record.path)
            except ZooError as e:
                report.problems.append(str(e))
                continue
            if not fs.isfile(full):
                report.problems.append(f"missing file {record.path!r} (listed in the manifest)")
                continue
            digest = sha256_file(full)
            if digest != record.sha256:
                report.problems.append(
                    f"checksum mismatch for {record.path!r}: the manifest records sha256 "
                    f"{record.sha256[:16]}..., the file has {digest[:16]}... (modified "
                    f"since it was added)")
            elif fs.size(full) != record.size:
                report.problems.append(f"size mismatch for {record.path!r}")
            report.files_checked += 1
        try:
            listed = {r.path for r in manifest.files} | {MANIFEST_FILE}
            extra = sorted(set(_walk_files(entry)) - listed)
        except ZooError as e:
            report.problems.append(str(e))
            extra = []
        report.problems += [f"unlisted file {p!r} (not in the manifest)" for p in extra]
        return report

    def verify(self, name: str, run_prediction: bool = True) -> VerifyReport:
        """Checksums, then (when they pass) load the SavedModel and predict once."""
        report = self.check_files(name)
        if report.ok and run_prediction:
            try:
                model = self.load(name, check=False)
                report.prediction = model.smoke_test()
            except Exception as e:  # noqa: BLE001 - any failure is a finding
                report.problems.append(
                    f"the SavedModel failed to load or predict: {type(e).__name__}: "
                    f"{str(e).splitlines()[0][:300] if str(e) else ''}")
        return report

    # -- writing ----------------------------------------------------------------
    def add(self, export_dir: str, name: str, *, source_run: str | None = None,
            overwrite: bool = False, move: bool = False) -> Manifest:
        """Copies (or moves: the export directory is consumed, also on failure) an export
        directory into the zoo as entry ``name``. Everything is checked first."""
        check_name(name)
        if name in known_genotypes.KNOWN:
            raise ZooError(f"{name!r} is the name of a published architecture; choose "
                           f"another entry name (e.g. {name}_mobile_imagenet)")
        export_dir = paths.user_path(export_dir)
        info_path = fs.join(export_dir, EXPORT_INFO_FILE)
        if not fs.exists(export_dir):
            raise ZooError(f"export directory {export_dir!r} does not exist")
        if not fs.isdir(export_dir):
            raise ZooError(f"export directory {export_dir!r} is a file, not a directory (an "
                           f"export is the directory transfer.export or detection.export "
                           f"writes)")
        if not fs.isfile(info_path):
            raise ZooError(f"{export_dir!r} is not an export: it has no {EXPORT_INFO_FILE} "
                           f"(make one with `zoo export` or transfer.export)")
        if not fs.isfile(fs.join(export_dir, SAVED_MODEL_DIR, "saved_model.pb")):
            raise ZooError(f"export {export_dir!r} lacks {SAVED_MODEL_DIR}/saved_model.pb")
        target = self.entry_dir(name)
        if fs.exists(target) and not overwrite:
            raise ZooError(f"zoo entry {name!r} already exists in {self.root} "
                           f"(--overwrite replaces it)")
        try:
            info = ExportInfo.load(info_path)
        except ValueError as e:
            raise ZooError(str(e)) from None
        _check_genotype(export_dir, info)
        metrics_path = fs.join(export_dir, METRICS_FILE)
        metrics = _read_json(metrics_path, "metrics file") if fs.isfile(metrics_path) else {}
        _walk_files(export_dir)  # refuses links before anything is copied
        self.remove_stale_temporaries()
        with io_utils.atomic_directory(target, overwrite=overwrite,
                                       commit_last=(MANIFEST_FILE,)) as tmp:
            if move and _same_device(export_dir, self.root):
                os.replace(export_dir, tmp)
            else:
                fs.copy_tree(export_dir, tmp)
            files = tuple(FileRecord(path=p, sha256=sha256_file(fs.join(tmp, p)),
                                     size=fs.size(fs.join(tmp, p)))
                          for p in _walk_files(tmp) if p != MANIFEST_FILE)
            manifest = Manifest(
                name=name, task=info.task, architecture=info.architecture,
                genotype_fingerprint=info.genotype_fingerprint,
                input_size=info.input_size, files=files, created_at=utc_now(),
                num_classes=info.num_classes, parameters=info.parameters,
                mult_adds=info.mult_adds, metrics=_finite(metrics),
                source_run=source_run or info.source_run,
                signatures=tuple(sorted(info.signatures)), size=info.size,
                design=HAND_DESIGNED if info.genotype_fingerprint is None else CELL)
            io_utils.atomic_write_json(fs.join(tmp, MANIFEST_FILE), manifest.to_dict())
        if move and fs.exists(export_dir):
            fs.remove(export_dir)
        return manifest

    def remove(self, name: str) -> None:
        """Deletes an entry (renamed away first, so it disappears at once).

        An entry that is a symbolic link (to an entry kept elsewhere) is refused: the
        zoo deletes only what it holds, and removing the link alone would look like a
        removal while the files stay. Remove the link yourself if that is what you mean.
        """
        target = self.entry_dir(name)
        if fs.islink(target):
            raise ZooError(f"zoo entry {name!r} is a symbolic link to "
                           f"{os.path.realpath(target)!r}: the zoo removes only entries it "
                           f"holds; delete the link itself (rm {target}) to drop it from "
                           f"this zoo")
        if not fs.isdir(target):
            if name in known_genotypes.KNOWN:
                raise ZooError(f"{name!r} is a published architecture, not a zoo entry: "
                               f"there is nothing to remove")
            raise self._unknown(name)
        self.remove_stale_temporaries()
        trash = io_utils.temporary_sibling(target, "old")
        try:
            if fs.uses_gfile(target):
                # An object store renames object by object: drop the manifest first,
                # so the entry leaves every listing at once, then the files.
                fs.remove(fs.join(target, MANIFEST_FILE))
                trash = target
            else:
                fs.rename(target, trash)
        except OSError as e:
            raise ZooError(f"cannot remove zoo entry {name!r} from {self.root}: "
                           f"{e.strerror or e}") from None
        try:
            fs.remove(trash)
        except OSError:
            pass  # already out of the zoo; the next add or remove deletes what is left

    def remove_stale_temporaries(self) -> list[str]:
        """Deletes what killed ``add`` / ``remove`` calls left in the zoo directory
        (``nasnet.io_utils.remove_stale_temporaries``); returns those paths."""
        return io_utils.remove_stale_temporaries(self.root, recursive=False)

    # -- using --------------------------------------------------------------------
    def load(self, name: str, check: bool = True) -> "LoadedModel":
        """The entry's SavedModel with its manifest; checksums first unless ``check=False``."""
        manifest = self.manifest(name)
        if check:
            report = self.check_files(name)
            if not report.ok:
                raise ZooError(report.summary())
        import tensorflow as tf
        path = _inside(self.entry_dir(name), SAVED_MODEL_DIR)
        return LoadedModel(manifest=manifest, saved_model=tf.saved_model.load(path),
                           genotype_path=fs.join(self.entry_dir(name), GENOTYPE_FILE))


def _same_device(a: str, b: str) -> bool:
    if fs.uses_gfile(a) or fs.uses_gfile(b):
        return False
    return os.stat(a).st_dev == os.stat(b).st_dev


def _check_genotype(export_dir: str, info: ExportInfo) -> None:
    """The export's genotype.json matches the fingerprint its export info records, or
    (a hand-designed network, no fingerprint) there is no genotype.json."""
    path = fs.join(export_dir, GENOTYPE_FILE)
    if info.genotype_fingerprint is None:
        if fs.exists(path):
            raise ZooError(f"export {export_dir!r}: {EXPORT_INFO_FILE} records no genotype "
                           f"fingerprint (a hand-designed network) but the export has "
                           f"{GENOTYPE_FILE}")
        return
    if not fs.isfile(path):
        raise ZooError(f"export {export_dir!r} lacks {GENOTYPE_FILE}")
    try:
        fingerprint = Genotype.load(path).fingerprint()
    except ValueError as e:
        raise ZooError(str(e)) from None
    if fingerprint != info.genotype_fingerprint:
        raise ZooError(f"export {export_dir!r}: {EXPORT_INFO_FILE} records fingerprint "
                       f"{info.genotype_fingerprint} but {GENOTYPE_FILE} is {fingerprint}")


def _finite(metrics: Any) -> dict[str, Any]:
    """Metrics as JSON-safe values (NaN / inf become None)."""
    if not isinstance(metrics, dict):
        return {}
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in metrics.items()}


@dataclasses.dataclass
class LoadedModel:
    """A zoo entry in memory: ``saved_model`` is ``tf.saved_model.load``'s object."""

    manifest: Manifest
    saved_model: Any
    genotype_path: str

    @property
    def signatures(self):
        return self.saved_model.signatures

    @property
    def genotype(self) -> Genotype:
        if self.manifest.genotype_fingerprint is None:
            raise ZooError(f"zoo entry {self.manifest.name!r} is a hand-designed network: "
                           f"it has no genotype")
        return Genotype.load(self.genotype_path)

    def predict_images(self, images) -> dict[str, Any]:
        """uint8 ``[B, H, W, 3]`` -> the ``serving_images`` outputs as numpy arrays."""
        import tensorflow as tf
        out = self.signatures["serving_images"](images=tf.constant(images, dtype=tf.uint8))
        return {k: v.numpy() for k, v in out.items()}

    def predict_bytes(self, encoded: Iterable[bytes]) -> dict[str, Any]:
        """Encoded JPEG / PNG images -> the ``serving_bytes`` outputs as numpy arrays."""
        import tensorflow as tf
        out = self.signatures["serving_bytes"](images=tf.constant(list(encoded), dtype=tf.string))
        return {k: v.numpy() for k, v in out.items()}

    def classify_files(self, paths: Iterable[str]) -> list[dict[str, Any]]:
        """Top-k classes of image files, through the encoded-bytes signature.

        Each file is read and decoded first (JPEG, PNG, GIF or BMP, as the
        signature decodes them): one that cannot be read or is not an image is a
        ZooError naming it, before the model runs."""
        import tensorflow as tf
        paths = list(paths)
        encoded = []
        for path in paths:
            try:
                data = fs.read_file(path)
            except OSError as e:
                raise ZooError(f"cannot read image {path!r}: {e.strerror or e}") from None
            try:
                tf.io.decode_image(data, channels=3, expand_animations=False)
            except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
                raise ZooError(f"{path!r} is not a decodable image (JPEG, PNG, GIF or BMP; "
                               f"{len(data)} bytes starting {data[:8]!r})") from None
            encoded.append(data)
        try:
            out = self.predict_bytes(encoded)
        except tf.errors.OpError as e:  # its last line says why ("Graph execution error:" first)
            reason = [line.strip() for line in e.message.splitlines() if line.strip()]
            raise ZooError(f"cannot classify {paths}: {(reason or ['?'])[-1][:300]}") from None
        return [{"path": path, "top_k_classes": [int(c) for c in out["top_k_classes"][i]],
                 "top_k_probabilities": [float(p) for p in out["top_k_probabilities"][i]]}
                for i, path in enumerate(paths)]

    def smoke_test(self) -> dict[str, Any]:
        """One prediction on a grey image through ``serving_default``; checks the outputs."""
        import numpy as np
        import tensorflow as tf
        fn = self.signatures["serving_default"]
        specs = fn.structured_input_signature[1]
        inputs = {}
        for key, spec in specs.items():
            shape = [1 if d is None else d for d in spec.shape]
            if spec.dtype == tf.string:
                h, w = self.manifest.input_size[:2]
                png = tf.io.encode_png(tf.fill([h, w, 3], tf.constant(128, tf.uint8)))
                inputs[key] = tf.fill(shape, png)
            else:
                if spec.shape.rank == 4:
                    shape[1:3] = [d if d is not None else s for d, s in
                                  zip(spec.shape[1:3], self.manifest.input_size[:2])]
                inputs[key] = tf.cast(tf.fill(shape, 128), spec.dtype)
        outputs = {k: v.numpy() for k, v in fn(**inputs).items()}
        for key, value in outputs.items():
            if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
                raise ValueError(f"output {key!r} is not finite")
        summary = "outputs " + ", ".join(f"{k} {list(v.shape)}" for k, v in sorted(outputs.items()))
        if "probabilities" in outputs:
            total = float(outputs["probabilities"].sum(axis=-1)[0])
            if abs(total - 1.0) > 1e-3:
                raise ValueError(f"probabilities sum to {total}, not 1")
            summary = (f"top-1 class {int(outputs['probabilities'][0].argmax())} of "
                       f"{outputs['probabilities'].shape[-1]}")
        return {"summary": summary, "outputs": sorted(outputs)}


def load(name: str, zoo_dir: str | None = None, check: bool = True) -> LoadedModel:
    """``Zoo(zoo_dir).load(name)``: an entry's SavedModel, checksums verified first."""
    return Zoo(zoo_dir).load(name, check=check)
