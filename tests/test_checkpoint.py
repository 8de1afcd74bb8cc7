"""TensorFlow checkpoints (V1 tables, V2 bundles) read without TensorFlow.

TensorFlow, in a subprocess, writes the checkpoints and dumps every value to .npy;
yt8m must reproduce each tensor exactly. Hand-built tables cover what TensorFlow's
writers never produce (snappy blocks, many small blocks) and corruption.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import official_fixtures
from tf_oracle import run_tf
from yt8m.errors import WeightsError
from yt8m.formats import protos
from yt8m.formats.tfrecord import masked_crc32c
from yt8m.weights.checkpoint import (
    TensorInfo,
    detect_checkpoint,
    encode_tensor_name_slice,
    list_checkpoint,
    read_checkpoint,
)
from yt8m.weights.sstable import (
    TABLE_MAGIC,
    SnappyError,
    Table,
    is_table,
    parse_block_entries,
    read_table,
    snappy_decompress,
)

# Shared by the TensorFlow snippets: save every value as OUT/<i>.npy, name -> file.
_DUMP = official_fixtures.DUMP_CODE

# Graph mode: a V1 and a V2 Saver over partitioned variables and many dtypes; eager
# mode: a tf.train.Checkpoint (whose object graph is a DT_STRING tensor).
_SMALL = _DUMP + """
import os
def graph_checkpoints(out):
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(5)
        v1 = tf.compat.v1
        rows = v1.get_variable("part/rows", [10, 4], tf.float32,
                               partitioner=v1.fixed_size_partitioner(3))
        cols = v1.get_variable("part/cols", [5, 7], tf.float64,
                               partitioner=v1.fixed_size_partitioner(2, axis=1))
        plain = {
            "f16": v1.get_variable("types/f16", [2, 3], tf.float16),
            "i8": v1.Variable(np.array([-128, 0, 127], np.int8), name="types/i8"),
            "i16": v1.Variable(np.array([[-32768, 5], [7, 32767]], np.int16), name="types/i16"),
            "u8": v1.Variable(np.arange(250, 256, dtype=np.uint8), name="types/u8"),
            "i32": v1.Variable(np.int32(-7), name="types/i32"),
            "i64": v1.Variable(np.array([2**40, -2**62, 3], np.int64), name="types/i64"),
            "b": v1.Variable(np.array([True, False, True]), name="types/b"),
            "f64": v1.Variable(np.array([np.pi, -0.0, 1e-300]), name="types/f64"),
            "same": v1.Variable(np.full([4, 3], 2.5, np.float32), name="types/same"),
            "empty": v1.Variable(np.zeros([0, 3], np.float32), name="types/empty"),
        }
        fetch = {"part/rows": tf.concat(list(rows), 0), "part/cols": tf.concat(list(cols), 1)}
        fetch.update({v.op.name: v.value() for v in plain.values()})
        savers = {"v1": v1.train.Saver(write_version=v1.train.SaverDef.V1),
                  "v2": v1.train.Saver(write_version=v1.train.SaverDef.V2)}
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            savers["v1"].save(sess, out + "/graph_v1.ckpt", write_meta_graph=False)
            savers["v2"].save(sess, out + "/graph_v2.ckpt", write_meta_graph=False)
            return sess.run(fetch)

def sharded_checkpoint(out):
    # A sharded V2 Saver writes one data file per device.
    v1 = tf.compat.v1
    with tf.Graph().as_default():
        with tf.device("/cpu:0"):
            a = v1.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="shard/a")
        with tf.device("/cpu:1"):
            b = v1.Variable(np.arange(-2, 3, dtype=np.int64), name="shard/b")
        saver = v1.train.Saver(sharded=True)
        with v1.Session(config=v1.ConfigProto(device_count={"CPU": 2})) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, out + "/sharded.ckpt", write_meta_graph=False)
            return sess.run({"shard/a": a.value(), "shard/b": b.value()})

def eager_checkpoint(out):
    rng = np.random.default_rng(3)
    values = {
        "scalar": np.float32(rng.standard_normal()),
        "vector": rng.standard_normal(17),
        "kernel": rng.standard_normal([3, 3, 2, 5]).astype(np.float32),
        "count": np.int32(-123456),
        "ids": rng.integers(-2**62, 2**62, [4, 6], dtype=np.int64),
        "steps": np.arange(5, dtype=np.int32),
    }
    ckpt = tf.train.Checkpoint(**{k: tf.Variable(v) for k, v in values.items()})
    ckpt.write(out + "/eager")
    return {f"{k}/.ATTRIBUTES/VARIABLE_VALUE": v for k, v in values.items()}

result = {}
for kind, write in [("graph", graph_checkpoints), ("sharded", sharded_checkpoint),
                    ("eager", eager_checkpoint)]:
    os.makedirs(args["out"] + "/" + kind)
    result[kind] = dump(write(args["out"] + "/" + kind), args["out"] + "/" + kind)
"""


_expected = official_fixtures.load_dumped
VGGISH_SHAPES = official_fixtures.VGGISH_SHAPES


def _assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(expected)
    for name, want in expected.items():
        assert got[name].dtype == want.dtype, name
        assert got[name].shape == want.shape, name
        assert np.array_equal(got[name], want), name


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("small")
    manifest = run_tf(_SMALL, out, out=str(out))
    return {"graph_v1": out / "graph" / "graph_v1.ckpt", "graph_v2": out / "graph" / "graph_v2.ckpt",
            "eager": out / "eager" / "eager", "sharded": out / "sharded" / "sharded.ckpt",
            **{f"{kind}_values": _expected(out / kind, manifest[kind]) for kind in manifest}}


# --- against TensorFlow ---------------------------------------------------------------------


@pytest.mark.oracle
def test_vggish_v1_checkpoint_full_size(vggish_v1) -> None:
    path, expected = vggish_v1
    assert detect_checkpoint(path) == ("v1", path)
    info = list_checkpoint(path)
    float32 = np.dtype(np.float32)
    assert info == {name: TensorInfo(tuple(shape), float32) for name, shape in VGGISH_SHAPES.items()}
    _assert_same(read_checkpoint(path), expected)


@pytest.mark.oracle
def test_vggish_v1_read_by_name(vggish_v1) -> None:
    path, expected = vggish_v1
    got = read_checkpoint(path, names=["vggish/fc2/biases", "vggish/conv1/weights"])
    assert list(got) == ["vggish/fc2/biases", "vggish/conv1/weights"]
    _assert_same(got, {k: expected[k] for k in got})


@pytest.mark.oracle
def test_v1_partitioned_and_dtypes(small) -> None:
    path = small["graph_v1"]
    assert detect_checkpoint(path)[0] == "v1"
    meta = protos.SavedTensorSlices.FromString(read_table(path)[b""]).meta
    assert len({m.name: m for m in meta.tensor}["part/rows"].slice) == 3  # really partitioned
    got = read_checkpoint(path)
    _assert_same(got, small["graph_values"])
    assert got["types/same"].flags.writeable


@pytest.mark.oracle
def test_v2_saver_partitioned_and_dtypes(small) -> None:
    prefix = small["graph_v2"]
    index = read_table(f"{prefix}.index")
    entry = protos.BundleEntryProto.FromString(index[b"part/cols"])
    assert len(entry.slices) == 2 and entry.size == 0  # the slices are entries of their own
    _assert_same(read_checkpoint(prefix), small["graph_values"])


@pytest.mark.oracle
def test_v2_sharded(small) -> None:
    prefix = small["sharded"]
    second = Path(f"{prefix}.data-00001-of-00002")
    assert second.is_file()
    assert detect_checkpoint(second) == ("v2", prefix)
    _assert_same(read_checkpoint(prefix), small["sharded_values"])


@pytest.mark.oracle
def test_v2_eager_checkpoint_skips_strings(small) -> None:
    prefix = small["eager"]
    assert b"_CHECKPOINTABLE_OBJECT_GRAPH" in read_table(f"{prefix}.index")
    expected = small["eager_values"]
    for given in (prefix, Path(f"{prefix}.index"), Path(f"{prefix}.data-00000-of-00001")):
        assert detect_checkpoint(given) == ("v2", prefix)
        _assert_same(read_checkpoint(given), expected)
    assert list_checkpoint(prefix) == {k: TensorInfo(v.shape, v.dtype) for k, v in expected.items()}
    with pytest.raises(WeightsError, match="DT_STRING"):
        read_checkpoint(prefix, names=["_CHECKPOINTABLE_OBJECT_GRAPH"])
    with pytest.raises(WeightsError, match="no tensor named 'nope'"):
        read_checkpoint(prefix, names=["nope"])


@pytest.mark.oracle
def test_v2_crc_is_masked_crc32c_of_the_raw_bytes(small) -> None:
    prefix = small["eager"]
    index = read_table(f"{prefix}.index")
    entry = protos.BundleEntryProto.FromString(index[b"kernel/.ATTRIBUTES/VARIABLE_VALUE"])
    raw = Path(f"{prefix}.data-00000-of-00001").read_bytes()[entry.offset:entry.offset + entry.size]
    assert entry.crc32c == masked_crc32c(raw)
    assert raw == small["eager_values"]["kernel/.ATTRIBUTES/VARIABLE_VALUE"].astype("<f4").tobytes()


@pytest.mark.oracle
def test_slice_keys_match_tensorflow(small) -> None:
    keys = set(read_table(small["graph_v1"]))
    assert encode_tensor_name_slice("types/i32", ()) in keys  # a scalar: rank 0
    assert encode_tensor_name_slice("types/f64", ((0, -1),)) in keys  # whole: length -1
    # A partition spells out every extent, even the dimensions it takes whole.
    assert encode_tensor_name_slice("part/cols", ((0, 5), (4, 3))) in keys
    rows = encode_tensor_name_slice("part/rows", ((0, 4), (0, 4)))
    assert rows == b"\x00part/rows\x00\x01\x01\x02\x80\x84\x80\x84" and rows in keys


def test_signed_numbers_in_slice_keys() -> None:
    # OrderedCode's SignedNumIncreasing, worked examples from TensorFlow's ordered_code.cc.
    assert encode_tensor_name_slice("", ((0x424242, -0x800),))[5:] == b"\xf0\x42\x42\x42\x38\x00"
    assert encode_tensor_name_slice("", ((63, -64),))[5:] == b"\xbf\x40"
    assert encode_tensor_name_slice("", ((64, -65),))[5:] == b"\xc0\x40\x3f\xbf"
    big = encode_tensor_name_slice("", ((2**63 - 1, -(2**63)),))[5:]
    assert big == b"\xff\xc0\x7f" + b"\xff" * 7 + b"\x00\x3f\x80" + b"\x00" * 7
    assert encode_tensor_name_slice("a\x00b", ()) == b"\x00a\x00\xffb\x00\x01\x00"  # NUL escaped


# --- hand-made tables, snappy ---------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _snappy_compress(data: bytes) -> bytes:
    """A greedy snappy compressor (literals and 2-byte-offset copies)."""
    out = bytearray(_varint(len(data)))

    def literal(chunk: bytes) -> None:
        if not chunk:
            return
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        else:
            width = (n.bit_length() + 7) // 8
            out.append((59 + width) << 2)
            out.extend(n.to_bytes(width, "little"))
        out.extend(chunk)

    seen: dict[bytes, int] = {}
    pos = start = 0
    while pos + 4 <= len(data):
        earlier = seen.get(data[pos:pos + 4])
        seen[data[pos:pos + 4]] = pos
        if earlier is None or pos - earlier >= 1 << 16:
            pos += 1
            continue
        size = 4
        while pos + size < len(data) and size < 64 and data[earlier + size] == data[pos + size]:
            size += 1
        literal(data[start:pos])
        out.append(((size - 1) << 2) | 2)
        out.extend((pos - earlier).to_bytes(2, "little"))
        pos = start = pos + size
    literal(data[start:])
    return bytes(out)


def _block(entries: list[tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out = bytearray()
    restarts = []
    previous = b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        out += _varint(shared) + _varint(len(key) - shared) + _varint(len(value)) + key[shared:] + value
        previous = key
    restarts = restarts or [0]
    return bytes(out) + struct.pack(f"<{len(restarts)}I", *restarts) + struct.pack("<I", len(restarts))


def _write_table(path: Path, entries: list[tuple[bytes, bytes]], *, per_block: int = 3,
                 snappy: bool = False) -> Path:
    """Write a LevelDB-format table as TensorFlow's TableBuilder lays it out."""
    out = bytearray()

    def append_block(contents: bytes, compress: bool) -> bytes:
        kind = b"\x01" if compress else b"\x00"
        stored = _snappy_compress(contents) if compress else contents
        handle = _varint(len(out)) + _varint(len(stored))
        out.extend(stored + kind + struct.pack("<I", masked_crc32c(stored + kind)))
        return handle

    index = []
    for i in range(0, len(entries), per_block):
        chunk = entries[i:i + per_block]
        index.append((chunk[-1][0], append_block(_block(chunk, 2), snappy)))
    metaindex = append_block(_block([], 1), False)
    footer = (metaindex + append_block(_block(index, 1), False)).ljust(40, b"\x00")
    path.write_bytes(bytes(out) + footer + struct.pack("<Q", TABLE_MAGIC))
    return path


def _hand_v1_entries(values: dict[str, np.ndarray]) -> list[tuple[bytes, bytes]]:
    """The entries of a V1 checkpoint holding float32 ``values`` whole (one slice each)."""
    meta = protos.SavedTensorSlices()
    meta.meta.versions.producer = 1
    entries = []
    for name, value in values.items():
        tensor = meta.meta.tensor.add(name=name, type=1)
        for size in value.shape:
            tensor.shape.dim.add(size=size)
        full = tensor.slice.add()
        for _ in value.shape:
            full.extent.add()
        data = protos.SavedTensorSlices()
        data.data.name = name
        data.data.slice.CopyFrom(full)
        data.data.data.float_val.extend(value.ravel().tolist())
        key = encode_tensor_name_slice(name, ((0, -1),) * value.ndim)
        entries.append((key, data.SerializeToString()))
    return sorted([(b"", meta.SerializeToString()), *entries])


def test_snappy_hand_made_stream() -> None:
    stream = bytes([
        30,                       # uncompressed length 30
        3 << 2, *b"abcd",         # literal "abcd"
        0b000_100_01, 4,          # copy 1-byte offset: length 4+4=8, offset 4 (overlapping)
        (5 << 2) | 2, 12, 0,      # copy 2-byte offset: length 6, offset 12
        2 << 2, *b"xyz",          # literal "xyz"
        (8 << 2) | 3, 9, 0, 0, 0,  # copy 4-byte offset: length 9, offset 9 (ends at 30)
    ])
    assert snappy_decompress(stream) == b"abcdabcdabcdabcdab" + b"xyz" + b"abcdabxyz"
    long_literal = bytes(range(200))  # lengths over 60 follow the tag in 1-4 bytes
    assert snappy_decompress(_varint(200) + bytes([60 << 2, 199]) + long_literal) == long_literal
    assert snappy_decompress(bytes([0])) == b""


@pytest.mark.parametrize("stream, problem", [
    pytest.param(bytes([5, 3 << 2, *b"ab"]), "past the end", id="literal cut short"),
    pytest.param(bytes([8, 3 << 2, *b"abcd", 0b000_000_01, 5]), "offset 5", id="copy before the start"),
    pytest.param(bytes([9, 3 << 2, *b"abcd"]), "declared 9", id="too short"),
    pytest.param(bytes([2, 3 << 2, *b"abcd"]), "exceeds", id="too long"),
    pytest.param(bytes([0x80]), "preamble", id="bad length varint"),
])
def test_snappy_errors(stream, problem) -> None:
    with pytest.raises(SnappyError, match=problem):
        snappy_decompress(stream)


def test_snappy_compressor_of_these_tests_roundtrips() -> None:
    for data in (b"", b"a", b"abcabcabcabcabcabc" * 9, bytes(range(256)) * 300, np.arange(999).tobytes()):
        assert snappy_decompress(_snappy_compress(data)) == data


@pytest.mark.parametrize("snappy", [False, True])
def test_hand_made_table_many_blocks(tmp_path, snappy) -> None:
    entries = sorted((f"key/{i:04d}".encode() * (1 + i % 3), bytes([i % 251]) * (i % 70)) for i in range(300))
    path = _write_table(tmp_path / "t.table", entries, per_block=7, snappy=snappy)
    assert is_table(path)
    with Table(path) as table:
        assert list(table) == entries
        assert table[entries[123][0]] == entries[123][1]
        assert entries[-1][0] in table
        assert table.get(b"key/0000x") is None and table.get(b"\xff") is None and b"" not in table


def test_parse_block_uses_prefix_compression() -> None:
    block = _block([(b"apple", b"1"), (b"apricot", b"2"), (b"banana", b"3")], restart_interval=16)
    assert block.startswith(_varint(0) + _varint(5) + _varint(1) + b"apple1" + _varint(2) + _varint(5))
    assert list(parse_block_entries(block)) == [(b"apple", b"1"), (b"apricot", b"2"), (b"banana", b"3")]


@pytest.mark.oracle
def test_snappy_v1_checkpoint_read_by_both(tmp_path) -> None:
    """A V1 checkpoint with snappy blocks, built here: TensorFlow and yt8m read the same values."""
    rng = np.random.default_rng(0)
    values = {"w": np.repeat(rng.standard_normal([4, 1]), 50, axis=1).astype(np.float32),
              "b": np.arange(7, dtype=np.float32), "z/scalar": np.float32(3.25).reshape(())}
    path = _write_table(tmp_path / "snappy.ckpt", _hand_v1_entries(values), per_block=1, snappy=True)
    with Table(path) as table:  # every data block's trailer says snappy
        handles = table.data_block_handles()
    assert {path.read_bytes()[h.offset + h.size] for h in handles} == {1}
    _assert_same(read_checkpoint(path), values)
    code = """
reader = tf.train.load_checkpoint(args["path"])
result = {name: reader.get_tensor(name).tolist() for name in reader.get_variable_to_shape_map()}
"""
    seen_by_tf = run_tf(code, tmp_path, path=str(path))
    assert seen_by_tf == {name: value.tolist() for name, value in values.items()}


def test_big_endian_v2_bundle(tmp_path) -> None:
    """A bundle written on a big-endian machine: the header says so, bytes are swapped."""
    values = {"x": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5, "y": np.array([1, -2**40], np.int64),
              "z": np.array([True, False])}
    tf_dtypes = {np.dtype(np.float32): 1, np.dtype(np.int64): 9, np.dtype(np.bool_): 10}
    header = protos.BundleHeaderProto(num_shards=1, endianness=1)
    entries, data = [(b"", header.SerializeToString())], b""
    for name, value in values.items():
        raw = value.astype(value.dtype.newbyteorder(">")).tobytes()
        entry = protos.BundleEntryProto(dtype=tf_dtypes[value.dtype], offset=len(data), size=len(raw),
                                        crc32c=masked_crc32c(raw))
        for size in value.shape:
            entry.shape.dim.add(size=size)
        entries.append((name.encode(), entry.SerializeToString()))
        data += raw
    _write_table(tmp_path / "be.index", entries)
    (tmp_path / "be.data-00000-of-00001").write_bytes(data)
    _assert_same(read_checkpoint(tmp_path / "be"), values)
    assert read_checkpoint(tmp_path / "be")["x"].dtype.isnative


# --- corruption and wrong files -------------------------------------------------------------


@pytest.fixture
def v1_copy(small, tmp_path) -> Path:
    return Path(shutil.copy(small["graph_v1"], tmp_path / "copy.ckpt"))


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.oracle
def test_flipped_byte_in_a_v1_block(v1_copy) -> None:
    _flip(v1_copy, 20)  # inside the first data block (the metadata)
    with pytest.raises(WeightsError, match=r"copy\.ckpt: corrupt data block at offset 0: checksum mismatch"):
        read_checkpoint(v1_copy)


def test_flipped_byte_in_a_later_v1_block(tmp_path) -> None:
    values = {"a": np.ones([3, 2], np.float32), "b": np.arange(4, dtype=np.float32)}
    path = _write_table(tmp_path / "blocks.ckpt", _hand_v1_entries(values), per_block=1)
    _assert_same(read_checkpoint(path), values)
    with Table(path) as table:
        last_data_block = table.data_block_handles()[-1]
    _flip(path, last_data_block.offset + 3)
    assert list(list_checkpoint(path)) == ["a", "b"]  # the metadata block is intact
    assert list(read_checkpoint(path, names=["a"])) == ["a"]
    where = rf"blocks\.ckpt: corrupt data block at offset {last_data_block.offset}: checksum mismatch"
    with pytest.raises(WeightsError, match=where):
        read_checkpoint(path)


@pytest.mark.oracle
def test_flipped_byte_in_the_v2_data(small, tmp_path) -> None:
    for file in Path(small["eager"]).parent.glob("eager.*"):
        shutil.copy(file, tmp_path / file.name)
    data = tmp_path / "eager.data-00000-of-00001"
    index = read_table(tmp_path / "eager.index")
    entry = protos.BundleEntryProto.FromString(index[b"ids/.ATTRIBUTES/VARIABLE_VALUE"])
    _flip(data, entry.offset + 5)
    read_checkpoint(tmp_path / "eager", names=["kernel/.ATTRIBUTES/VARIABLE_VALUE"])  # others are fine
    with pytest.raises(WeightsError, match=r"eager\.data-00000-of-00001: corrupt: checksum mismatch.*'ids/"):
        read_checkpoint(tmp_path / "eager")
    data.write_bytes(data.read_bytes()[:entry.offset + 3])
    with pytest.raises(WeightsError, match=r"eager\.data-00000-of-00001: truncated"):
        read_checkpoint(tmp_path / "eager", names=["ids/.ATTRIBUTES/VARIABLE_VALUE"])


@pytest.mark.oracle
@pytest.mark.parametrize("keep", ["half", "all but one byte", "10 bytes"])
def test_truncated_v1_file(v1_copy, keep) -> None:
    data = v1_copy.read_bytes()
    size = {"half": len(data) // 2, "all but one byte": len(data) - 1, "10 bytes": 10}[keep]
    v1_copy.write_bytes(data[:size])
    with pytest.raises(WeightsError, match=r"copy\.ckpt: not a TensorFlow checkpoint .*truncated"):
        read_checkpoint(v1_copy)


def test_table_errors_name_the_file(tmp_path) -> None:
    short = tmp_path / "short.bin"
    short.write_bytes(b"x" * 10)
    with pytest.raises(WeightsError, match=r"short\.bin: .*shorter than the 48-byte table footer"):
        Table(short)
    bad_magic = tmp_path / "magic.bin"
    bad_magic.write_bytes(b"\x00" * 100)
    with pytest.raises(WeightsError, match=r"magic\.bin: not a TensorFlow checkpoint table.*magic"):
        Table(bad_magic)
    lying = _write_table(tmp_path / "lying.table", [(b"a", b"1")])
    data = bytearray(lying.read_bytes())
    data[-48:-8] = (_varint(0) + _varint(10) + _varint(10**6) + _varint(5)).ljust(40, b"\x00")
    lying.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"lying\.table: truncated or corrupt: index block .* past the"):
        Table(lying)


@pytest.mark.oracle
def test_not_a_checkpoint(tmp_path, small) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("these are not weights\n" * 10)
    with pytest.raises(WeightsError, match=r"notes\.txt: not a TensorFlow checkpoint.*expected a V1"):
        read_checkpoint(text)
    with pytest.raises(WeightsError, match=r"missing\.ckpt: no such checkpoint: expected"):
        list_checkpoint(tmp_path / "missing.ckpt")
    index_alone = Path(shutil.copy(f"{small['eager']}.index", tmp_path / "renamed.ckpt"))
    with pytest.raises(WeightsError, match=r"renamed\.ckpt: a LevelDB-format table but not a V1 checkpoint"):
        read_checkpoint(index_alone)
    orphan = Path(shutil.copy(f"{small['eager']}.index", tmp_path / "orphan.index"))
    with pytest.raises(WeightsError, match=r"orphan\.data-00000-of-00001"):
        read_checkpoint(orphan)
