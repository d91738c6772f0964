"""search_cifar.sigint_watch: a SIGINT whose Python handler was swapped out is still caught."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from search_cifar.sigint_watch import SigintWatch


def test_a_sigint_that_a_swapped_in_handler_swallowed_is_still_caught():
    watch = SigintWatch()
    try:
        assert watch.active
        watch.check()  # nothing has arrived: silent
        # A handler that only takes note, as Ray's driver installs around task submission.
        previous = signal.signal(signal.SIGINT, lambda *_: None)
        try:
            os.kill(os.getpid(), signal.SIGINT)
        finally:
            signal.signal(signal.SIGINT, previous)
        with pytest.raises(KeyboardInterrupt):
            watch.check()
        watch.check()  # read once: silent again
    finally:
        watch.close()
    assert not watch.active
    assert signal.set_wakeup_fd(-1) == -1  # the wakeup fd was given back


def test_other_signals_do_not_count():
    watch = SigintWatch()
    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        watch.check()  # a SIGUSR1 byte is read and ignored
    finally:
        signal.signal(signal.SIGUSR1, previous)
        watch.close()


def test_it_steps_aside_for_a_wakeup_fd_already_set_and_outside_the_main_thread():
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write)
    try:
        watch = SigintWatch()
        assert not watch.active
        watch.check()
        watch.close()
        assert signal.set_wakeup_fd(write) == write  # still the owner's
    finally:
        signal.set_wakeup_fd(-1)
        os.close(read)
        os.close(write)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(SigintWatch().active))
    thread.start()
    thread.join()
    assert seen == [False]
