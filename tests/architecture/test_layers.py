"""The declared layers hold (.importlinter, checked by import-linter), the checker
catches each kind of violation, and the BUILD files declare what their code imports.

The layering itself is written and explained in the repository's ``.importlinter``.
"""

import ast
import configparser
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, ".importlinter")


def _contracts() -> dict[str, str]:
    """Contract id -> name, from the config."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    prefix = "importlinter:contract:"
    return {s[len(prefix):]: parser[s]["name"] for s in parser.sections() if s.startswith(prefix)}


def _root_packages() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return parser["importlinter"]["root_packages"].split()


def _lint(source_root: str) -> subprocess.CompletedProcess:
    """``lint-imports`` on the packages under ``source_root`` with the repository's config."""
    code = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"
    env = {**os.environ, "PYTHONPATH": source_root, "COLUMNS": "400", "NO_COLOR": "1",
           "TERM": "dumb"}
    return subprocess.run([sys.executable, "-c", code, "--config", CONFIG, "--no-cache",
                           "--no-logo"], cwd=source_root, env=env, capture_output=True,
                          text=True, timeout=600)


def _status(output: str, name: str) -> str | None:
    match = re.search(re.escape(name) + r"\s+(KEPT|BROKEN)", output)
    return match.group(1) if match else None


def test_the_declared_layers_hold():
    result = _lint(ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    for name in _contracts().values():
        assert _status(output, name) == "KEPT", (name, output[-6000:])


def _copy_packages(destination: str) -> None:
    for package in _root_packages():
        shutil.copytree(os.path.join(ROOT, package), os.path.join(destination, package),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "BUILD"))


def _append(path: str, code: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n\n" + code + "\n")


def test_each_kind_of_violation_is_caught(tmp_path):
    """One copy of the packages with one violation per contract; each import sits
    inside a function, as a lazy import hiding a cycle would."""
    src = str(tmp_path / "src")
    _copy_packages(src)
    violations = {
        "kernel-at-the-bottom": ("nasnet/artifacts.py", "from transfer import export"),
        "independent-libraries": ("transfer/trainer.py", "from model_zoo import registry"),
        "libraries-below-scripts": ("detection/serving.py",
                                    "from benchmarks import detection_throughput"),
        "binaries-on-top": ("model_zoo/registry.py", "from model_zoo import zoo"),
        "no-cycles": ("detection/coco_data.py", "from detection import evaluate_lib"),
        "cli-for-binaries": ("search_cifar/scheduler.py", "from nasnet import cli"),
    }
    assert set(violations) == set(_contracts()), "a violation per contract"
    for path, statement in violations.values():
        _append(os.path.join(src, path), f"def _violation():\n    {statement}  # noqa\n")
    result = _lint(src)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-6000:]
    for contract, name in _contracts().items():
        assert _status(output, name) == "BROKEN", (contract, output[-6000:])
    assert "detection.coco_data -> detection.evaluate_lib" in output or \
        ".coco_data -> .evaluate_lib" in output, output[-6000:]


# -- BUILD files ----------------------------------------------------------------------

def _nearest_package(parts: list[str]) -> str:
    """The Bazel package of directory ``parts``: the nearest one at or above it with a
    BUILD file (``search_cifar/weight_sharing`` has none: it is in ``//search_cifar``)."""
    while len(parts) > 1 and not os.path.exists(os.path.join(ROOT, *parts, "BUILD")):
        parts = parts[:-1]
    return "//" + "/".join(parts)


def _bazel_package(module: str) -> str:
    """``search_cifar.strategies.evolution`` -> ``//search_cifar/strategies``."""
    parts = module.split(".")
    if os.path.isdir(os.path.join(ROOT, *parts)):
        return _nearest_package(parts)
    return _nearest_package(parts[:-1])


def _deps(build_text: str, rule: str) -> set[str] | None:
    """The ``//`` labels in the ``deps`` of the first ``rule(...)`` call, or None."""
    start = build_text.find(rule + "(")
    if start < 0:
        return None
    match = re.search(r"deps\s*=\s*\[([^\]]*)\]", build_text[start:])
    return set(re.findall(r'"(//[^"]+)"', match.group(1))) if match else set()


def _library_builds() -> list[str]:
    builds = []
    for package in _root_packages():
        builds += glob.glob(os.path.join(ROOT, package, "**", "BUILD"), recursive=True)
    return sorted(builds)


def test_library_build_files_declare_what_their_code_imports():
    """A py_library over a directory's ``*.py`` depends on exactly the first-party
    packages its modules import (lazy imports included)."""
    import grimp
    builds = _library_builds()
    if not builds:
        pytest.skip("BUILD files are not in Bazel's runfiles; this runs under pytest")
    graph = grimp.build_graph(*_root_packages(), cache_dir=None)
    imported: dict[str, set[str]] = {}
    for module in graph.modules:
        here = _bazel_package(module)
        for target in graph.find_modules_directly_imported_by(module):
            if _bazel_package(target) != here:
                imported.setdefault(here, set()).add(_bazel_package(target))
    wrong = []
    for build in builds:
        label = "//" + os.path.relpath(os.path.dirname(build), ROOT).replace(os.sep, "/")
        with open(build, encoding="utf-8") as f:
            declared = _deps(f.read(), "py_library")
        if declared is None:
            continue
        if declared != imported.get(label, set()):
            wrong.append(f"{label}: BUILD declares {sorted(declared)}, the code imports "
                         f"{sorted(imported.get(label, set()))}")
    assert not wrong, "\n".join(wrong)


def _test_imports(directory: str, packages: list[str]) -> set[str]:
    found = set()
    for path in glob.glob(os.path.join(directory, "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] in packages:
                    parts = name.split(".")
                    while parts and not os.path.isdir(os.path.join(ROOT, *parts)):
                        parts.pop()
                    found.add(_nearest_package(parts))
    return found


def test_test_build_files_declare_what_their_tests_import():
    """Every first-party package a test file imports is among its BUILD's deps (more
    may be declared: binaries run in subprocesses need their packages too)."""
    builds = sorted(glob.glob(os.path.join(ROOT, "tests", "*", "BUILD")))
    if not builds:
        pytest.skip("BUILD files are not in Bazel's runfiles; this runs under pytest")
    missing = []
    for build in builds:
        with open(build, encoding="utf-8") as f:
            declared = _deps(f.read(), "pytest_tests") or set()
        needed = _test_imports(os.path.dirname(build), _root_packages())
        if needed - declared:
            missing.append(f"{os.path.relpath(build, ROOT)}: add {sorted(needed - declared)}")
    assert not missing, "\n".join(missing)
