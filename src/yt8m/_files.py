"""Atomic file writing: outputs appear whole or not at all."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask can only be read by setting it


class AtomicFile:
    """A temporary file beside ``path`` that becomes ``path`` only on :meth:`commit`.

    :meth:`commit` flushes, fsyncs and renames the file onto ``path`` (atomic on one
    file system); :meth:`discard` removes it and leaves ``path`` untouched.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent
        )
        self.tmp_path = Path(tmp_name)
        os.chmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual permissions
        self.handle: BinaryIO = os.fdopen(fd, "wb")

    def commit(self) -> None:
        """Move the finished file into place; if that fails (disk full, an I/O error, ``path``
        a directory), the temporary file is removed, ``path`` is left as it was, and the
        error is raised."""
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self.tmp_path, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Delete the temporary file; nothing appears at ``path``."""
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp_path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing.

    On normal exit it replaces ``path``; on an exception it is removed and ``path``
    is left as it was.
    """
    target = AtomicFile(path)
    try:
        yield target.handle
    except BaseException:
        target.discard()
        raise
    target.commit()


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of the file at ``path``, read in chunks (``hashlib.file_digest``)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_input_bytes(path: str | os.PathLike[str], *, expected: str = "a file") -> bytes:
    """Read a user's input file whole, turning OS errors into one-line :class:`InputError`."""
    from yt8m.errors import InputError

    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, expected {expected}") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from exc


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as handle:
        handle.write(data)
