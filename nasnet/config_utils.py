"""Strict overrides for frozen dataclass configs: a misspelt key is an error.

Example:
    >>> cfg = override(MOBILE, {"num_classes": 10, "backbone.drop_path_keep_prob": 0.7})
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

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


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
