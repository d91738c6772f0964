"""JSON values against dataclass field types: booleans are not numbers, at any depth."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal, Mapping

import pytest

from nasnet import json_types


@dataclasses.dataclass(frozen=True)
class Inner:
    size: int
    scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class Record:
    id: int
    reward: float | None
    name: str = ""
    flag: bool = False
    choices: tuple[int, ...] = ()
    pair: tuple[int, str] = (0, "")
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    inner: Inner | None = None
    kind: Literal["a", "b"] = "a"
    anything: Any = None


GOOD = {"id": 1, "reward": 2, "name": "n", "flag": True, "choices": [1, 2], "pair": [1, "x"],
        "options": {"k": [True, None]}, "counts": {"a": 3}, "inner": {"size": 2, "scale": 0.5},
        "kind": "b", "anything": {"deep": [True]}, "not_a_field": True}


def test_a_good_document_passes():
    json_types.check(Record, GOOD)
    json_types.check(Record, {**GOOD, "reward": None, "inner": None})
    json_types.check(Record, {**GOOD, "inner": Inner(size=1)})


@pytest.mark.parametrize("key, value, message", [
    ("id", True, "field 'id' must be an integer, got true"),
    ("id", 1.0, "field 'id' must be an integer, got 1.0"),
    ("id", "1", "field 'id' must be an integer, got \"1\""),
    ("reward", False, "field 'reward' must be a number or null, got false"),
    ("reward", "0.5", "field 'reward' must be a number or null"),
    ("name", 3, "field 'name' must be a string, got 3"),
    ("flag", 1, "field 'flag' must be true or false, got 1"),
    ("choices", [1, True], r"field 'choices\[1\]' must be an integer, got true"),
    ("choices", "12", "field 'choices' must be an array"),
    ("pair", [1], "field 'pair' must be an array of 2"),
    ("pair", [1, 2], r"field 'pair\[1\]' must be a string, got 2"),
    ("options", [], "field 'options' must be an object"),
    ("counts", {"a": True}, "field 'counts.a' must be an integer, got true"),
    ("inner", {"size": True}, "field 'inner.size' must be an integer, got true"),
    ("inner", {"size": 1, "scale": False}, "field 'inner.scale' must be a number, got false"),
    ("inner", [1], "field 'inner' must be an object or null"),
    ("kind", "c", "field 'kind' must be one of \"a\", \"b\", got \"c\""),
])
def test_a_wrong_type_names_the_field(key, value, message):
    with pytest.raises(ValueError, match=message):
        json_types.check(Record, {**GOOD, key: value}, "trial record")


def test_the_document_must_be_an_object_and_long_values_are_shortened():
    with pytest.raises(ValueError, match=r"^config must be a JSON object, got \[1, 2\]$"):
        json_types.check(Record, [1, 2], "config")
    with pytest.raises(ValueError) as e:
        json_types.check(Record, {**GOOD, "name": list(range(100))})
    assert str(e.value).endswith("...") and len(str(e.value)) < 160
    with pytest.raises(ValueError, match="must have string keys"):
        json_types.check(Record, {**GOOD, "counts": {1: 2}})
    assert json_types.show({1, 2}) == "set"
