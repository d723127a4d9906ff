# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""The minion's firewall lock: state runs and the watcher's repairs never interleave their writes.

One file, ``<cachedir>/nodeallow/firewall.lock``, held with ``flock`` for a whole state run
(read, apply, verify, store) and for a whole repair (check, apply, verify). ``flock`` locks belong
to the open file, so two holders in one process exclude each other too.
"""

import contextlib
import fcntl
import os
import time

FILE_NAME = "firewall.lock"


def path(cachedir):
    """The lock file's path below the minion's ``cachedir``."""
    return os.path.join(cachedir, "nodeallow", FILE_NAME)


@contextlib.contextmanager
def held(cachedir, timeout=None):
    """Hold the firewall lock; wait for it at most ``timeout`` seconds (``None``: as long as it takes).

    Raises TimeoutError naming the lock file when it stays taken.
    """
    file_path = path(cachedir)
    os.makedirs(os.path.dirname(file_path), mode=0o700, exist_ok=True)
    with open(file_path, "a+b") as handle:
        if timeout is None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise TimeoutError(
                            f"the nodeallow firewall lock {file_path} stayed taken for {timeout}s "
                            "(a state run or repair still running?)"
                        ) from None
                    time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
