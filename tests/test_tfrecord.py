"""TFRecord framing: checksums, corruption, truncation, gzip; TensorFlow both ways."""

from __future__ import annotations

import struct

import pytest

from tf_oracle import run_tf
from yt8m.errors import CorruptRecordError, TruncatedRecordError
from yt8m.formats.tfrecord import (
    TFRecordWriter, count_records, encode_record, iter_records, masked_crc32c, read_records, write_records,
)

PAYLOADS = [b"", b"a", b"hello world", bytes(range(256)) * 40]


def test_crc32c_and_mask_match_published_values() -> None:
    # CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720, B.4).
    crc = 0xE3069283
    expected = (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    assert masked_crc32c(b"123456789") == expected
    # 32 zero bytes: CRC-32C 0x8A9136AA (RFC 3720, B.4).
    crc = 0x8A9136AA
    assert masked_crc32c(bytes(32)) == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_record_layout_by_hand() -> None:
    framed = encode_record(b"xyz")
    assert framed[:8] == struct.pack("<Q", 3)
    assert framed[8:12] == struct.pack("<I", masked_crc32c(struct.pack("<Q", 3)))
    assert framed[12:15] == b"xyz"
    assert framed[15:] == struct.pack("<I", masked_crc32c(b"xyz"))


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_roundtrip(tmp_path, compression) -> None:
    path = tmp_path / "x.tfrecord"
    assert write_records(path, PAYLOADS, compression=compression) == len(PAYLOADS)
    assert list(read_records(path)) == PAYLOADS
    assert count_records(path) == len(PAYLOADS)
    offsets = [o for o, _ in iter_records(path)]
    expected, pos = [], 0
    for p in PAYLOADS:
        expected.append(pos)
        pos += 16 + len(p)
    assert offsets == expected


def test_writer_is_atomic(tmp_path) -> None:
    path = tmp_path / "x.tfrecord"
    with pytest.raises(RuntimeError):
        with TFRecordWriter(path) as writer:
            writer.write(b"partial")
            raise RuntimeError("boom")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_flipped_data_byte_names_offset(tmp_path) -> None:
    path = tmp_path / "x.tfrecord"
    write_records(path, [b"first record", b"second record"])
    data = bytearray(path.read_bytes())
    second = 16 + len(b"first record")
    data[second + 12 + 3] ^= 0x01
    path.write_bytes(bytes(data))
    records = iter_records(path)
    assert next(records) == (0, b"first record")
    with pytest.raises(CorruptRecordError,
                       match=rf"x.tfrecord: record 1 at byte offset {second} .*data checksum"):
        next(records)


def test_flipped_length_byte_is_detected(tmp_path) -> None:
    path = tmp_path / "x.tfrecord"
    write_records(path, [b"abc"])
    data = bytearray(path.read_bytes())
    data[0] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptRecordError, match="byte offset 0 has a corrupt length"):
        list(read_records(path))


@pytest.mark.parametrize("cut", [3, 12 + 5, 12 + 10 + 2])
def test_truncated_last_record_is_reported(tmp_path, cut) -> None:
    path = tmp_path / "x.tfrecord"
    write_records(path, [b"0123456789"] * 3)
    data = path.read_bytes()
    path.write_bytes(data[: 2 * 26 + cut])
    with pytest.raises(TruncatedRecordError, match="holds 2 complete records") as info:
        list(read_records(path))
    assert info.value.complete_records == 2


def test_truncated_gzip_is_reported(tmp_path) -> None:
    path = tmp_path / "x.tfrecord.gz"
    write_records(path, [bytes(range(256)) * 100] * 20, compression="gzip")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TruncatedRecordError, match="complete records were read"):
        list(read_records(path))


_TF_WRITE = """
payloads = [bytes.fromhex(h) for h in args["payloads"]]
opts = tf.io.TFRecordOptions(compression_type=args["compression"])
with tf.io.TFRecordWriter(args["path"], options=opts) as w:
    for p in payloads:
        w.write(p)
result = True
"""

_TF_READ = """
ds = tf.data.TFRecordDataset(args["path"], compression_type=args["compression"])
result = [bytes(r.numpy()).hex() for r in ds]
"""


@pytest.mark.oracle
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_tensorflow_reads_what_yt8m_writes_and_back(tmp_path, compression) -> None:
    tf_comp = "GZIP" if compression == "gzip" else ""
    ours = tmp_path / "ours.tfrecord"
    write_records(ours, PAYLOADS, compression=compression)
    read_by_tf = run_tf(_TF_READ, tmp_path, path=str(ours), compression=tf_comp)
    assert [bytes.fromhex(h) for h in read_by_tf] == PAYLOADS

    theirs = tmp_path / "theirs.tfrecord"
    run_tf(_TF_WRITE, tmp_path, path=str(theirs), compression=tf_comp, payloads=[p.hex() for p in PAYLOADS])
    assert list(read_records(theirs)) == PAYLOADS
    if compression == "none":
        assert theirs.read_bytes() == ours.read_bytes()


def test_a_failed_commit_leaves_no_temporary_file(tmp_path, monkeypatch) -> None:
    # Disk full at fsync (or any error while moving the file into place): the earlier file
    # stays as it was and no .part is left behind.
    import errno

    import yt8m._files as files
    from yt8m._files import write_bytes_atomic

    target = tmp_path / "out.tfrecord"
    target.write_bytes(b"earlier")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_bytes_atomic(target, b"new")
    with pytest.raises(OSError, match="No space"):
        with TFRecordWriter(target) as writer:
            writer.write(b"record")
    assert target.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tfrecord"]
