"""One small file-system interface over local paths and URLs (``gs://``, ``file://``, ...).

A Cloud TPU reads data and writes checkpoints on its hosts, so work
directories and the model zoo may live in a bucket. Local paths go through
``os`` (no TensorFlow import, symbolic links visible); URLs go through
``tf.io.gfile``, which TensorFlow already needs for checkpoints and
SavedModels, imported only when a URL is used. TensorFlow's own errors
(``tf.errors.NotFoundError``, ...) are turned into ``OSError`` here so that
callers handle one kind of failure. ``file:///abs/path`` is a URL that
``tf.io.gfile`` maps to the local disk: the tests run the URL code path that
way, without a bucket.

Why not fsspec or ``tf.io.gfile`` everywhere: the kernel keeps its local
code path free of TensorFlow (the genotype and the zoo's listing work without
it), ``tf.io.gfile`` is the client TensorFlow itself uses for ``gs://`` (the
same credentials as checkpoints), and the interface needed is a dozen calls.

Example:
    >>> makedirs("gs://bucket/zoo")
    >>> with open_file("gs://bucket/zoo/a.txt", "wb") as f:
    ...     f.write(b"x")
    >>> isfile("gs://bucket/zoo/a.txt"), listdir("gs://bucket/zoo")
    (True, ['a.txt'])
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
from typing import IO, Iterator

from nasnet import paths


def uses_gfile(path: str) -> bool:
    """True when ``path`` goes through ``tf.io.gfile`` (a URL)."""
    return paths.is_url(path)


def _gfile():
    import tensorflow as tf  # noqa: PLC0415 - only for URLs
    return tf.io.gfile


@contextlib.contextmanager
def _as_oserror(path: str) -> Iterator[None]:
    """``tf.errors.OpError`` (NotFound, PermissionDenied, ...) -> ``OSError``."""
    import tensorflow as tf  # noqa: PLC0415 - only for URLs
    try:
        yield
    except tf.errors.OpError as e:
        error = OSError(f"{path}: {e.message}")
        error.strerror = e.message
        error.filename = path
        raise error from None


def join(base: str, *parts: str) -> str:
    """``os.path.join`` for local paths, ``/``-joined for URLs."""
    return posixpath.join(base, *parts) if uses_gfile(base) else os.path.join(base, *parts)


def exists(path: str) -> bool:
    """Whether anything is at ``path`` (a dangling symbolic link counts)."""
    if not uses_gfile(path):
        return os.path.lexists(path)
    with _as_oserror(path):
        return _gfile().exists(path)


def isdir(path: str) -> bool:
    if not uses_gfile(path):
        return os.path.isdir(path)
    with _as_oserror(path):
        return _gfile().isdir(path)


def isfile(path: str) -> bool:
    if not uses_gfile(path):
        return os.path.isfile(path)
    with _as_oserror(path):
        return _gfile().exists(path) and not _gfile().isdir(path)


def islink(path: str) -> bool:
    """A symbolic link (object stores have none)."""
    return not uses_gfile(path) and os.path.islink(path)


def listdir(path: str) -> list[str]:
    """Names in directory ``path``, sorted (without a trailing ``/`` on URLs)."""
    if not uses_gfile(path):
        return sorted(os.listdir(path))
    with _as_oserror(path):
        return sorted(name.rstrip("/") for name in _gfile().listdir(path))


def makedirs(path: str) -> None:
    if not uses_gfile(path):
        os.makedirs(path, exist_ok=True)
        return
    with _as_oserror(path):
        _gfile().makedirs(path)


def walk(path: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(path)`` (links not followed), or ``tf.io.gfile.walk`` for URLs."""
    if not uses_gfile(path):
        yield from os.walk(path)
        return
    with _as_oserror(path):
        for root, dirs, files in _gfile().walk(path):
            yield root, [d.rstrip("/") for d in dirs], list(files)


def open_file(path: str, mode: str = "rb") -> IO:
    """A file object (binary or text mode as ``mode`` says)."""
    if not uses_gfile(path):
        return open(path, mode)  # noqa: SIM115 - the caller closes it
    with _as_oserror(path):
        return _gfile().GFile(path, mode)


def read_file(path: str) -> bytes:
    """The bytes of file ``path``."""
    if not uses_gfile(path):
        with open(path, "rb") as f:
            return f.read()
    with _as_oserror(path), _gfile().GFile(path, "rb") as f:
        return f.read()


def write_file(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` (not atomically: see ``nasnet.io_utils``)."""
    if not uses_gfile(path):
        with open(path, "wb") as f:
            f.write(data)
        return
    with _as_oserror(path), _gfile().GFile(path, "wb") as f:
        f.write(data)


def size(path: str) -> int:
    if not uses_gfile(path):
        return os.path.getsize(path)
    with _as_oserror(path):
        return int(_gfile().stat(path).length)


def mtime(path: str) -> float:
    """Modification time in seconds since the epoch (``lstat``: a link's own time)."""
    if not uses_gfile(path):
        return os.lstat(path).st_mtime
    with _as_oserror(path):
        return _gfile().stat(path).mtime_nsec / 1e9


def remove(path: str) -> None:
    """Deletes a file, a symbolic link, or a directory tree (links are not followed)."""
    if not uses_gfile(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return
    with _as_oserror(path):
        if _gfile().isdir(path):
            _gfile().rmtree(path)
        else:
            _gfile().remove(path)


def rename(src: str, dst: str) -> None:
    """Renames ``src`` over ``dst`` (atomic for a local path: ``rename(2)``; on an
    object store a server-side copy of each object, then a delete)."""
    if not uses_gfile(src):
        os.replace(src, dst)
        return
    with _as_oserror(src):
        _gfile().rename(src, dst, overwrite=True)


def copy_file(src: str, dst: str) -> None:
    if not (uses_gfile(src) or uses_gfile(dst)):
        shutil.copyfile(src, dst)
        return
    with _as_oserror(src):
        _gfile().copy(src, dst, overwrite=True)


def relative_files(root: str) -> list[str]:
    """``/``-separated paths of the files under ``root``, relative to it, sorted."""
    out = []
    for directory, _, files in walk(root):
        if uses_gfile(root):
            rel = directory[len(root.rstrip("/")):].strip("/")
        else:
            rel = os.path.relpath(directory, root)
            rel = "" if rel == "." else rel.replace(os.sep, "/")
        out.extend(f"{rel}/{name}" if rel else name for name in files)
    return sorted(out)


def copy_tree(src: str, dst: str) -> None:
    """Copies the files under ``src`` into ``dst`` (created), keeping the layout."""
    makedirs(dst)
    for rel in relative_files(src):
        target = join(dst, *rel.split("/"))
        makedirs(posixpath.dirname(target))
        copy_file(join(src, *rel.split("/")), target)
