"""A Ctrl-C that Ray's driver swallows still stops the search.

A search on Ray is stopped by Ctrl-C: the driver's main thread gets a
KeyboardInterrupt, the executor is closed on the way out and the binary
exits with status 130 (``nasnet.cli``). In this project's kill test
(``tests/search_cifar/test_resume_kill.py``) the signal was lost in 2 of
about a dozen runs: the search ignored it and ran to its end. The suspected
cause is Ray's driver, which swaps the Python-level SIGINT handler around task
submission (``ray._private.utils.DeferSigint``, ray 2.60: a handler that only
sets a flag, later restored; see also ray-project/ray#52898), so that a
signal arriving at the wrong moment never reaches Python's handler.

Python's C-level signal handler writes the number of every signal it
catches to the *wakeup fd* (``signal.set_wakeup_fd``) before it schedules
whichever Python handler is installed at that moment. ``SigintWatch`` owns
that fd, a non-blocking pipe, and ``check()`` raises KeyboardInterrupt once a
SIGINT byte has arrived; the Ray executor calls it between its waits (at
most a second apart). Written here because nothing in Ray or the standard
library offers "was there a SIGINT, whatever handler ran": asyncio's loop
uses the same fd for its own signal handlers, so the watch steps aside
(does nothing) when a wakeup fd is already set, and it works only in the
main thread, as ``set_wakeup_fd`` does.

Example:
    >>> watch = SigintWatch()
    >>> watch.check()      # raises KeyboardInterrupt after a Ctrl-C
    >>> watch.close()      # restores "no wakeup fd"
"""

from __future__ import annotations

import os
import signal
import threading


class SigintWatch:
    """See the module docstring. ``active`` says whether it watches."""

    def __init__(self):
        self._read: int | None = None
        self._write: int | None = None
        if threading.current_thread() is not threading.main_thread():
            return
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        if previous != -1:  # someone else's (an asyncio loop): leave it theirs
            signal.set_wakeup_fd(previous)
            os.close(read)
            os.close(write)
            return
        self._read, self._write = read, write

    @property
    def active(self) -> bool:
        return self._read is not None

    def check(self) -> None:
        """Raises KeyboardInterrupt when a SIGINT arrived since the last check."""
        if self._read is None:
            return
        caught = b""
        while True:
            try:
                chunk = os.read(self._read, 4096)
            except BlockingIOError:
                break
            if not chunk:
                break
            caught += chunk
        if int(signal.SIGINT) in caught:
            raise KeyboardInterrupt

    def close(self) -> None:
        """Gives the wakeup fd back (when it is still this watch's) and closes the pipe."""
        if self._read is None:
            return
        if threading.current_thread() is threading.main_thread():
            current = signal.set_wakeup_fd(-1)
            if current not in (-1, self._write):  # set by someone after us: theirs again
                signal.set_wakeup_fd(current)
        os.close(self._read)
        os.close(self._write)
        self._read = self._write = None
