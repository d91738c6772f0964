"""`pytest_tests()`: one native py_test per `test_*.py` file of a tests/ package.

Each target runs its file under pytest through //tools:pytest_main.py, with the
repository's pytest.ini (markers, default `-m "not slow"`, timeouts) and the
root and package conftest.py files when they exist. A new test file needs no
BUILD edit.

Example (tests/nasnet/BUILD):

    load("//tools:pytest.bzl", "pytest_tests")
    pytest_tests(deps = ["//nasnet"])
"""

def pytest_tests(deps = [], data = [], size = "medium", timeout = "long", tags = []):
    """Declares a py_test for every test_*.py in the calling package.

    Args:
      deps: py_library labels the tests import (the test runner adds pytest's own).
      data: extra runtime files; the package's testdata/** is always included.
      size: Bazel test size (resources); the default "medium" suits TF tests.
      timeout: Bazel timeout class; "long" = 900 s, matching pytest.ini's per-test timeout.
      tags: extra tags for every target.
    """
    helpers = native.glob(["conftest.py", "*_helpers.py", "helpers.py"])
    for src in native.glob(["test_*.py"]):
        native.py_test(
            name = src[:-len(".py")],
            srcs = [src, "//tools:pytest_main.py"] + helpers,
            main = "//tools:pytest_main.py",
            args = ["$(location %s)" % src],
            data = ["//:pytest_config"] + native.glob(["testdata/**"]) + data,
            deps = deps,
            python_version = "PY3",
            srcs_version = "PY3",
            size = size,
            timeout = timeout,
            tags = tags,
        )
