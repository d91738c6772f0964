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
the caller's directory in ``BUILD_WORKING_DIRECTORY``; ``user_path`` (from
``nasnet.paths``, the one implementation) resolves against it (else the
current directory), so ``--workdir=out/x`` means the same under ``bazel run``,
``python -m`` and a console script. URLs (``gs://bucket/run``, any
``scheme://``) are left as they are.

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

from nasnet import io_utils
from nasnet.paths import caller_directory, is_url, user_path

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED", "UsageError",
           "OperationFailed", "Interrupted", "caller_directory", "is_url", "user_path",
           "display_path", "check_output_dir", "one_line", "error", "call", "run"]

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


def check_output_dir(path: str, flag: str) -> str:
    """``path`` when a directory can be made and written there, else ValueError naming
    ``flag`` (``io_utils.check_writable_directory``: a file, a file as a parent, a
    read-only or pseudo file system such as ``/proc``). Creates nothing."""
    io_utils.check_writable_directory(path, flag)
    return path


def display_path(path: str) -> str:
    """``path`` relative to ``caller_directory()`` when it lies below it, else as given."""
    if is_url(path):
        return path
    short = os.path.relpath(path, caller_directory())
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
