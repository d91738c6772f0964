"""JSON values checked against the field types a dataclass declares: booleans are not numbers.

Every file format of the pipeline (trial records, the zoo manifest, the
training and search configs) is a frozen dataclass read from JSON. Python's
``isinstance(True, int)`` is true, so a file saying ``"budget": true`` or
``"num_cells_per_stack": true`` would silently mean 1. ``check(cls, data)``
walks the JSON object against ``cls``'s type hints before the dataclass is
built and refuses, with one line naming the dotted field, any value of the
wrong JSON type:

* ``int``: an integer, not a boolean; ``float``: a number (an integer is
  fine), not a boolean; ``bool``: ``true`` or ``false``; ``str``: a string;
* ``X | None``: null or an ``X``; ``Any``: anything;
* ``tuple[X, ...]``, ``list[X]``, ``Sequence[X]``: an array of ``X``;
  ``tuple[X, Y]``: an array of exactly those;
* ``dict[str, X]`` / ``Mapping[str, X]``: an object of ``X``;
* a nested dataclass: an object checked the same way (unknown keys are left
  to the dataclass's reader, which names them);
* ``Literal[...]``: one of the listed values; any other type (an enum, a
  class) is left to the dataclass's own validation.

Ranges and cross-field rules stay in each dataclass's ``__post_init__``; this
only checks JSON types. Written here rather than taken from a validation
library (pydantic's strict mode would do it) because the dataclasses must
keep building and validating themselves, the kernel takes no such dependency,
and the whole rule fits on this page.

Example:
    >>> @dataclasses.dataclass(frozen=True)
    ... class Record:
    ...     id: int
    ...     reward: float | None = None
    >>> check(Record, {"id": 3, "reward": 1})
    >>> check(Record, {"id": True}, "trial record")
    Traceback (most recent call last):
    ValueError: trial record field 'id' must be an integer, got true
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import json
import types
import typing
from typing import Any

_SEQUENCES = (tuple, list, collections.abc.Sequence)
_MAPPINGS = (dict, collections.abc.Mapping)


def check(cls: type, data: Any, where: str = "record") -> None:
    """ValueError when a field of JSON object ``data`` has the wrong type for ``cls``."""
    if not isinstance(data, collections.abc.Mapping):
        raise ValueError(f"{where} must be a JSON object, got {show(data)}")
    hints = _hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in data:
            _check_value(hints[field.name], data[field.name], where, field.name)


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def show(value: Any) -> str:
    """A value as JSON would spell it (``true``, ``null``), shortened."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is bool:
        return "true or false"
    if hint is str:
        return "a string"
    if hint is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin in _SEQUENCES:
        return "an array"
    if origin in _MAPPINGS or hint in _MAPPINGS:
        return "an object"
    if dataclasses.is_dataclass(hint):
        return "an object"
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(a) for a in args)
    return getattr(hint, "__name__", str(hint))


def _accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` has the JSON type ``hint`` asks for (not looking inside)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in args)
    if origin in _SEQUENCES or hint in (tuple, list):
        return isinstance(value, (list, tuple))
    if origin in _MAPPINGS or hint in _MAPPINGS:
        return isinstance(value, collections.abc.Mapping)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, (collections.abc.Mapping, hint))
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    return True  # an enum or a class: the dataclass validates it


def _check_value(hint: Any, value: Any, where: str, name: str) -> None:
    if not _accepts(hint, value):
        raise ValueError(f"{where} field {name!r} must be {_describe(hint)}, "
                         f"got {show(value)}")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        chosen = next(a for a in args if _accepts(a, value))
        _check_value(chosen, value, where, name)
    elif origin in _SEQUENCES and args:
        if len(args) == 2 and args[1] is Ellipsis:
            items = [args[0]] * len(value)
        elif origin is tuple:
            if len(value) != len(args):
                raise ValueError(f"{where} field {name!r} must be an array of {len(args)}, "
                                 f"got {show(value)}")
            items = list(args)
        else:
            items = [args[0]] * len(value)
        for i, (item_hint, item) in enumerate(zip(items, value)):
            _check_value(item_hint, item, where, f"{name}[{i}]")
    elif (origin in _MAPPINGS) and len(args) == 2:
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} field {name!r} must have string keys, "
                                 f"got {show(key)}")
            _check_value(args[1], item, where, f"{name}.{key}")
    elif dataclasses.is_dataclass(hint) and isinstance(value, collections.abc.Mapping):
        for field in dataclasses.fields(hint):
            if field.name in value:
                _check_value(_hints(hint)[field.name], value[field.name], where,
                             f"{name}.{field.name}")
