"""Atomic writes: a reader never sees a half-written file or directory.

* ``atomic_write_bytes`` / ``_text`` / ``_json``: a temp file beside the
  target, fsynced, then renamed over it.
* ``atomic_directory``: a directory written whole (an export, a zoo entry, a
  run's final weights). The caller writes into a temporary sibling; on
  success every file is fsynced and the sibling is renamed into place. When
  the target exists and replacing is asked, the old directory is moved aside,
  the new one renamed in, then the old one deleted. When the caller's block
  raises, the temporary directory is removed and the old content is untouched.

A rename within one file system is atomic (POSIX ``rename(2)``), so readers
see the old directory or the new one. Replacing one takes two renames, so
between them the path is briefly absent; it is never partly written.

Example:
    >>> atomic_write_text("/tmp/x.json", "{}")
    >>> with atomic_directory("/tmp/export", overwrite=True) as tmp:
    ...     atomic_write_text(os.path.join(tmp, "genotype.json"), "{}")
    >>> os.listdir("/tmp/export")
    ['genotype.json']
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from typing import Any, Iterator


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to a temp file beside ``path``, fsyncs, then renames."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def _sibling(path: str, kind: str) -> str:
    """A fresh hidden name beside ``path``: ``.<name>.<kind>-<random>``."""
    parent, name = os.path.split(path)
    return os.path.join(parent, f".{name}.{kind}-{uuid.uuid4().hex[:12]}")


def _fsync_tree(directory: str) -> None:
    """fsyncs every regular file under ``directory``, then every directory in it."""
    for root, dirs, files in os.walk(directory, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        _fsync_dir(root)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(path: str, *, overwrite: bool = False) -> Iterator[str]:
    """Yields an empty temporary sibling of ``path`` to write into; see the module docstring.

    Raises ValueError, before anything is written, when ``path`` exists and
    ``overwrite`` is False (and again at the swap, should it appear meanwhile),
    or when ``path`` exists and is not a directory.
    """
    path = os.path.abspath(path)
    _check_target(path, overwrite)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = _sibling(path, "tmp")
    os.mkdir(tmp)  # honours the umask, unlike tempfile.mkdtemp's 0700
    try:
        yield tmp
        _fsync_tree(tmp)
        _check_target(path, overwrite)
        old = None
        if os.path.lexists(path):
            old = _sibling(path, "old")
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)
            raise
        _fsync_dir(os.path.dirname(path))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_target(path: str, overwrite: bool) -> None:
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise ValueError(f"{path!r} already exists (pass overwrite=True to replace it)")
    if os.path.islink(path) or not os.path.isdir(path):
        raise ValueError(f"{path!r} exists and is not a directory: refusing to replace it")
