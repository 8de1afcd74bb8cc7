"""Reader of the LevelDB table ("SSTable") format that TensorFlow checkpoints use.

A V1 checkpoint file is one table; a V2 checkpoint's ``.index`` file is one table.
The layout, from the end of the file backwards:

* footer, 48 bytes: the metaindex and index ``BlockHandle``\\ s (each an offset and a
  size, as varints), zero padding to 40 bytes, then the magic number
  ``0xdb4775248b80fb57`` as a little-endian fixed64;
* the index block: one entry per data block, whose key is >= every key in that block
  and < every key in the next one, and whose value is the data block's handle;
* data blocks of key/value entries in ascending bytewise key order.

Every block is followed by a 5-byte trailer: a compression-type byte (0 none,
1 snappy) and the masked CRC32C of the stored block contents plus that type byte.
Inside a block, entries are ``varint shared, varint unshared, varint value_size,
key[shared:], value``, where ``shared`` bytes of the key are taken from the previous
key; the block ends with the restart-point offsets (fixed32 each) and their count
(fixed32).

TensorFlow's checkpoint writers store blocks uncompressed; snappy blocks (which other
LevelDB-format writers produce) are decompressed by the small pure-Python
:func:`snappy_decompress`.
"""

from __future__ import annotations

import bisect
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple, Self

from yt8m.errors import WeightsError
from yt8m.formats.tfrecord import masked_crc32c

#: The table magic number, stored little-endian in the last 8 bytes of the file.
TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_BYTES = 48
BLOCK_TRAILER_BYTES = 5
NO_COMPRESSION = 0
SNAPPY_COMPRESSION = 1

_FIXED32 = struct.Struct("<I")
_FIXED64 = struct.Struct("<Q")


class SnappyError(ValueError):
    """A snappy stream is malformed."""


class BlockHandle(NamedTuple):
    """Where a block lies in the file: ``[offset, offset + size)``, trailer excluded."""

    offset: int
    size: int


def read_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode the base-128 varint at ``data[pos]``; return ``(value, next_pos)``.

    Raises :class:`IndexError` when the data ends inside the varint and
    :class:`ValueError` when it runs longer than 10 bytes.
    """
    result = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def snappy_decompress(data: bytes | bytearray | memoryview) -> bytes:
    """Decompress one raw snappy stream (no framing format), as LevelDB stores blocks.

    The stream is a varint uncompressed length followed by elements: literals (tag
    low bits 00) and back-references copying ``length`` bytes from ``offset`` bytes
    back in the output (01: 1-byte offset, 10: 2-byte, 11: 4-byte), which may overlap
    the bytes they produce. Raises :class:`SnappyError` on any inconsistency.
    """
    data = memoryview(data).cast("B")
    try:
        expected, pos = read_varint(data, 0)
    except (IndexError, ValueError) as e:
        raise SnappyError("bad uncompressed-length preamble") from e
    out = bytearray()
    end = len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            pos = _snappy_literal(data, pos, tag, out)
        else:
            pos = _snappy_copy(data, pos, tag, kind, out)
        if len(out) > expected:
            raise SnappyError(f"output exceeds the declared {expected} bytes")
    if len(out) != expected:
        raise SnappyError(f"stream produced {len(out)} bytes, declared {expected}")
    return bytes(out)


def _snappy_literal(data: memoryview, pos: int, tag: int, out: bytearray) -> int:
    size = tag >> 2
    if size >= 60:  # the length - 1 follows in (size - 59) little-endian bytes
        extra = size - 59
        if pos + extra > len(data):
            raise SnappyError("stream ends inside a literal length")
        size = int.from_bytes(data[pos:pos + extra], "little")
        pos += extra
    size += 1
    if pos + size > len(data):
        raise SnappyError(f"literal of {size} bytes runs past the end of the stream")
    out += data[pos:pos + size]
    return pos + size


def _snappy_copy(data: memoryview, pos: int, tag: int, kind: int, out: bytearray) -> int:
    if kind == 1:  # 3 bits of length - 4, 11 bits of offset
        if pos + 1 > len(data):
            raise SnappyError("stream ends inside a copy element")
        size = 4 + ((tag >> 2) & 7)
        offset = ((tag >> 5) << 8) | data[pos]
        pos += 1
    else:  # 6 bits of length - 1, then a 2- or 4-byte little-endian offset
        width = 2 if kind == 2 else 4
        if pos + width > len(data):
            raise SnappyError("stream ends inside a copy element")
        size = (tag >> 2) + 1
        offset = int.from_bytes(data[pos:pos + width], "little")
        pos += width
    if offset == 0 or offset > len(out):
        raise SnappyError(f"copy offset {offset} outside the {len(out)} bytes produced so far")
    start = len(out) - offset
    if offset >= size:
        out += out[start:start + size]
    else:  # the copy overlaps its own output: the last `offset` bytes repeat
        pattern = bytes(out[start:])
        out += (pattern * (size // offset + 1))[:size]
    return pos


def _decode_handle(data: bytes | memoryview, pos: int) -> tuple[BlockHandle, int]:
    offset, pos = read_varint(data, pos)
    size, pos = read_varint(data, pos)
    return BlockHandle(offset, size), pos


def parse_block_entries(block: bytes | memoryview) -> Iterator[tuple[bytes, bytes]]:
    """Yield the ``(key, value)`` entries of decompressed block contents, in order.

    Raises :class:`ValueError` when the block is malformed.
    """
    if len(block) < 4:
        raise ValueError(f"block of {len(block)} bytes is too short for its restart count")
    num_restarts = _FIXED32.unpack_from(block, len(block) - 4)[0]
    limit = len(block) - 4 * (num_restarts + 1)
    if limit < 0:
        raise ValueError(f"block of {len(block)} bytes cannot hold {num_restarts} restart points")
    view = memoryview(block)
    pos = 0
    key = b""
    while pos < limit:
        try:
            shared, pos = read_varint(view, pos)
            unshared, pos = read_varint(view, pos)
            value_size, pos = read_varint(view, pos)
        except IndexError:
            raise ValueError(f"block entry header at byte {pos} runs past the entries") from None
        if shared > len(key) or pos + unshared + value_size > limit:
            raise ValueError(f"block entry at byte {pos} has inconsistent sizes")
        key = key[:shared] + bytes(view[pos:pos + unshared])
        pos += unshared
        yield key, bytes(view[pos:pos + value_size])
        pos += value_size


class Table:
    """A LevelDB-format table file, read lazily one block at a time.

    Iterating yields ``(key, value)`` pairs in ascending key order; ``table[key]``,
    :meth:`get` and ``in`` look one key up by reading a single data block. Every
    block read has its checksum verified. All problems with the file (not a table,
    truncated, corrupt) raise :class:`~yt8m.errors.WeightsError` naming the file.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        except OSError as e:
            raise WeightsError(f"{self.path}: cannot open table: {e.strerror or e}") from e
        try:
            self.file_size = os.fstat(self._file.fileno()).st_size
            self.index_handle = self._read_footer()
            self._index = list(self._entries(self.index_handle, "index block"))
            self._index_keys = [key for key, _ in self._index]
        except BaseException:
            self._file.close()
            raise

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, what: str) -> WeightsError:
        return WeightsError(f"{self.path}: {what}")

    def _read_footer(self) -> BlockHandle:
        if self.file_size < FOOTER_BYTES:
            raise self._error(
                f"not a TensorFlow checkpoint table: {self.file_size} bytes is shorter than "
                f"the {FOOTER_BYTES}-byte table footer (truncated or wrong file)")
        footer = self._read_at(self.file_size - FOOTER_BYTES, FOOTER_BYTES, "table footer")
        magic = _FIXED64.unpack_from(footer, FOOTER_BYTES - 8)[0]
        if magic != TABLE_MAGIC:
            raise self._error(
                f"not a TensorFlow checkpoint table: the last 8 bytes are not the table "
                f"magic number 0x{TABLE_MAGIC:016x} (got 0x{magic:016x}); the file is "
                f"truncated or of another format")
        try:
            _metaindex, pos = _decode_handle(footer, 0)
            index, _ = _decode_handle(footer, pos)
        except (IndexError, ValueError):
            raise self._error("corrupt table footer: bad block handles") from None
        return index

    def _read_at(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.file_size:
            raise self._error(
                f"truncated or corrupt: {what} at bytes [{offset}, {offset + size}) lies past "
                f"the end of the file ({self.file_size} bytes)")
        self._file.seek(offset)
        data = self._file.read(size)
        if len(data) != size:
            raise self._error(f"truncated: could read only {len(data)} of {size} bytes of {what}")
        return data

    def read_block(self, handle: BlockHandle, what: str = "data block") -> memoryview:
        """Return the decompressed contents of the block at ``handle``, checksum verified."""
        raw = self._read_at(handle.offset, handle.size + BLOCK_TRAILER_BYTES,
                            f"{what} at offset {handle.offset}")
        contents = memoryview(raw)[:handle.size]
        compression = raw[handle.size]
        stored_crc = _FIXED32.unpack_from(raw, handle.size + 1)[0]
        actual_crc = masked_crc32c(memoryview(raw)[:handle.size + 1])  # contents + type byte
        if stored_crc != actual_crc:
            raise self._error(
                f"corrupt {what} at offset {handle.offset}: checksum mismatch (stored "
                f"0x{stored_crc:08x}, computed 0x{actual_crc:08x})")
        if compression == NO_COMPRESSION:
            return contents
        if compression == SNAPPY_COMPRESSION:
            try:
                return memoryview(snappy_decompress(contents))
            except SnappyError as e:
                raise self._error(f"corrupt {what} at offset {handle.offset}: bad snappy data: {e}") from None
        raise self._error(
            f"{what} at offset {handle.offset} uses compression type {compression}; "
            f"supported: {NO_COMPRESSION} (none), {SNAPPY_COMPRESSION} (snappy)")

    def _entries(self, handle: BlockHandle, what: str) -> Iterator[tuple[bytes, bytes]]:
        block = self.read_block(handle, what)
        try:
            yield from parse_block_entries(block)
        except ValueError as e:
            raise self._error(f"corrupt {what} at offset {handle.offset}: {e}") from None

    def _data_handle(self, index_value: bytes) -> BlockHandle:
        try:
            return _decode_handle(index_value, 0)[0]
        except (IndexError, ValueError):
            raise self._error("corrupt index block: bad data block handle") from None

    def data_block_handles(self) -> list[BlockHandle]:
        """Where the data blocks lie, in key order (as the index block lists them)."""
        return [self._data_handle(value) for _, value in self._index]

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return self.items()

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Yield every ``(key, value)`` of the table in ascending key order."""
        for handle in self.data_block_handles():
            yield from self._entries(handle, "data block")

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        """Return the value stored under ``key``, or ``default`` when there is none."""
        block_number = bisect.bisect_left(self._index_keys, key)
        if block_number == len(self._index):
            return default
        handle = self._data_handle(self._index[block_number][1])
        for entry_key, value in self._entries(handle, "data block"):
            if entry_key == key:
                return value
            if entry_key > key:
                break
        return default

    def __getitem__(self, key: bytes) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, bytes) and self.get(key) is not None


def read_table(path: str | os.PathLike[str]) -> dict[bytes, bytes]:
    """Return every entry of the table at ``path`` as a dict (for small tables)."""
    with Table(path) as table:
        return dict(table.items())


def is_table(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a readable file ending in the table magic number."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < FOOTER_BYTES:
                return False
            f.seek(-8, os.SEEK_END)
            return _FIXED64.unpack(f.read(8))[0] == TABLE_MAGIC
    except OSError:
        return False
