"""TFRecord files: streaming read and write, checksums verified, gzip optional.

Record framing (little-endian), as TensorFlow's ``tf.io.TFRecordWriter`` writes it::

    uint64 length
    uint32 masked_crc32c(length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2**32)`` and CRC-32C
(Castagnoli). Records are read one at a time, so memory stays flat whatever the
file's size. Byte offsets in errors are offsets in the uncompressed stream.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal

import crc32c as _crc32c

from yt8m._files import AtomicFile
from yt8m.errors import CorruptRecordError, InputError, TruncatedRecordError

Compression = Literal["auto", "none", "gzip"]

_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_GZIP_MAGIC = b"\x1f\x8b"


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """Return TensorFlow's masked CRC-32C of ``data``."""
    crc = _crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def detect_compression(path: Path) -> Literal["none", "gzip"]:
    """Return "gzip" when ``path`` starts with the gzip magic bytes, else "none"."""
    with open(path, "rb") as handle:
        return "gzip" if handle.read(2) == _GZIP_MAGIC else "none"


def _open_for_reading(path: Path, compression: Compression) -> BinaryIO:
    if compression == "auto":
        compression = detect_compression(path)
    if compression == "gzip":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if compression == "none":
        return open(path, "rb")
    raise ValueError(f"Invalid compression ({compression!r}). Supported values are 'auto', 'none', 'gzip'.")


def iter_records(
    path: str | os.PathLike[str], *, compression: Compression = "auto", verify: bool = True
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(byte_offset, data)`` for every record of the TFRecord file ``path``.

    Raises :class:`CorruptRecordError` when a length or data checksum does not match
    (``verify=False`` skips the data checksum, not the length one) and
    :class:`TruncatedRecordError` when the file ends inside a record; both name the
    file and the record's byte offset. Records before the damage are yielded first.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    offset = 0
    index = 0
    try:
        with _open_for_reading(path, compression) as handle:
            while True:
                header = handle.read(_HEADER.size)
                if not header:
                    return
                if len(header) < _HEADER.size:
                    raise _truncated(path, index, offset, "in the record header")
                length, length_crc = _HEADER.unpack(header)
                if masked_crc32c(header[:8]) != length_crc:
                    raise CorruptRecordError(
                        f"{path}: record {index} at byte offset {offset} has a corrupt length "
                        f"(length checksum mismatch); the file is damaged from here on"
                    )
                data = handle.read(length)
                if len(data) < length:
                    raise _truncated(path, index, offset, f"after {len(data)} of {length} data bytes")
                footer = handle.read(_FOOTER.size)
                if len(footer) < _FOOTER.size:
                    raise _truncated(path, index, offset, "in the data checksum")
                if verify and masked_crc32c(data) != _FOOTER.unpack(footer)[0]:
                    raise CorruptRecordError(
                        f"{path}: record {index} at byte offset {offset} is corrupt "
                        f"(data checksum mismatch over {length} bytes)"
                    )
                yield offset, data
                offset += _HEADER.size + length + _FOOTER.size
                index += 1
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
        raise TruncatedRecordError(
            f"{path}: the gzip stream is damaged or cut short near uncompressed byte offset "
            f"{offset} ({exc}); {index} complete records were read before it",
            complete_records=index,
        ) from exc


def _truncated(path: Path, index: int, offset: int, where: str) -> TruncatedRecordError:
    return TruncatedRecordError(
        f"{path}: truncated: the file ends {where} of record {index} at byte offset {offset}; "
        f"it holds {index} complete records",
        complete_records=index,
    )


def read_records(
    path: str | os.PathLike[str], *, compression: Compression = "auto", verify: bool = True
) -> Iterator[bytes]:
    """Yield the data of every record of ``path`` (see :func:`iter_records`)."""
    for _, data in iter_records(path, compression=compression, verify=verify):
        yield data


def count_records(path: str | os.PathLike[str], *, compression: Compression = "auto") -> int:
    """Return the number of records in ``path``, verifying every checksum."""
    return sum(1 for _ in iter_records(path, compression=compression))


def encode_record(data: bytes) -> bytes:
    """Return ``data`` framed as one TFRecord (header, data, checksum)."""
    length = struct.pack("<Q", len(data))
    return b"".join(
        (length, _FOOTER.pack(masked_crc32c(length)), data, _FOOTER.pack(masked_crc32c(data)))
    )


class TFRecordWriter:
    """Write records to a TFRecord file atomically.

    The file appears at ``path`` only when the writer is closed without error; an
    exception inside the ``with`` block leaves no file (and keeps an existing one).
    ``compression="gzip"`` writes a gzip stream, as ``TFRecordOptions("GZIP")`` does.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, compression: Literal["none", "gzip"] = "none"
    ) -> None:
        if compression not in ("none", "gzip"):
            raise ValueError(f"Invalid compression ({compression!r}). Supported values are 'none', 'gzip'.")
        self.path = Path(path)
        self.records_written = 0
        self.bytes_written = 0
        self._file = AtomicFile(self.path)
        self._gzip = (
            gzip.GzipFile(fileobj=self._file.handle, mode="wb", mtime=0)
            if compression == "gzip" else None
        )
        self._handle: BinaryIO = self._gzip or self._file.handle  # type: ignore[assignment]
        self._closed = False

    def write(self, data: bytes) -> None:
        """Append one record holding ``data``."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        framed = encode_record(data)
        self._handle.write(framed)
        self.records_written += 1
        self.bytes_written += len(framed)

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._gzip is not None:
                self._gzip.close()
        except BaseException:
            self._file.discard()
            raise
        self._file.commit()

    def abort(self) -> None:
        """Discard everything written; no file appears."""
        if self._closed:
            return
        self._closed = True
        self._file.discard()

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_records(
    path: str | os.PathLike[str], records: Iterator[bytes] | list[bytes], *,
    compression: Literal["none", "gzip"] = "none",
) -> int:
    """Write every record of ``records`` to ``path`` atomically; return how many."""
    with TFRecordWriter(path, compression=compression) as writer:
        for data in records:
            writer.write(data)
        return writer.records_written
