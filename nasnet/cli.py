"""What every binary shares: exit codes, paths relative to the caller, one-line errors.

Only binaries import this module (a contract in ``.importlinter`` says so);
libraries raise exceptions and never exit. One convention for every binary
(``search``, ``train``, the detection binaries, ``zoo``, ``summarize``):

=====  ==================================================================
0      success
1      an operation ran and failed (``zoo verify`` found a damaged entry,
       ``zoo classify`` could not run the model, a training run failed)
2      a bad command line or bad input (unknown or malformed flags, extra
       arguments, a missing or malformed file, a dataset that is not
       prepared); detected before anything is written
130    interrupted (Ctrl-C); commands that resume say so in their message
=====  ==================================================================

Errors are one line on stderr, ``<program>: error: <what and which value>``;
no traceback (``NASNET_TRACEBACK=1`` prints one as well, for bug reports).
absl's own flag errors (``--budget=abc``, an unknown flag) follow the same
convention: one line, exit 2 (absl alone prints its usage and exits 1).

Paths given on the command line are relative to where the user ran the
command: ``bazel run`` starts a binary inside its runfiles tree and records
the caller's directory in ``BUILD_WORKING_DIRECTORY``; ``user_path`` resolves
against it (else the current directory), so ``--workdir=out/x`` means the
same under ``bazel run``, ``python -m`` and a console script. URLs
(``gs://bucket/run``, any ``scheme://``) are left as they are.

Example (a binary's last lines)::

    def main(argv: list[str]) -> int:
        workdir = cli.user_path(FLAGS.workdir)
        ...

    def run() -> None:            # the console script's entry point
        cli.run(main, "search")

    if __name__ == "__main__":
        run()
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Callable, Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """A malformed command line: exit status 2 with the message."""


class OperationFailed(RuntimeError):
    """An operation that ran and failed (as opposed to bad input): exit status 1."""


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C with a message for the user (e.g. how to resume): exit status 130."""


def caller_dir() -> str:
    """The directory the user ran the command in (``bazel run`` included)."""
    return os.environ.get("BUILD_WORKING_DIRECTORY") or os.getcwd()


def is_url(path: str) -> bool:
    """``gs://bucket/x``, ``s3://...``, any ``scheme://``: not a local path."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.isidentifier()


def user_path(path: str | None) -> str | None:
    """``path`` as the user meant it: ``~`` expanded, absolute against ``caller_dir()``.

    None and '' pass through; URLs are returned unchanged.
    """
    if not path:
        return path
    if is_url(path):
        return path
    return os.path.normpath(os.path.join(caller_dir(), os.path.expanduser(path)))


#: Pseudo file systems where nothing of ours can be written.
_PSEUDO_FILESYSTEMS = ("/proc", "/sys", "/dev")


def check_output_dir(path: str, flag: str) -> str:
    """``path`` if a directory can be made or written there; else ValueError naming ``flag``.

    Checked before any work starts: a path that is an existing file, lies on a
    pseudo file system (``/proc``, ``/sys``, ``/dev``), or whose nearest
    existing ancestor is not a writable directory. Creates nothing. URLs are
    not checked here (the object store answers when written).
    """
    if is_url(path):
        return path
    real = os.path.realpath(path)
    if any(real == p or real.startswith(p + os.sep) for p in _PSEUDO_FILESYSTEMS):
        raise ValueError(f"{flag}={path} is on a pseudo file system; choose a directory on disk")
    if os.path.exists(real) and not os.path.isdir(real):
        raise ValueError(f"{flag}={path} is a file, not a directory")
    ancestor = real
    while not os.path.exists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"{flag}={path}: {ancestor} is a file, so the directory cannot be made")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{flag}={path}: {ancestor} is not writable")
    return path


def display_path(path: str) -> str:
    """``path`` relative to ``caller_dir()`` when it lies below it, else as given."""
    if is_url(path):
        return path
    short = os.path.relpath(path, caller_dir())
    return path if short == ".." or short.startswith(".." + os.sep) else short


def one_line(message: object) -> str:
    """The message of an exception (or any text) folded onto one line."""
    text = " ".join(str(message).split())
    return text or type(message).__name__


def error(program: str, message: object) -> None:
    """Prints ``<program>: error: <message>`` on stderr (one line)."""
    print(f"{program}: error: {one_line(message)}", file=sys.stderr, flush=True)


def call(main: Callable[[list[str]], int | None], argv: Sequence[str], program: str,
         positional: bool = False) -> int:
    """Runs ``main(argv)`` and maps what it raises onto the exit codes above.

    ``positional``: whether the binary takes positional arguments (else any
    is a usage error).
    """
    try:
        if not positional and len(argv) > 1:
            raise UsageError(f"unexpected arguments {list(argv[1:])}; every option is a "
                             f"--flag (see --help)")
        return int(main(list(argv)) or EXIT_OK)
    except KeyboardInterrupt as e:
        message = str(e) if isinstance(e, Interrupted) and str(e) else "interrupted"
        print(f"{program}: {one_line(message)}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except OperationFailed as e:
        _maybe_traceback()
        error(program, e)
        return EXIT_FAILED
    except ValueError as e:  # bad input, UsageError included
        _maybe_traceback()
        error(program, e)
        return EXIT_USAGE


def _maybe_traceback() -> None:
    if os.environ.get("NASNET_TRACEBACK") == "1":
        traceback.print_exc()


def run(main: Callable[[list[str]], int | None], program: str,
        positional: bool = False) -> None:
    """``absl.app.run`` with this module's conventions; exits the process.

    absl parses the flags (a bad flag: one line, exit 2), then ``call`` runs
    ``main`` with the remaining arguments.
    """
    from absl import app, flags  # noqa: PLC0415 -- binaries only; keeps the kernel absl-free

    def parse(argv: list[str]) -> list[str]:
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:
            error(program, e)
            sys.exit(EXIT_USAGE)

    app.run(lambda argv: call(main, argv, program, positional), flags_parser=parse)
