"""A property-based fuzz test of every file reader users feed (issue 10 item 10).

For each format of ``formats_helpers.FORMATS`` (genotype JSON, trial records,
the search state, the zoo manifest, export_info, COCO annotations and
detections), Hypothesis writes random JSON documents, mutations of a valid
document (keys dropped or added, values replaced by other types, booleans,
huge numbers, NaN), truncated bytes, bytes that are not UTF-8, binary files
and documents nested thousands deep, and runs the real reader. Each must
either succeed or raise one ValueError line (ZooError is one), never another
exception; and after a ValueError the reader's output place (metrics, a zoo
entry) holds nothing, not even a temporary.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import formats_helpers as helpers  # noqa: E402

#: Examples per format: modest for the suite; NASNET_FUZZ_EXAMPLES=5000 fuzzes harder.
EXAMPLES = int(os.environ.get("NASNET_FUZZ_EXAMPLES", "60"))

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.sampled_from([2 ** 64, -1, 0, 1e308, "", "nasnet_a", "\\u0000"])
           | st.text(max_size=12))
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)


def _paths(document, prefix=()):
    """Every place in ``document``: () is the root, then keys and indices."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            yield from _paths(value, prefix + (i,))


def _keys(document) -> list[str]:
    found = set()
    for path in _paths(document):
        found.update(k for k in path if isinstance(k, str))
    return sorted(found) or ["x"]


@st.composite
def mutated(draw, valid):
    """``valid`` with one to three edits: a value replaced (by any JSON, often of another
    type), a key or item deleted, a known or unknown key added, a container emptied."""
    document = copy.deepcopy(valid)
    keys = _keys(valid)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(document))))
        operation = draw(st.sampled_from(["replace", "delete", "add", "empty"]))
        value = draw(JSON)
        if not path:
            document = value if operation == "replace" else document
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        target = parent[path[-1]]
        if operation == "replace":
            parent[path[-1]] = value
        elif operation == "delete":
            del parent[path[-1]]
        elif operation == "add" and isinstance(target, dict):
            target[draw(st.sampled_from(keys) | st.text(max_size=6))] = value
        elif operation == "add" and isinstance(target, list):
            target.insert(draw(st.integers(0, len(target))), value)
        elif operation == "empty":
            parent[path[-1]] = type(target)() if isinstance(target, (dict, list, str)) else 0
    return document


def documents(valid) -> st.SearchStrategy[bytes]:
    """Raw file contents: random, mutated, truncated, corrupted, binary, deeply nested."""
    text = helpers.dump(valid)
    deep = st.integers(65, 20_000)
    return st.one_of(
        JSON.map(helpers.dump),
        mutated(valid).map(helpers.dump),
        mutated(valid).map(helpers.dump),
        st.integers(0, len(text) - 1).map(lambda n: text[:n]),
        st.tuples(st.integers(0, len(text)), st.binary(min_size=1, max_size=6)).map(
            lambda t: text[:t[0]] + t[1] + text[t[0]:]),
        st.sampled_from([b"", b"\xff\xfe\x00\x00", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
                         b"\x1f\x8b\x08\x00", "caf\xe9".encode("latin-1"), b"null", b"NaN"]),
        deep.map(lambda n: ("[" * n + "]" * n).encode()),
        deep.map(lambda n: text[:-1] + b', "deep": ' + b"[" * n + b"]" * n + text[-1:]
                 if text.endswith(b"}") else b"[" * n + text + b"]" * n),
    )


@pytest.mark.parametrize("name", sorted(helpers.FORMATS))
def test_a_reader_gives_a_value_error_or_a_result_and_never_half_writes(name, tmp_path):
    fmt = helpers.FORMATS[name]
    root = str(tmp_path / "root")
    outcomes = {"read": 0, "refused": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(raw=documents(fmt.valid()))
    def read(raw):
        shutil.rmtree(root, ignore_errors=True)
        fmt.write(root, raw)
        try:
            fmt.read(root)
        except ValueError as e:
            message = str(e)
            assert message and "\n" not in message, message
            output = os.path.join(root, helpers.OUTPUTS.get(name, "no output"))
            assert not os.path.exists(output) or helpers.files_under(output) == [], \
                (message, helpers.files_under(output))
            outcomes["refused"] += 1
        else:
            outcomes["read"] += 1

    read()
    assert outcomes["refused"] > 0                     # the fuzzing reached the checks


@pytest.mark.parametrize("name", sorted(helpers.FORMATS))
def test_the_valid_documents_are_read(name, tmp_path):
    fmt = helpers.FORMATS[name]
    fmt.write(str(tmp_path), helpers.dump(fmt.valid()))
    assert fmt.read(str(tmp_path)) is not None
    output = helpers.OUTPUTS.get(name)
    if output:
        assert helpers.files_under(str(tmp_path / output))       # the reader's result


def test_the_mutations_change_documents():
    """The strategy is not a no-op: most mutations differ from the valid document."""
    valid = helpers.trial_doc()
    seen = []

    @settings(max_examples=30, deadline=None, database=None)
    @given(document=mutated(valid))
    def collect(document):
        seen.append(document != valid)

    collect()
    assert sum(seen) > len(seen) // 2
