"""The yt8m command as a user runs it: metadata, inspect, help, version, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tf_oracle import run_tf
from yt8m import __version__
from yt8m.formats.quantize import quantize
from yt8m.formats import mediasequence as ms
from yt8m.formats.matrix_data import encode_matrix
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import make_frame_record, make_video_record


def test_version_and_help(run_cli) -> None:
    result = run_cli("--version")
    assert result.exit_code == 0 and __version__ in result.stdout
    result = run_cli("--help")
    assert result.exit_code == 0
    for command in ("metadata", "inspect"):
        assert command in result.stdout


_TF_READ_METADATA = """
seq = tf.train.SequenceExample.FromString(open(args["path"], "rb").read())
c = seq.context.feature
result = [c["clip/data_path"].bytes_list.value[0].decode(), c["clip/start/timestamp"].int64_list.value[0],
          c["clip/end/timestamp"].int64_list.value[0], len(seq.feature_lists.feature_list)]
"""


def test_metadata_defaults_to_video_duration(run_cli, media, tmp_path) -> None:
    out = tmp_path / "metadata.pb"
    result = run_cli("metadata", media["h264_aac"], "--start", "0.5", "-o", out)
    assert result.exit_code == 0, result.stderr
    path, start, end, lists = run_tf(_TF_READ_METADATA, tmp_path, path=str(out))
    assert path == str(media["h264_aac"].resolve())
    assert start == 500_000
    assert 3_000_000 <= end <= 3_100_000  # the container's duration (video 3.0 s, AAC priming)
    assert lists == 0


def test_metadata_explicit_window(run_cli, media, tmp_path) -> None:
    out = tmp_path / "m.pb"
    assert run_cli("metadata", media["no_audio"], "--start", "0.25", "--end",
                   "1.75", "-o", out).exit_code == 0
    clip = ms.get_clip_metadata(ms.read_sequence_example(out), where="m")
    assert (clip.start_us, clip.end_us) == (250_000, 1_750_000)


@pytest.mark.parametrize("args,message", [
    (["missing.mp4"], "missing.mp4: no such file"),
    (["VIDEO", "--start", "5", "--end", "5"], "must be less than the clip end time"),
    (["VIDEO", "--start", "4", "--end", "2"], "must be less than the clip end time"),
    (["VIDEO", "--start", "-1"], "must be a finite number of seconds >= 0"),
])
def test_metadata_errors(run_cli, media, tmp_path, args, message) -> None:
    args = [str(media["h264_aac"]) if a == "VIDEO" else a for a in args]
    result = run_cli("metadata", *args, "-o", tmp_path / "m.pb", cwd=tmp_path)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.pb").exists()


def _features_file(tmp_path):
    stamps = np.arange(4, dtype=np.int64) * 1_000_000
    seq = ms.make_features(ms.ClipMetadata("/v/a.mp4", 0, 4_000_000), [
        ms.FeatureTrack("RGB", np.zeros((4, 1024), np.float32), stamps),
        ms.FeatureTrack("AUDIO", np.zeros((3, 128), np.float32), stamps[:3]),
    ])
    path = tmp_path / "features.pb"
    ms.write_message(path, seq)
    return path


def test_inspect_features(run_cli, tmp_path) -> None:
    path = _features_file(tmp_path)
    result = run_cli("inspect", path, "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["kind"] == "features"
    assert info["streams"]["RGB"] == {"steps": 4, "dimensions": 1024, "rate_hz": 1.0, "first_s": 0.0,
                                      "last_s": 3.0}
    assert info["streams"]["AUDIO"]["steps"] == 3
    assert info["clip"] == {"data_path": "/v/a.mp4", "start_s": 0.0, "end_s": 4.0}
    table = run_cli("inspect", path).stdout
    assert ("features" in table and "RGB" in table and "1024" in table and "clip /v/a.mp4 from 0 s to 4 s"
            in table)


def test_inspect_metadata(run_cli, media, tmp_path) -> None:
    out = tmp_path / "metadata.pb"
    run_cli("metadata", media["no_audio"], "-o", out)
    info = json.loads(run_cli("inspect", out, "--json").stdout)
    assert info["kind"] == "metadata" and info["clip"]["start_s"] == 0.0


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_inspect_shard_lists_each_record(run_cli, tmp_path, compression) -> None:
    path = tmp_path / "shard.tfrecord"
    recs = [make_frame_record(f"v{i}", [i, 7], quantize(np.zeros((i + 2, 1024))),
                              quantize(np.zeros((i + 2, 128))))
            for i in range(3)]
    recs.append(make_video_record("vv", [1], np.zeros(1024), np.zeros(128)))
    write_records(path, [r.SerializeToString() for r in recs], compression=compression)
    info = json.loads(run_cli("inspect", path, "--json").stdout)
    assert info["kind"] == "tfrecord" and info["count"] == 4 and info["compression"] == compression
    assert [r["id"] for r in info["records"]] == ["v0", "v1", "v2", "vv"]
    assert [r["seconds"] for r in info["records"]] == [2, 3, 4, 0]
    assert [r["kind"] for r in info["records"]] == ["frame_level"] * 3 + ["video_level"]
    assert info["total_seconds"] == 9
    table = run_cli("inspect", path).stdout
    assert "4 records, 9 seconds" in table and "v2" in table


@pytest.mark.parametrize("layout", ["column_major", "row_major"])
def test_inspect_matrix_data(run_cli, tmp_path, layout) -> None:
    path = tmp_path / "mean.pb"
    path.write_bytes(encode_matrix(np.arange(8, dtype=np.float32).reshape(4, 2), layout=layout))
    info = json.loads(run_cli("inspect", path, "--json").stdout)
    assert (info["kind"], info["rows"], info["cols"], info["layout"]) == ("matrix_data", 4, 2, layout)
    assert info["max"] == 7.0


def test_inspect_media(run_cli, media) -> None:
    info = json.loads(run_cli("inspect", media["h264_aac"], "--json").stdout)
    assert info["kind"] == "media"
    kinds = [(s["kind"], s["codec"]) for s in info["streams"]]
    assert kinds == [("video", "h264"), ("audio", "aac")]


@pytest.mark.parametrize("name,message", [
    ("truncated", "not a readable media file"),
    ("random", "not a readable media file"),
    ("empty", "empty file"),
    ("text", "not a features.pb, metadata.pb, TFRecord shard, MatrixData or media file"),
])
def test_inspect_broken_inputs_one_line_exit_2(run_cli, media, name, message) -> None:
    result = run_cli("inspect", media[name])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(media[name]) in lines[0] and message in lines[0]
    assert result.stdout == ""


def test_inspect_corrupt_shard_names_offset(run_cli, tmp_path) -> None:
    path = tmp_path / "bad.tfrecord"
    write_records(path, [b"\x0a\x00", b"\x0a\x00"])
    data = bytearray(path.read_bytes())
    data[18 + 12] ^= 0xFF
    path.write_bytes(bytes(data))
    result = run_cli("inspect", path)
    assert result.exit_code == 2 and "record 1 at byte offset 18" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_inspect_missing_file(run_cli, tmp_path) -> None:
    result = run_cli("inspect", tmp_path / "nope.pb")
    assert result.exit_code == 2 and "nope.pb: no such file" in result.stderr
