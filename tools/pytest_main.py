"""Runs test files under pytest as a Bazel py_test main (see tools/pytest.bzl).

Bazel runs this from the runfiles tree with the test file's path as argument.
The run uses the repository's pytest.ini (so markers, the default
``-m "not slow"`` and timeouts match ``make test``), writes the JUnit XML Bazel
asks for, maps ``bazel test --test_filter=EXPR`` to ``pytest -k EXPR``, and
counts a file whose tests were all deselected (for example, all ``slow``) as a
pass rather than pytest's exit code 5.

Example:
    bazel test //tests/nasnet:test_genotype --test_filter=round_trip
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402  (after the environment is set)


class _DeselectCounter:
    """Remembers whether a marker expression deselected any test."""

    def __init__(self) -> None:
        self.deselected = 0

    def pytest_deselected(self, items) -> None:
        self.deselected += len(items)


def main(argv: list[str]) -> int:
    args = ["-p", "no:cacheprovider", "-c", "pytest.ini", "--rootdir", "."]
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args.append(f"--junitxml={xml}")
    test_filter = os.environ.get("TESTBRIDGE_TEST_ONLY")
    if test_filter:
        args += ["-k", test_filter]
    counter = _DeselectCounter()
    code = pytest.main(args + argv, plugins=[counter])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED and counter.deselected:
        print(f"pytest_main: all {counter.deselected} tests deselected (-m / -k); "
              "counted as a pass", file=sys.stderr)
        return 0
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
