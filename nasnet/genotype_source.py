"""Where an architecture comes from: one string, four kinds of source.

``resolve(spec)`` turns a string into a ``Genotype``, trying in order:

1. ``zoo:NAME``: the genotype of a model-zoo entry, checked against the
   fingerprint its manifest records, or a published architecture of that
   name when the zoo has no such entry (``zoo_genotype``);
2. an existing JSON file: ``Genotype.load`` (format-versioned, fingerprint
   checked);
3. an existing directory: a search work directory's best cell (its
   ``report/best_genotype.json``; while a search runs, the rank-1 entry of its
   ``best.json``; else the best finished trial record in ``trials/``), or any
   directory holding ``genotype.json`` (a training work directory, an export,
   a zoo entry);
4. a published name (``nasnet.known_genotypes``: ``nasnet_a``, ``pnasnet_5``,
   ``amoebanet_a``).

Anything else is a ``ValueError`` that lists what was tried. The training
(``transfer``), the detection backbone (``detection``) and the zoo
(``model_zoo``) all resolve genotypes here. The files are read through the
layouts of ``nasnet.artifacts``, so this module needs neither the search nor
the zoo's code: it sits below both.

Example:
    >>> resolve("nasnet_a").fingerprint() == resolve("zoo:nasnet_a").fingerprint()
    True
    >>> resolve("out/quickstart")        # its report/best_genotype.json, or the best trial
"""

from __future__ import annotations

import glob
import json
import math
import os

from nasnet import artifacts, known_genotypes
from nasnet.genotype import Genotype

#: A search work directory's best-cell file, relative to the work directory
#: (``report/best_genotype.json``), or a report directory itself.
BEST_GENOTYPE_FILES = (os.path.join(artifacts.SEARCH_REPORT_DIR, artifacts.BEST_GENOTYPE_FILE),
                       artifacts.BEST_GENOTYPE_FILE)


def best_genotype_file(workdir: str) -> str | None:
    """The best-genotype file of a search work directory, or None when there is none."""
    for name in BEST_GENOTYPE_FILES:
        path = os.path.join(workdir, name)
        if os.path.isfile(path):
            return path
    return None


def best_json_genotype(workdir: str) -> Genotype | None:
    """The rank-1 genotype of a search's ``best.json``, or None when it has none."""
    path = os.path.join(workdir, artifacts.SEARCH_BEST_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            top = json.load(f).get("top") or []
    except (OSError, json.JSONDecodeError, AttributeError) as e:
        raise ValueError(f"{path}: not a search's best.json ({e})") from None
    if not top or not isinstance(top[0], dict) or not top[0].get("genotype"):
        return None
    return _genotype_from_record(top[0]["genotype"], path)


def _genotype_from_record(data, where: str) -> Genotype:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: the best genotype is not a JSON object: {data!r}")
    data = dict(data)
    data.setdefault("format_version", 1)
    try:
        return Genotype.from_dict(data)
    except ValueError as e:
        raise ValueError(f"{where}: the best genotype is invalid: {e}") from None


def best_trial_genotype(workdir: str) -> Genotype | None:
    """The genotype of the best finished trial in ``<workdir>/trials/*.json`` (highest
    reward; ties: the lowest id), or None when no trial has one."""
    best = None
    pattern = os.path.join(workdir, artifacts.TRIALS_DIR, "*.json")
    for path in sorted(glob.glob(pattern)):
        try:
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(record, dict) or record.get("status") != "ok":
            continue
        reward, genotype = record.get("reward"), record.get("genotype")
        if not isinstance(reward, (int, float)) or not math.isfinite(reward) or not genotype:
            continue
        if best is None or reward > best[0]:
            best = (reward, genotype, path)
    if best is None:
        return None
    return _genotype_from_record(best[1], best[2])


def zoo_genotype(name: str, zoo_dir: str | None = None) -> Genotype:
    """The genotype of zoo entry ``name`` in ``zoo_dir`` (``artifacts.default_zoo_dir()``
    when None), or the published architecture ``name`` when the zoo has no such entry.

    The entry's ``genotype.json`` must have the fingerprint its ``manifest.json``
    records and must lie inside the entry (no symbolic link out). Reads only those
    two files; ``model_zoo.registry`` validates the rest of the manifest.
    """
    entry = artifacts.zoo_entry_dir(zoo_dir, name)
    if not os.path.isdir(entry) and name in known_genotypes.KNOWN:
        return known_genotypes.get(name)
    manifest_path = os.path.join(entry, artifacts.MANIFEST_FILE)
    if not os.path.isfile(manifest_path):
        raise ValueError(f"no zoo entry {name!r} in {os.path.dirname(entry)} (published "
                         f"architectures: {sorted(known_genotypes.KNOWN)})")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{manifest_path}: not a readable zoo manifest ({e})") from None
    recorded = manifest.get("genotype_fingerprint") if isinstance(manifest, dict) else None
    if recorded is None:
        raise ValueError(f"zoo entry {name!r} records no genotype fingerprint in "
                         f"{manifest_path}: it is not a NASNet network (hand-designed), so "
                         f"it has no genotype")
    path = artifacts.path_inside(entry, artifacts.GENOTYPE_FILE)
    try:
        genotype = Genotype.load(path)
    except ValueError as e:
        raise ValueError(f"zoo entry {name!r}: {e}") from None
    if genotype.fingerprint() != recorded:
        raise ValueError(f"zoo entry {name!r}: {artifacts.GENOTYPE_FILE} has fingerprint "
                         f"{genotype.fingerprint()} but the manifest records {recorded}")
    return genotype


def resolve(spec: str, zoo_dir: str | None = None) -> Genotype:
    """The genotype named by ``spec`` (see the module docstring); ValueError otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a genotype source must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec.startswith(artifacts.ZOO_PREFIX):
        return zoo_genotype(spec[len(artifacts.ZOO_PREFIX):], zoo_dir)
    path = os.path.expanduser(spec)
    if os.path.isfile(path):
        return Genotype.load(path)
    if os.path.isdir(path):
        found = best_genotype_file(path)
        if found:
            return Genotype.load(found)
        direct = os.path.join(path, artifacts.GENOTYPE_FILE)
        if os.path.isfile(direct):
            return Genotype.load(direct)
        for find in (best_json_genotype, best_trial_genotype):
            genotype = find(path)
            if genotype is not None:
                return genotype
        raise ValueError(
            f"directory {spec!r} holds no genotype: looked for "
            f"{[*BEST_GENOTYPE_FILES, artifacts.GENOTYPE_FILE, artifacts.SEARCH_BEST_FILE]} "
            f"and for finished trials with a genotype in {artifacts.TRIALS_DIR}/*.json")
    if spec in known_genotypes.KNOWN:
        return known_genotypes.get(spec)
    raise ValueError(
        f"cannot resolve genotype {spec!r}: it is not a published name "
        f"{sorted(known_genotypes.KNOWN)}, not an existing JSON file, not a search / "
        f"training work directory, and not '{artifacts.ZOO_PREFIX}NAME' (a model-zoo entry)")
