"""Example / SequenceExample / MediaSequence / YouTube-8M records / MatrixData.

TensorFlow parses what yt8m writes and writes what yt8m parses; the serialized
messages are byte for byte the same (both serialized deterministically).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tf_oracle import run_tf
from yt8m.errors import InputError
from yt8m.formats.quantize import dequantize, quantize
from yt8m.formats import mediasequence as ms
from yt8m.formats import protos
from yt8m.formats.matrix_data import decode_matrix, encode_matrix, read_matrix
from yt8m.formats.tfrecord import read_records, write_records
from yt8m.formats.yt8m_records import Segments, make_frame_record, make_video_record, parse_record

RNG = np.random.default_rng(7)


def _frame_records(n: int = 3) -> list[tuple[str, list[int], np.ndarray, np.ndarray]]:
    out = []
    for i in range(n):
        seconds = 4 + i
        rgb = RNG.uniform(-2.5, 2.5, (seconds, 1024)).astype(np.float32)
        audio = RNG.uniform(-2.5, 2.5, (seconds, 128)).astype(np.float32)
        out.append((f"vid{i}", [i, 10 + i, 3861], rgb, audio))
    return out


_TF_PARSE_FRAME_SHARD = """
# The starter code's frame-level feature spec (readers.YT8MFrameFeatureReader).
context_features = {"id": tf.io.FixedLenFeature([], tf.string),
                    "labels": tf.io.VarLenFeature(tf.int64)}
sequence_features = {"rgb": tf.io.FixedLenSequenceFeature([], dtype=tf.string),
                     "audio": tf.io.FixedLenSequenceFeature([], dtype=tf.string)}
out = []
for raw in tf.data.TFRecordDataset(args["path"]):
    ctx, seq = tf.io.parse_single_sequence_example(raw, context_features=context_features,
                                                   sequence_features=sequence_features)
    rgb = tf.reshape(tf.io.decode_raw(seq["rgb"], tf.uint8), [-1, 1024])
    audio = tf.reshape(tf.io.decode_raw(seq["audio"], tf.uint8), [-1, 128])
    msg = tf.train.SequenceExample.FromString(raw.numpy())
    out.append({"id": ctx["id"].numpy().decode(),
                "labels": tf.sparse.to_dense(ctx["labels"]).numpy().tolist(),
                "rgb": rgb.numpy().tolist(), "audio": audio.numpy().tolist(),
                "reserialized": msg.SerializeToString(deterministic=True).hex()})
result = out
"""


def test_frame_shard_read_by_tensorflow_starter_spec(tmp_path) -> None:
    records = _frame_records()
    path = tmp_path / "train0000.tfrecord"
    serialized = [make_frame_record(v, ls, quantize(r), quantize(a)).SerializeToString(deterministic=True)
                  for v, ls, r, a in records]
    write_records(path, serialized)
    parsed = run_tf(_TF_PARSE_FRAME_SHARD, tmp_path, path=str(path))
    for (vid, labels, rgb, audio), theirs, ours in zip(records, parsed, serialized, strict=True):
        assert theirs["id"] == vid and theirs["labels"] == labels
        assert np.array_equal(np.asarray(theirs["rgb"], np.uint8), quantize(rgb))
        assert np.array_equal(np.asarray(theirs["audio"], np.uint8), quantize(audio))
        assert bytes.fromhex(theirs["reserialized"]) == ours
        # Dequantized back within one quantization step of the float features (inside [-2, 2]).
        back = dequantize(np.asarray(theirs["rgb"], np.uint8))
        assert np.abs(back - np.clip(rgb, -2, 2)).max() <= 4 / 255


_TF_WRITE_RECORDS = """
out = []
for r in args["records"]:
    seq = tf.train.SequenceExample()
    seq.context.feature["id"].bytes_list.value.append(r["id"].encode())
    seq.context.feature["labels"].int64_list.value.extend(r["labels"])
    seq.context.feature["segment_labels"].int64_list.value.extend([r["labels"][0]])
    seq.context.feature["segment_start_times"].int64_list.value.extend([5])
    seq.context.feature["segment_scores"].float_list.value.extend([1.0])
    for row in r["rgb"]:
        seq.feature_lists.feature_list["rgb"].feature.add().bytes_list.value.append(bytes(row))
    for row in r["audio"]:
        seq.feature_lists.feature_list["audio"].feature.add().bytes_list.value.append(bytes(row))
    ex = tf.train.Example()
    ex.features.feature["id"].bytes_list.value.append(r["id"].encode())
    ex.features.feature["labels"].int64_list.value.extend(r["labels"])
    ex.features.feature["mean_rgb"].float_list.value.extend(r["mean_rgb"])
    ex.features.feature["mean_audio"].float_list.value.extend(r["mean_audio"])
    out.append([seq.SerializeToString(deterministic=True).hex(),
                ex.SerializeToString(deterministic=True).hex()])
with tf.io.TFRecordWriter(args["path"]) as w:
    for seq_hex, _ in out:
        w.write(bytes.fromhex(seq_hex))
result = out
"""


def test_yt8m_parses_what_tensorflow_writes(tmp_path) -> None:
    records = _frame_records(2)
    payload = [{"id": v, "labels": ls, "rgb": quantize(r).tolist(), "audio": quantize(a).tolist(),
                "mean_rgb": r.mean(0).tolist(), "mean_audio": a.mean(0).tolist()}
               for v, ls, r, a in records]
    path = tmp_path / "tf.tfrecord"
    written = run_tf(_TF_WRITE_RECORDS, tmp_path, path=str(path), records=payload)
    for (vid, labels, rgb, audio), (seq_hex, ex_hex), data in zip(records, written, read_records(path),
                                                                  strict=True):
        assert data == bytes.fromhex(seq_hex)
        rec = parse_record(data)
        assert rec.level == "frame" and rec.video_id == vid and rec.labels.tolist() == labels
        assert np.array_equal(rec.rgb, quantize(rgb)) and np.array_equal(rec.audio, quantize(audio))
        assert rec.segments.labels.tolist() == [labels[0]] and rec.segments.start_times.tolist() == [5]
        ours = make_frame_record(vid, labels, rec.rgb, rec.audio, segments=rec.segments)
        assert ours.SerializeToString(deterministic=True) == data

        video = parse_record(bytes.fromhex(ex_hex))
        assert video.level == "video" and video.video_id == vid
        np.testing.assert_array_equal(video.mean_rgb, rgb.mean(0).astype(np.float32))
        ours_video = make_video_record(vid, labels, video.mean_rgb, video.mean_audio)
        assert ours_video.SerializeToString(deterministic=True) == bytes.fromhex(ex_hex)


def test_frame_features_concatenates_dequantized() -> None:
    rgb = np.full((2, 1024), 255, np.uint8)
    audio = np.zeros((2, 128), np.uint8)
    rec = parse_record(make_frame_record("a", [1], rgb, audio).SerializeToString())
    feats = rec.frame_features()
    assert feats.shape == (2, 1152)
    assert np.allclose(feats[:, :1024], 2 + 4 / 512) and np.allclose(feats[:, 1024:], -2 + 4 / 512)


def test_segments_must_agree_in_length() -> None:
    with pytest.raises(InputError, match="segment fields differ"):
        Segments(np.array([1, 2]), np.array([0]), np.array([1.0], np.float32))


def test_record_errors_name_the_problem() -> None:
    with pytest.raises(InputError, match="key 'id' is missing"):
        parse_record(protos.SequenceExample().SerializeToString() or b"\x0a\x00", where="rec")
    bad = make_frame_record("a", [], np.zeros((1, 1024), np.uint8), np.zeros((1, 128), np.uint8))
    bad.feature_lists.feature_list["rgb"].feature[0].bytes_list.value[0] = b"short"
    with pytest.raises(InputError, match="rgb second 0 holds byte strings of lengths \\[5\\]"):
        parse_record(bad.SerializeToString(), where="rec")


_TF_PARSE_FEATURES = """
seq = tf.train.SequenceExample.FromString(open(args["path"], "rb").read())
ctx = seq.context.feature
fl = seq.feature_lists.feature_list
result = {
    "data_path": ctx["clip/data_path"].bytes_list.value[0].decode(),
    "start": ctx["clip/start/timestamp"].int64_list.value[0],
    "end": ctx["clip/end/timestamp"].int64_list.value[0],
    "rgb_dims": list(ctx["RGB/feature/dimensions"].int64_list.value),
    "rgb_rate": list(ctx["RGB/feature/rate"].float_list.value),
    "audio_dims": list(ctx["AUDIO/feature/dimensions"].int64_list.value),
    "rgb": [list(f.float_list.value) for f in fl["RGB/feature/floats"].feature],
    "rgb_ts": [f.int64_list.value[0] for f in fl["RGB/feature/timestamp"].feature],
    "audio_ts": [f.int64_list.value[0] for f in fl["AUDIO/feature/timestamp"].feature],
    "reserialized": seq.SerializeToString(deterministic=True).hex(),
}
"""


def test_features_pb_parses_in_tensorflow(tmp_path) -> None:
    clip = ms.ClipMetadata("/videos/a.mp4", 0, 3_000_000)
    rgb = RNG.normal(size=(3, 1024)).astype(np.float32)
    audio = RNG.normal(size=(3, 128)).astype(np.float32)
    stamps = np.array([0, 1_000_000, 2_000_000], np.int64)
    seq = ms.make_features(clip,
                           [ms.FeatureTrack("RGB", rgb, stamps), ms.FeatureTrack("AUDIO", audio, stamps)])
    path = tmp_path / "features.pb"
    ms.write_message(path, seq)
    theirs = run_tf(_TF_PARSE_FEATURES, tmp_path, path=str(path))
    assert theirs["data_path"] == "/videos/a.mp4" and theirs["start"] == 0 and theirs["end"] == 3_000_000
    assert theirs["rgb_dims"] == [1024] and theirs["audio_dims"] == [128] and theirs["rgb_rate"] == [1.0]
    np.testing.assert_array_equal(np.asarray(theirs["rgb"], np.float32), rgb)
    assert theirs["rgb_ts"] == stamps.tolist() and theirs["audio_ts"] == stamps.tolist()
    assert bytes.fromhex(theirs["reserialized"]) == path.read_bytes()

    back = ms.read_sequence_example(path)
    assert ms.get_clip_metadata(back, where="f") == clip
    track = ms.get_feature_track(back, "RGB", where="f")
    np.testing.assert_array_equal(track.values, rgb)
    assert ms.get_feature_track(back, "VIDEO", where="f") is None


def test_clip_metadata_validates() -> None:
    with pytest.raises(InputError, match="must be before end"):
        ms.ClipMetadata("a.mp4", 5_000_000, 5_000_000)
    with pytest.raises(InputError, match="path is empty"):
        ms.ClipMetadata("", 0, 1)


# --- MatrixData: checked against the wire format written out by hand ---------------

def _hand_matrix_bytes(rows: int, cols: int, values: list[float], layout: int) -> bytes:
    packed = struct.pack(f"<{len(values)}f", *values)
    return (bytes([0x08, rows, 0x10, cols, 0x1A, len(packed)]) + packed + bytes([0x20, layout]))


@pytest.mark.parametrize("layout,code,order", [("column_major", 0, "F"), ("row_major", 1, "C")])
def test_matrix_data_wire_format(layout, code, order) -> None:
    m = np.arange(6, dtype=np.float32).reshape(2, 3) + 0.5
    expected = _hand_matrix_bytes(2, 3, m.ravel(order=order).tolist(), code)
    assert encode_matrix(m, layout=layout) == expected
    np.testing.assert_array_equal(decode_matrix(expected), m)


def test_matrix_data_default_layout_is_column_major() -> None:
    # No layout field at all means COLUMN_MAJOR (proto2 default).
    data = bytes([0x08, 2, 0x10, 2, 0x1A, 16]) + struct.pack("<4f", 1, 2, 3, 4)
    np.testing.assert_array_equal(decode_matrix(data), np.array([[1, 3], [2, 4]], np.float32))


def test_matrix_data_errors(tmp_path) -> None:
    bad = bytes([0x08, 3, 0x10, 3, 0x1A, 8]) + struct.pack("<2f", 1, 2)
    with pytest.raises(InputError, match="says 3x3 but holds 2 values"):
        decode_matrix(bad, where="m.pb")
    (tmp_path / "t.pb").write_text("hello, this is text")
    with pytest.raises(InputError, match="t.pb: not a MediaPipe MatrixData"):
        read_matrix(tmp_path / "t.pb")
