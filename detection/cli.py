"""What the detection binaries share: paths under ``bazel run`` and clean failures.

``bazel run`` starts a binary inside its runfiles tree and records the
caller's directory in ``BUILD_WORKING_DIRECTORY``; ``abspath`` resolves
relative paths against it so ``--data_dir=out/shapes`` means the same with
``bazel run`` and with ``python -m``. ``run_main`` turns a ``ValueError``
(bad input: missing data, unknown ids, a checkpoint of another model) into
one ``error: ...`` line on stderr and exit status 2, without a traceback.

Example:
    >>> abspath("out/shapes")        # under bazel run, in /home/me/repo
    '/home/me/repo/out/shapes'
"""

from __future__ import annotations

import os
import sys
from typing import Callable

EXIT_BAD_INPUT = 2


def abspath(path: str | None) -> str | None:
    """``path`` made absolute against the caller's directory (None and '' pass through)."""
    if not path:
        return path
    path = os.path.expanduser(path)
    if os.path.isabs(path) or "://" in path:
        return path
    return os.path.join(os.environ.get("BUILD_WORKING_DIRECTORY") or os.getcwd(), path)


def run_main(main: Callable[[], int | None]) -> int:
    """Calls ``main``; a ValueError becomes ``error: <message>`` and exit status 2."""
    try:
        return int(main() or 0)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
