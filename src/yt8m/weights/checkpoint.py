"""TensorFlow checkpoints read into numpy arrays, without TensorFlow.

Two on-disk formats exist; :func:`read_checkpoint` and :func:`list_checkpoint` tell
them apart by themselves.

**V1** (``tf.compat.v1.train.Saver(write_version=V1)``; the official
``vggish_model.ckpt``): one file, a LevelDB-format table (:mod:`.sstable`). The entry
under the empty key is a ``SavedTensorSlices`` whose ``meta`` lists every tensor's
name, shape, dtype and the slices it was saved in. Each slice is its own entry, a
``SavedTensorSlices`` whose ``data`` (a ``SavedSlice``) holds the values in a
``TensorProto`` (typed repeated fields such as ``float_val``; no dtype or shape).

**V2** (the default since TensorFlow 1.2): ``PREFIX.index``, a table whose empty key
holds a ``BundleHeaderProto`` (number of shards, byte order) and whose other keys are
tensor names mapping to ``BundleEntryProto`` (dtype, shape, shard, byte offset and
size, masked CRC32C of the bytes), plus ``PREFIX.data-SSSSS-of-NNNNN`` shards holding
the raw bytes. A partitioned tensor's entry lists its ``slices`` and stores no bytes
itself; each slice is an entry of its own.

In both formats a slice's key is TensorFlow's ``EncodeTensorNameSlice``
(:func:`encode_tensor_name_slice`): OrderedCode's ``NumIncreasing(0)``, the name as an
OrderedCode string, ``NumIncreasing(rank)``, then ``SignedNumIncreasing`` start and
length for every dimension (length -1 for a dimension taken whole).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from google.protobuf.message import DecodeError

from yt8m.errors import WeightsError
from yt8m.formats import protos
from yt8m.formats.tfrecord import masked_crc32c
from yt8m.weights.sstable import Table, is_table, read_table
from yt8m.weights.tensor_proto import NUMPY_DTYPES, dtype_name, shape_of, to_numpy

CheckpointFormat = Literal["v1", "v2"]

_BIG_ENDIAN = 1  # BundleHeaderProto.Endianness.BIG
_DATA_SHARD = re.compile(r"\.data-\d{5}-of-\d{5}$")
_EXPECTED = ("expected a V1 checkpoint file (one LevelDB-format table, e.g. vggish_model.ckpt) "
             "or a V2 checkpoint: its prefix (e.g. model.ckpt) or its .index file, with "
             "PREFIX.index and PREFIX.data-00000-of-NNNNN beside each other")


class TensorInfo(NamedTuple):
    """What a checkpoint says about one tensor: its shape and numpy dtype."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]


#: One extent per dimension: ``(start, length)``, length -1 meaning "the whole dimension".
Extents = tuple[tuple[int, int], ...]
#: A slice resolved against a shape: ``[start, stop)`` per dimension.
Box = tuple[tuple[int, int], ...]


# --- OrderedCode keys of tensor slices ------------------------------------------------

def _num_increasing(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return bytes([len(body)]) + body


def _ordered_string(text: bytes) -> bytes:
    escaped = re.sub(rb"[\x00\xff]", lambda m: b"\x00\xff" if m[0] == b"\x00" else b"\xff\x00", text)
    return escaped + b"\x00\x01"


def _signed_num_increasing(value: int) -> bytes:
    # n bytes hold [-2**(7n-1), 2**(7n-1)); the top n bits flag sign and length.
    bits = (~value if value < 0 else value).bit_length()
    length = max(1, -(-(bits + 1) // 7))
    header = ((1 << length) - 1) << (7 * length)
    return ((value % (1 << (8 * length))) ^ header).to_bytes(length, "big")


def encode_tensor_name_slice(name: str, extents: Extents) -> bytes:
    """Return the table key under which TensorFlow stores slice ``extents`` of ``name``."""
    parts = [_num_increasing(0), _ordered_string(name.encode()), _num_increasing(len(extents))]
    for start, length in extents:
        parts += [_signed_num_increasing(start), _signed_num_increasing(length)]
    return b"".join(parts)


# --- slices and their assembly ---------------------------------------------------------

def _extents(slice_proto: Any) -> Extents:
    return tuple((int(e.start), int(e.length) if e.HasField("length") else -1)
                 for e in slice_proto.extent)


def _box(extents: Extents, shape: tuple[int, ...]) -> Box | None:
    """Resolve extents to ``[start, stop)`` per dimension; None when out of bounds."""
    if not extents:  # a slice with no extents is the whole tensor
        extents = ((0, -1),) * len(shape)
    if len(extents) != len(shape):
        return None
    box = tuple((0, dim) if length < 0 else (start, start + length)
                for (start, length), dim in zip(extents, shape, strict=True))
    if any(start < 0 or stop > dim or start > stop for (start, stop), dim in zip(box, shape, strict=True)):
        return None
    return box


def _overlap(a: Box, b: Box) -> bool:
    return all(max(a0, b0) < min(a1, b1) for (a0, a1), (b0, b1) in zip(a, b, strict=True))


def _assemble(
    where: str, shape: tuple[int, ...], dtype: np.dtype[Any],
    pieces: Sequence[tuple[Box, npt.NDArray[Any]]],
) -> npt.NDArray[Any]:
    """Put slices together into the full tensor, checking they tile it exactly."""
    full_box = tuple((0, dim) for dim in shape)
    if len(pieces) == 1 and pieces[0][0] == full_box:
        return pieces[0][1]
    total = int(np.prod(shape, dtype=np.int64))
    covered = sum(int(np.prod([stop - start for start, stop in box], dtype=np.int64)) for box, _ in pieces)
    overlapping = any(_overlap(a[0], b[0]) for i, a in enumerate(pieces) for b in pieces[i + 1:])
    if covered != total or overlapping:
        raise WeightsError(f"{where}: its {len(pieces)} saved slices do not tile the shape {list(shape)}")
    out = np.empty(shape, dtype)
    for box, values in pieces:
        out[tuple(slice(start, stop) for start, stop in box)] = values
    return out


def _numpy_dtype(tf_dtype: int) -> np.dtype[Any] | None:
    return NUMPY_DTYPES.get(tf_dtype)


def _parse(message_class: Any, data: bytes, where: str) -> Any:
    """Parse a protobuf message, turning a decoding failure into a WeightsError."""
    try:
        return message_class.FromString(data)
    except DecodeError as e:
        raise WeightsError(f"{where}: corrupt {message_class.DESCRIPTOR.name} message ({e})") from None


# --- V1: one table of SavedTensorSlices ----------------------------------------------

class _V1Checkpoint:
    """A V1 checkpoint file; reads one tensor at a time from its table."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.table = Table(path)
        try:
            self.tensors = self._read_meta()
        except BaseException:
            self.table.close()
            raise

    def close(self) -> None:
        """Close the checkpoint file."""
        self.table.close()

    def _read_meta(self) -> dict[str, Any]:
        header = self.table.get(b"")
        message = None
        if header is not None:
            message = _parse(protos.SavedTensorSlices, header, f"{self.path}: metadata")
        if message is None or not message.HasField("meta"):
            raise WeightsError(
                f"{self.path}: a LevelDB-format table but not a V1 checkpoint (no "
                f"SavedTensorSliceMeta under the empty key); {_EXPECTED}")
        return {meta.name: meta for meta in message.meta.tensor}

    def info(self) -> dict[str, tuple[tuple[int, ...], int]]:
        """Shape and TensorFlow dtype of every tensor, in key order."""
        return {name: (shape_of(meta.shape), meta.type) for name, meta in sorted(self.tensors.items())}

    def read(self, name: str, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        """Read tensor ``name`` whole, from all its slices."""
        meta = self.tensors[name]
        shape = shape_of(meta.shape)
        where = f"{self.path}: tensor {name!r}"
        pieces = []
        for slice_proto in meta.slice:
            extents = _extents(slice_proto)
            box = _box(extents, shape)
            if box is None:
                raise WeightsError(f"{where}: slice {list(extents)} does not fit the shape {list(shape)}")
            pieces.append((box, self._read_slice(name, extents, box, meta.type, where)))
        if not pieces:
            raise WeightsError(f"{where}: the metadata lists no saved slices")
        return _assemble(where, shape, dtype, pieces)

    def _read_slice(
        self, name: str, extents: Extents, box: Box, tf_dtype: int, where: str
    ) -> npt.NDArray[Any]:
        """Read one saved slice: look its key up, check it, decode its TensorProto."""
        value = self.table.get(encode_tensor_name_slice(name, extents))
        if value is None:
            raise WeightsError(f"{where}: slice {list(extents)} is listed in the metadata but missing")
        saved = _parse(protos.SavedTensorSlices, value, f"{where} slice {list(extents)}").data
        if saved.name != name:
            raise WeightsError(f"{where}: the entry of slice {list(extents)} holds tensor {saved.name!r}")
        tensor = saved.data
        if tensor.dtype not in (0, tf_dtype):  # TensorFlow leaves dtype and shape unset here
            raise WeightsError(f"{where}: slice data has dtype {dtype_name(tensor.dtype)}, "
                               f"the metadata says {dtype_name(tf_dtype)}")
        tensor.dtype = tf_dtype
        slice_shape = tuple(stop - start for start, stop in box)
        if not tensor.tensor_shape.dim:
            for size in slice_shape:
                tensor.tensor_shape.dim.add(size=size)
        values = to_numpy(tensor, name=where)
        if values.shape != slice_shape:
            raise WeightsError(f"{where}: slice data has shape {list(values.shape)}, "
                               f"expected {list(slice_shape)}")
        return values


# --- V2: .index table + raw data shards ------------------------------------------------

class _V2Checkpoint:
    """A V2 checkpoint (tensor bundle) given by its prefix."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.index_path = Path(f"{prefix}.index")
        entries = read_table(self.index_path)
        header_bytes = entries.pop(b"", None)
        if header_bytes is None:
            raise WeightsError(f"{self.index_path}: no BundleHeaderProto under the empty key; "
                               f"not a V2 checkpoint index; {_EXPECTED}")
        header = _parse(protos.BundleHeaderProto, header_bytes, f"{self.index_path}: header")
        self.num_shards = header.num_shards
        self.byte_order: Literal["<", ">"] = ">" if header.endianness == _BIG_ENDIAN else "<"
        self.entries = entries  # tensor names and encoded slice keys -> BundleEntryProto bytes

    def close(self) -> None:
        """Nothing stays open between reads."""

    def _entry(self, key: bytes, where: str) -> Any:
        value = self.entries.get(key)
        if value is None:
            raise WeightsError(f"{where}: no entry in {self.index_path}")
        return _parse(protos.BundleEntryProto, value, where)

    def info(self) -> dict[str, tuple[tuple[int, ...], int]]:
        """Shape and TensorFlow dtype of every tensor (slice entries left out), in key order."""
        out = {}
        for key in sorted(self.entries):
            if key.startswith(b"\x00"):  # an encoded slice key, not a tensor name
                continue
            entry = _parse(protos.BundleEntryProto, self.entries[key], f"{self.index_path}: entry {key!r}")
            out[key.decode("utf-8", "replace")] = (shape_of(entry.shape), entry.dtype)
        return out

    def read(self, name: str, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        """Read tensor ``name`` whole: its own bytes, or its slices' bytes put together."""
        where = f"{self.prefix}: tensor {name!r}"
        entry = self._entry(name.encode(), where)
        shape = shape_of(entry.shape)
        if not entry.slices:
            return self._read_bytes(entry, shape, dtype, where)
        pieces = []
        for slice_proto in entry.slices:
            extents = _extents(slice_proto)
            box = _box(extents, shape)
            if box is None:
                raise WeightsError(f"{where}: slice {list(extents)} does not fit the shape {list(shape)}")
            slice_where = f"{where} slice {list(extents)}"
            slice_entry = self._entry(encode_tensor_name_slice(name, extents), slice_where)
            slice_shape = tuple(stop - start for start, stop in box)
            pieces.append((box, self._read_bytes(slice_entry, slice_shape, dtype, slice_where)))
        return _assemble(where, shape, dtype, pieces)

    def _shard_path(self, shard_id: int) -> Path:
        return Path(f"{self.prefix}.data-{shard_id:05d}-of-{self.num_shards:05d}")

    def _read_bytes(
        self, entry: Any, shape: tuple[int, ...], dtype: np.dtype[Any], where: str
    ) -> npt.NDArray[Any]:
        """Read an entry's raw bytes from its shard, verify size and CRC32C, and decode."""
        count = int(np.prod(shape, dtype=np.int64))
        if shape_of(entry.shape) != shape or entry.size != count * dtype.itemsize:
            raise WeightsError(f"{where}: entry of shape {list(shape_of(entry.shape))} and {entry.size} "
                               f"bytes does not hold {list(shape)} {dtype} values")
        path = self._shard_path(entry.shard_id)
        data = bytearray(entry.size)
        try:
            with open(path, "rb") as f:
                f.seek(entry.offset)
                got = f.readinto(data)
        except OSError as e:
            raise WeightsError(f"{where}: cannot read data shard {path}: {e.strerror or e}") from e
        if got != entry.size:
            raise WeightsError(f"{path}: truncated: {where} needs bytes [{entry.offset}, "
                               f"{entry.offset + entry.size}), the file ends first")
        if masked_crc32c(data) != entry.crc32c:
            raise WeightsError(f"{path}: corrupt: checksum mismatch in the bytes of {where} "
                               f"(stored 0x{entry.crc32c:08x}, computed 0x{masked_crc32c(data):08x})")
        stored = dtype.newbyteorder(self.byte_order)
        if stored.isnative:
            return np.frombuffer(data, dtype).reshape(shape)
        return np.frombuffer(data, stored).reshape(shape).astype(dtype)


# --- detection and the public functions -------------------------------------------------

def detect_checkpoint(path: str | os.PathLike[str]) -> tuple[CheckpointFormat, Path]:
    """Say which format the checkpoint at ``path`` is in.

    Returns ``("v1", file)`` or ``("v2", prefix)``. A V2 checkpoint may be given as
    its prefix, its ``.index`` file or one of its data shards. Raises
    :class:`~yt8m.errors.WeightsError` naming ``path`` when it is neither.
    """
    p = Path(path)
    if p.name.endswith(".index") and p.is_file():
        return "v2", p.with_name(p.name[: -len(".index")])
    if _DATA_SHARD.search(p.name) and p.is_file():
        prefix = p.with_name(_DATA_SHARD.sub("", p.name))
        if Path(f"{prefix}.index").is_file():
            return "v2", prefix
    if Path(f"{p}.index").is_file():
        return "v2", p
    if p.is_file() and is_table(p):
        return "v1", p
    if p.is_file():
        raise WeightsError(f"{p}: not a TensorFlow checkpoint (no table footer magic at its end; "
                           f"wrong file or truncated): {_EXPECTED}")
    raise WeightsError(f"{p}: no such checkpoint: {_EXPECTED}")


def _open(path: str | os.PathLike[str]) -> _V1Checkpoint | _V2Checkpoint:
    kind, where = detect_checkpoint(path)
    return _V1Checkpoint(where) if kind == "v1" else _V2Checkpoint(where)


def list_checkpoint(path: str | os.PathLike[str]) -> dict[str, TensorInfo]:
    """Return the shape and numpy dtype of every numeric tensor, without reading values.

    Tensors that :func:`read_checkpoint` cannot turn into numpy arrays (strings,
    resources, bfloat16...) are left out, so the keys are exactly those that
    ``read_checkpoint(path)`` returns.
    """
    with contextlib.closing(_open(path)) as reader:
        info = reader.info()
    return {name: TensorInfo(shape, dtype) for name, (shape, tf_dtype) in info.items()
            if (dtype := _numpy_dtype(tf_dtype)) is not None}


def read_checkpoint(
    path: str | os.PathLike[str], *, names: Iterable[str] | None = None
) -> dict[str, npt.NDArray[Any]]:
    """Read a V1 or V2 TensorFlow checkpoint into ``{name: array}``.

    ``path`` is a V1 checkpoint file, or a V2 checkpoint prefix or ``.index`` file
    (the format is detected). Every array has the saved shape and dtype, values
    exactly as saved; partitioned tensors are put back together from their slices.
    Without ``names`` all numeric tensors are read and the others (strings,
    resources, bfloat16...) skipped, keys in sorted order; with ``names`` exactly
    those are read, in that order, and a name that is missing or not numeric is an
    error. All checksums are verified; any problem raises
    :class:`~yt8m.errors.WeightsError` naming the file.
    """
    with contextlib.closing(_open(path)) as reader:
        wanted = _wanted(path, reader.info(), names)
        return {name: reader.read(name, dtype) for name, dtype in wanted.items()}


def _wanted(path: str | os.PathLike[str], info: dict[str, tuple[tuple[int, ...], int]],
            names: Iterable[str] | None) -> dict[str, np.dtype[Any]]:
    """Map each tensor to read to its numpy dtype, checking requested names."""
    if names is None:
        return {name: dtype for name, (_, tf_dtype) in info.items()
                if (dtype := _numpy_dtype(tf_dtype)) is not None}
    wanted = {}
    for name in names:
        if name not in info:
            known = ", ".join(sorted(info)[:20]) + (", ..." if len(info) > 20 else "")
            raise WeightsError(f"{path}: no tensor named {name!r}; it holds: {known}")
        dtype = _numpy_dtype(info[name][1])
        if dtype is None:
            raise WeightsError(f"{path}: tensor {name!r} has dtype {dtype_name(info[name][1])}, "
                               f"which cannot be read as a numpy array")
        wanted[name] = dtype
    return wanted
