"""Files written whole, read strictly, and the temporaries a kill leaves behind.

Writing:

* ``atomic_write_bytes`` / ``_text`` / ``_json``: a temporary file beside the
  target, fsynced, then renamed over it. Its mode is ``0o666`` less the umask,
  as for any file ``open()`` creates (0644 under the usual umask 022), so a
  zoo or a work directory shared by a team stays readable beside the
  SavedModels TensorFlow writes; ``tempfile.mkstemp``'s 0600 does not.
* ``atomic_directory``: a directory written whole (an export, a zoo entry, a
  run's final weights). The caller writes into a temporary sibling; on
  success every file is fsynced and the sibling is renamed into place. When
  the target exists and replacing is asked, the old directory is moved aside,
  the new one renamed in, then the old one deleted. When the caller's block
  raises, the temporary directory is removed and the old content is untouched.

Reading: ``read_text`` / ``read_json`` turn every failure into one
``ValueError`` line that names the file: missing, a directory, unreadable, not
UTF-8 (a binary file), not JSON, NaN / Infinity where refused, or nested
deeper than ``MAX_JSON_DEPTH`` (no file format here is deeper than 8; a
deeper document would only exhaust recursion further on).
``check_writable_directory`` tells, before any work starts, whether a
directory can be created and written.

Temporaries are named ``.tmp-<host>-<pid>-<random>`` (files) and
``.<name>.tmp-<host>-<pid>-<random>`` / ``.<name>.old-<host>-<pid>-<random>``
(directories), where ``<host>`` is 8 hex digits of the host name's sha256 and
``<pid>`` the writer's process id. A SIGKILL can leave one behind;
``remove_stale_temporaries(directory)``, called when a binary starts on a work
directory, a zoo or an export's parent, removes exactly those whose name
matches this pattern, whose modification time is older than the start of the
current process, and whose writer is gone (same host and no process with that
id; another host's only after ``OTHER_HOST_STALE_S``). Nothing else is ever
removed.

What is guaranteed where:

* A local path: ``rename(2)`` within one file system is atomic, so readers see
  the old file (directory) or the new one. Replacing a directory takes two
  renames, so between them the path is briefly absent; it is never partly
  written.
* A URL (``gs://...``, through ``nasnet.filesystem`` and ``tf.io.gfile``): an
  object store has no atomic rename. A file is uploaded as a temporary object
  and then renamed (a server-side copy, then a delete); an object becomes
  visible only when its upload or copy is complete, so readers see the old or
  the new file whole. A directory is not atomic: its files are copied one by
  one from the temporary prefix to the target, the ones named in
  ``commit_last`` (the zoo's ``manifest.json``) after all others, so a reader
  that trusts an entry only once that file exists sees it whole; when
  replacing, the old directory is deleted first and the path is absent or
  partial meanwhile.

Example:
    >>> atomic_write_text("/tmp/x.json", "{}")
    >>> read_json("/tmp/x.json", "settings")
    {}
    >>> with atomic_directory("/tmp/export", overwrite=True) as tmp:
    ...     atomic_write_text(os.path.join(tmp, "genotype.json"), "{}")
    >>> os.listdir("/tmp/export")
    ['genotype.json']
    >>> remove_stale_temporaries("/tmp")      # the leftovers of killed writers
    []
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import posixpath
import re
import socket
import time
import uuid
from typing import Any, Iterable, Iterator

from nasnet import filesystem as fs

#: Deeper JSON documents are refused by ``read_json`` (every format here is <= 8 deep).
MAX_JSON_DEPTH = 64
#: Another host's temporaries are removed only when untouched this long (its writer
#: cannot be checked from here).
OTHER_HOST_STALE_S = 24 * 3600.0

_HOST = hashlib.sha256(socket.gethostname().encode("utf-8")).hexdigest()[:8]
_IMPORT_TIME = time.time()
_TEMPORARY = re.compile(r"\.(?:.+\.)?(?:tmp|old)-(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})"
                        r"-[0-9a-f]{8}")


# -- temporary names -------------------------------------------------------------------
def _tag() -> str:
    return f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def temporary_file_name() -> str:
    """A fresh ``.tmp-<host>-<pid>-<random>`` name (``remove_stale_temporaries`` knows it)."""
    return f".tmp-{_tag()}"


def temporary_sibling(path: str, kind: str) -> str:
    """A fresh hidden name beside ``path``: ``.<name>.<kind>-<host>-<pid>-<random>``."""
    parent, name = posixpath.split(path.rstrip("/")) if fs.uses_gfile(path) \
        else os.path.split(path)
    return fs.join(parent, f".{name}.{kind}-{_tag()}")


def is_temporary_name(name: str) -> bool:
    """True for the names of this module's temporary files and directories."""
    return _TEMPORARY.fullmatch(name) is not None


# -- writing files ---------------------------------------------------------------------
def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to a temp file beside ``path``, fsyncs, then renames (see the
    module docstring for URLs). The file gets ``0o666`` less the umask."""
    if fs.uses_gfile(path):
        _write_object(path, data)
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, temporary_file_name())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _write_object(path: str, data: bytes) -> None:
    """A URL: the bytes as a temporary object, then renamed over ``path``."""
    directory = posixpath.dirname(path)
    fs.makedirs(directory)
    tmp = fs.join(directory, temporary_file_name())
    try:
        fs.write_file(tmp, data)
        fs.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            if fs.exists(tmp):
                fs.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


# -- writing directories -------------------------------------------------------------------
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
def atomic_directory(path: str, *, overwrite: bool = False,
                     commit_last: Iterable[str] = ()) -> Iterator[str]:
    """Yields an empty temporary sibling of ``path`` to write into; see the module docstring.

    Raises ValueError, before anything is written, when ``path`` exists and
    ``overwrite`` is False (and again at the swap, should it appear meanwhile),
    or when ``path`` exists and is not a directory. ``commit_last``: relative
    paths copied after every other file on an object store (a local directory
    is renamed whole, so there it changes nothing).
    """
    if fs.uses_gfile(path):
        with _object_store_directory(path.rstrip("/"), overwrite, tuple(commit_last)) as tmp:
            yield tmp
        return
    path = os.path.abspath(path)
    _check_target(path, overwrite)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = temporary_sibling(path, "tmp")
    os.mkdir(tmp)  # honours the umask, unlike tempfile.mkdtemp's 0700
    try:
        yield tmp
        _fsync_tree(tmp)
        _check_target(path, overwrite)
        old = None
        if os.path.lexists(path):
            old = temporary_sibling(path, "old")
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            if old is not None:
                os.replace(old, path)
            raise
        _fsync_dir(os.path.dirname(path))
    except BaseException:
        with contextlib.suppress(OSError):
            fs.remove(tmp)
        raise
    if old is not None:
        with contextlib.suppress(OSError):
            fs.remove(old)


@contextlib.contextmanager
def _object_store_directory(path: str, overwrite: bool,
                            commit_last: tuple[str, ...]) -> Iterator[str]:
    _check_target(path, overwrite)
    fs.makedirs(posixpath.dirname(path))
    tmp = temporary_sibling(path, "tmp")
    fs.makedirs(tmp)
    try:
        yield tmp
        _check_target(path, overwrite)
        if fs.exists(path):
            fs.remove(path)
        files = fs.relative_files(tmp)
        order = [f for f in files if f not in commit_last] + [f for f in files
                                                                 if f in commit_last]
        fs.makedirs(path)
        for rel in order:
            target = fs.join(path, rel)
            fs.makedirs(posixpath.dirname(target))
            fs.copy_file(fs.join(tmp, rel), target)
    finally:
        with contextlib.suppress(OSError):
            if fs.exists(tmp):
                fs.remove(tmp)


def _check_target(path: str, overwrite: bool) -> None:
    if not fs.exists(path):
        return
    if not overwrite:
        raise ValueError(f"{path!r} already exists (pass overwrite=True to replace it)")
    if fs.islink(path) or not fs.isdir(path):
        raise ValueError(f"{path!r} exists and is not a directory: refusing to replace it")


# -- reading ---------------------------------------------------------------------------
def read_text(path: str, what: str = "file") -> str:
    """The UTF-8 text of ``path``; one ValueError line naming ``what`` and the path."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"{what}: a path must be a non-empty string, got {path!r}")
    try:
        if not fs.exists(path):
            raise ValueError(f"{what} {path!r} does not exist")
        if fs.isdir(path):
            raise ValueError(f"{what} {path!r} is a directory, not a file")
        data = fs.read_file(path)
    except OSError as e:
        raise ValueError(f"cannot read {what} {path!r}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} {path!r} is not a text file: byte {e.start} is not UTF-8 "
                         f"({e.reason}); is it a binary file?") from None


def read_json(path: str, what: str = "JSON file", *, allow_constants: bool = True) -> Any:
    """The JSON value in ``path`` (see the module docstring for what is refused).

    ``allow_constants=False`` also refuses NaN, Infinity and -Infinity, which
    Python's json writes but JSON does not have.
    """
    text = read_text(path, what)
    try:
        return parse_json(text, allow_constants=allow_constants)
    except ValueError as e:
        raise ValueError(f"{what} {path!r} is not valid JSON: {e}") from None


def parse_json(text: str, *, allow_constants: bool = True) -> Any:
    """``json.loads`` with every failure a ValueError, depth at most ``MAX_JSON_DEPTH``."""
    def refuse(name: str) -> float:
        raise ValueError(f"{name} is not a JSON value")

    try:
        value = json.loads(text, **({} if allow_constants else {"parse_constant": refuse}))
    except RecursionError:
        raise ValueError(f"nested too deeply (more than {MAX_JSON_DEPTH} levels)") from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise ValueError(f"nested too deeply (more than {MAX_JSON_DEPTH} levels)")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


# -- checking a directory before the work starts --------------------------------------------
def check_writable_directory(path: str, what: str = "directory") -> None:
    """ValueError, before anything is written, when directory ``path`` cannot be made or
    written: it is a file, a parent is a file, or creating a file fails there (read-only
    or special file system such as ``/proc``, no permission). A probe file, named as a
    temporary, is created in ``path`` or its nearest existing parent and removed at once;
    nothing is left behind. URLs are not probed (their permissions are the store's)."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"{what} must be a non-empty path, got {path!r}")
    if fs.uses_gfile(path):
        return
    path = os.path.abspath(path)
    existing = path
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        if existing == path:
            raise ValueError(f"{what} {path!r} is a file, not a directory")
        raise ValueError(f"{what} {path!r} cannot be created: {existing!r} is a file, "
                         f"not a directory")
    probe = os.path.join(existing, temporary_file_name())
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        where = "" if existing == path else f" (its nearest existing parent {existing!r})"
        raise ValueError(f"{what} {path!r} is not writable{where}: "
                         f"{e.strerror or errno.errorcode.get(e.errno, e)}") from None
    os.close(fd)
    os.unlink(probe)


# -- stale temporaries ------------------------------------------------------------------------
def process_start_time() -> float:
    """When this process started (seconds since the epoch): now less its age from
    ``/proc`` (uptime less the start tick) where there is one, else when this module was
    imported. Both are counted in 10 ms ticks, so the estimate may be a few ticks early:
    a leftover from just before the start is then kept until a later run (never the
    other way round)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")
        return min(time.time() - age, _IMPORT_TIME)
    except (OSError, ValueError, IndexError):
        return _IMPORT_TIME


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process (or an id we cannot ask about): keep
    return True


def _is_stale(name: str, path: str, started: float) -> bool:
    match = _TEMPORARY.fullmatch(name)
    if match is None:
        return False
    try:
        modified = fs.mtime(path)
    except OSError:
        return False
    if modified >= started:
        return False
    if match["host"] == _HOST:
        return not _pid_alive(int(match["pid"]))
    return time.time() - modified > OTHER_HOST_STALE_S


def remove_stale_temporaries(directory: str, *, recursive: bool = True) -> list[str]:
    """Removes the temporaries killed writers left in ``directory`` (and below it when
    ``recursive``; symbolic links are not followed); returns what was removed.

    Only names of this module's pattern whose writer is gone and that are older than
    this process (see the module docstring). A directory that does not exist has none.
    """
    if not isinstance(directory, str) or not directory or not fs.isdir(directory):
        return []
    started = process_start_time()
    found = []
    for root, dirs, files in fs.walk(directory):
        found += [fs.join(root, name) for name in dirs + files if is_temporary_name(name)]
        if not recursive:
            break
        dirs[:] = [d for d in dirs if not is_temporary_name(d)
                   and not fs.islink(fs.join(root, d))]
    removed: list[str] = []
    for path in sorted(found):
        if any(path.startswith(other + "/") for other in found):
            continue  # inside another temporary: it goes (or stays) with that one
        if _is_stale(posixpath.basename(path.rstrip("/")), path, started):
            try:
                fs.remove(path)
            except OSError:
                continue  # gone meanwhile, or not ours to delete: leave it
            removed.append(path)
    return removed
