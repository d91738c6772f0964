"""Where a training run's architecture comes from: one string, four kinds of source.

``resolve(spec)`` turns a string into a ``Genotype``, trying in order:

1. ``zoo:NAME``: the genotype of a model-zoo entry (or a published
   architecture listed by the zoo), from ``model_zoo.registry``;
2. an existing JSON file: ``Genotype.load`` (format-versioned, fingerprint
   checked);
3. an existing directory: a search work directory's best cell (the report's
   ``report/best_genotype.json``; while a search runs, the rank-1 entry of its
   ``best.json``; else the best finished trial record in ``trials/``), or any
   directory holding ``genotype.json`` (a training work directory, an export,
   a zoo entry);
4. a published name (``nasnet.known_genotypes``: ``nasnet_a``, ``pnasnet_5``,
   ``amoebanet_a``).

Anything else is a ``ValueError`` that lists what was tried.

Example:
    >>> resolve("nasnet_a").fingerprint() == resolve("zoo:nasnet_a").fingerprint()
    True
    >>> resolve("/runs/search_1")       # <- best_genotype.json or the best trial
"""

from __future__ import annotations

import glob
import json
import math
import os

from nasnet import known_genotypes
from nasnet.genotype import Genotype

#: A search work directory's best-cell file (relative to the work directory):
#: ``search_cifar.report.write_report`` writes ``report/best_genotype.json``.
BEST_GENOTYPE_FILES = (os.path.join("report", "best_genotype.json"), "best_genotype.json")
#: The running top-k of a search (``search_cifar.report.write_best_json``),
#: rewritten after every trial: ``{"top": [{"rank", "reward", "genotype"}, ...]}``.
BEST_JSON = "best.json"
#: The genotype file of training work directories, exports and zoo entries.
GENOTYPE_FILE = "genotype.json"
ZOO_PREFIX = "zoo:"


def best_genotype_file(workdir: str) -> str | None:
    """The best-genotype file of a search work directory, or None when there is none."""
    for name in BEST_GENOTYPE_FILES:
        path = os.path.join(workdir, name)
        if os.path.isfile(path):
            return path
    return None


def best_json_genotype(workdir: str) -> Genotype | None:
    """The rank-1 genotype of a search's ``best.json``, or None when it has none."""
    path = os.path.join(workdir, BEST_JSON)
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
    for path in sorted(glob.glob(os.path.join(workdir, "trials", "*.json"))):
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


def resolve(spec: str, zoo_dir: str | None = None) -> Genotype:
    """The genotype named by ``spec`` (see the module docstring); ValueError otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a genotype source must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec.startswith(ZOO_PREFIX):
        from model_zoo import registry
        return registry.Zoo(zoo_dir).genotype(spec[len(ZOO_PREFIX):])
    path = os.path.expanduser(spec)
    if os.path.isfile(path):
        return Genotype.load(path)
    if os.path.isdir(path):
        found = best_genotype_file(path)
        if found:
            return Genotype.load(found)
        direct = os.path.join(path, GENOTYPE_FILE)
        if os.path.isfile(direct):
            return Genotype.load(direct)
        for find in (best_json_genotype, best_trial_genotype):
            genotype = find(path)
            if genotype is not None:
                return genotype
        raise ValueError(
            f"directory {spec!r} holds no genotype: looked for "
            f"{[*BEST_GENOTYPE_FILES, GENOTYPE_FILE, BEST_JSON]} and for finished trials "
            f"with a genotype in trials/*.json")
    if spec in known_genotypes.KNOWN:
        return known_genotypes.get(spec)
    raise ValueError(
        f"cannot resolve genotype {spec!r}: it is not a published name "
        f"{sorted(known_genotypes.KNOWN)}, not an existing JSON file, not a search / "
        f"training work directory, and not '{ZOO_PREFIX}NAME' (a model-zoo entry)")
