"""What a path given by a user means: local paths made absolute, URLs left alone.

Binaries take directories and files from flags (``--workdir``, ``--data_dir``,
``--zoo_dir``, ``--export_dir``, ...). A relative local path means "relative
to where the user ran the command": the current directory, or under
``bazel run`` the directory recorded in ``BUILD_WORKING_DIRECTORY`` (Bazel
starts the binary inside its runfiles tree). A URL (``gs://bucket/run``,
``s3://...``, any ``scheme://``) names an object store that TensorFlow reads
through ``tf.io.gfile``; it must reach ``tf.io.gfile`` unchanged, never be
"made absolute" into ``<cwd>/gs:/bucket/run`` as ``os.path.abspath`` would.

Binaries call ``user_path`` on every path flag; libraries receive the result.
Nothing here imports TensorFlow.

Example:
    >>> user_path("out/run")                  # in /home/me/repo
    '/home/me/repo/out/run'
    >>> user_path("gs://bucket/run")
    'gs://bucket/run'
    >>> is_url("gs://bucket/run"), is_url("/data/run")
    (True, False)
"""

from __future__ import annotations

import os
import re

#: ``scheme://`` as in RFC 3986 (a letter, then letters, digits, ``+``, ``-``, ``.``).
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(path: object) -> bool:
    """True for ``scheme://...`` (``gs://``, ``s3://``, ``hdfs://``, ...)."""
    return isinstance(path, str) and _URL.match(path) is not None


def caller_directory() -> str:
    """Where the user ran the command: ``$BUILD_WORKING_DIRECTORY`` (``bazel run``) or
    the current directory."""
    return os.environ.get("BUILD_WORKING_DIRECTORY") or os.getcwd()


def user_path(path: str | None) -> str | None:
    """``path`` as the user meant it: None and ``""`` pass through, a URL is returned
    unchanged, ``~`` is expanded, and a relative local path is joined to
    ``caller_directory()`` and normalised."""
    if not path:
        return path
    if not isinstance(path, str):
        raise ValueError(f"a path must be a string, got {path!r}")
    if is_url(path):
        return path
    path = os.path.expanduser(path)
    return os.path.normpath(os.path.join(caller_directory(), path))
