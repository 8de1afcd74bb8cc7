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
def output_lock(folder: Path, *, file: Path | None = None) -> Iterator[None]:
    """Hold ``folder``'s lock for the run; a second run into the same folder is refused
    (:class:`InputError`) rather than left to do the work twice and mix the outputs.

    ``file``: a run that writes only that one file (``-o video.pb``) locks just that file
    (``.<name>.yt8m.lock`` beside it, removed after), so that one-video runs into one folder
    can run side by side (a shell loop, GNU parallel); a second run for the same file is
    refused.

    The lock is an OS lock on a file (``filelock``): it goes with the process that holds
    it, so a killed run never leaves the folder locked. It guards a local folder; a folder
    on a network file system is guarded only as far as that file system's locks go.
    """
    path = folder / LOCK_FILE if file is None else file.parent / f".{file.name}{LOCK_FILE}"
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        what = "this folder" if file is None else str(file)
        raise InputError(f"{folder if file is None else file}: another yt8m run is writing into {what}; "
                         "wait for it to end or choose another output") from None
    try:
        yield
    finally:
        lock.release()
        if file is not None:  # one lock file per output would pile up; a run that opened it
            with contextlib.suppress(OSError):  # just before this unlink and a third that makes
                path.unlink()  # a new one may then both write the file: atomically, and each
                # output is checked against its manifest line, so that costs a redo, not wrong data
