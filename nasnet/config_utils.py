"""Strict overrides for frozen dataclass configs: a misspelt key is an error.

Example:
    >>> cfg = override(MOBILE, {"num_classes": 10, "backbone.drop_path_keep_prob": 0.7})
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Mapping, TypeVar

T = TypeVar("T")


def override(config: T, overrides: Mapping[str, Any], _prefix: str = "") -> T:
    """Returns ``config`` with dotted keys replaced; ValueError for unknown keys.

    Nested dataclass fields are addressed as ``"outer.inner"``; a nested dict
    value is applied recursively. Values are validated by the dataclass itself.
    """
    if not dataclasses.is_dataclass(config):
        raise ValueError(f"override needs a dataclass config, got {type(config).__name__}")
    nested: dict[str, dict[str, Any]] = {}
    direct: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(config)}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if head not in names:
            raise ValueError(
                f"unknown config key {_prefix + key!r} for {type(config).__name__}; "
                f"known: {sorted(names)}")
        current = getattr(config, head)
        if rest or (isinstance(value, Mapping) and dataclasses.is_dataclass(current)):
            if not dataclasses.is_dataclass(current):
                raise ValueError(f"config key {_prefix + head!r} is not a nested config, "
                                 f"so {_prefix + key!r} is invalid")
            nested.setdefault(head, {}).update({rest: value} if rest else dict(value))
        else:
            direct[head] = value
    for head, sub in nested.items():
        direct[head] = override(getattr(config, head), sub, f"{_prefix}{head}.")
    return dataclasses.replace(config, **direct)


def from_dict(cls: type[T], data: Any, what: str) -> T:
    """``cls(**data)`` for a JSON object; ValueError naming ``what`` for another JSON value
    or an unknown key (the dataclass validates the values)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{what} must be a JSON object, got {data!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {what} key(s) {unknown}; known: {sorted(names)}")
    return cls(**data)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def changed_keys(saved: Mapping[str, Any], current: Mapping[str, Any],
                 ignore: Iterable[str] = (), leaves: Iterable[str] = ()) -> list[str]:
    """Dotted keys where two config dicts (``to_dict`` / a saved JSON) differ, sorted.

    Used to refuse resuming a work directory with another identity. ``ignore``:
    dotted keys allowed to change (how long or where a run executes);
    ``leaves``: keys whose dict values compare whole (free-form options).
    Values compare as canonical JSON, so ``true`` and ``1`` differ.
    """
    ignore, leaves = set(ignore), set(leaves)

    def flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in d.items():
            if isinstance(v, Mapping) and k not in leaves:
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = json.dumps(v, sort_keys=True)
        return out

    a, b = flat(saved), flat(current)
    return sorted(k for k in set(a) | set(b)
                  if k not in ignore and a.get(k, "<absent>") != b.get(k, "<absent>"))
