"""One run at a time into an output folder: the lock file both engines hold while they write."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from yt8m.errors import InputError

#: The lock file inside an output folder.
LOCK_FILE = ".yt8m.lock"


@contextlib.contextmanager
def output_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for the run; a second run into the same folder is refused
    (:class:`InputError`) rather than left to do the work twice and mix the outputs.

    The lock is an OS lock on a file (``filelock``): it goes with the process that holds
    it, so a killed run never leaves the folder locked. It guards a local folder; a folder
    on a network file system is guarded only as far as that file system's locks go.
    """
    lock = FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise InputError(f"{folder}: another yt8m run is writing into this folder; wait for it to end or "
                         f"choose another output") from None
    try:
        yield
    finally:
        lock.release()
