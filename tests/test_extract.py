"""yt8m extract, end to end, on generated videos and generated official-format weights."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import media_factory as mf
import official_fixtures as of
from tf_oracle import run_tf
from yt8m.extraction.batch import iter_shard_records
from yt8m.formats.quantize import QUANTIZATION_STEP, dequantize
from yt8m.features.sequence import FeatureSequence
from yt8m.formats.yt8m_records import parse_record
from yt8m.weights import store

_TF_FEATURES = """
seq = tf.train.SequenceExample.FromString(open(args["path"], "rb").read())
c, fl = seq.context.feature, seq.feature_lists.feature_list
result = {
    "context": sorted(c.keys()), "lists": sorted(fl.keys()),
    "rgb_dims": list(c["RGB/feature/dimensions"].int64_list.value),
    "audio_dims": list(c["AUDIO/feature/dimensions"].int64_list.value),
    "rates": [c["RGB/feature/rate"].float_list.value[0], c["AUDIO/feature/rate"].float_list.value[0]],
    "rgb_ts": [f.int64_list.value[0] for f in fl["RGB/feature/timestamp"].feature],
    "audio_ts": [f.int64_list.value[0] for f in fl["AUDIO/feature/timestamp"].feature],
    "rgb_lens": sorted({len(f.float_list.value) for f in fl["RGB/feature/floats"].feature}),
    "audio_lens": sorted({len(f.float_list.value) for f in fl["AUDIO/feature/floats"].feature}),
    "clip": [c["clip/data_path"].bytes_list.value[0].decode(), c["clip/start/timestamp"].int64_list.value[0],
             c["clip/end/timestamp"].int64_list.value[0]],
}
"""


def test_features_pb_has_the_reference_layout(run_cli, with_weights, media, tmp_path) -> None:
    out = tmp_path / "out" / "features.pb"
    result = run_cli("extract", media["h264_aac"], "-o", out)
    assert result.exit_code == 0, result.stderr
    got = run_tf(_TF_FEATURES, tmp_path, path=str(out))
    assert got["context"] == sorted(["clip/data_path", "clip/start/timestamp", "clip/end/timestamp",
                                     "RGB/feature/dimensions", "RGB/feature/rate",
                                     "AUDIO/feature/dimensions", "AUDIO/feature/rate"])
    assert got["lists"] == sorted(["RGB/feature/floats", "RGB/feature/timestamp",
                                   "AUDIO/feature/floats", "AUDIO/feature/timestamp"])
    assert got["rgb_dims"] == [1024] and got["audio_dims"] == [128] and got["rates"] == [1.0, 1.0]
    assert got["rgb_ts"] == [0, 1_000_000, 2_000_000]          # 3 s at 30 fps: seconds 0, 1, 2
    assert got["rgb_lens"] == [1024] and got["audio_lens"] == [128]
    # AAC starts at 0 here; examples every second from it, the last one zero-padded.
    assert got["audio_ts"][:3] == [0, 1_000_000, 2_000_000]
    assert got["clip"] == [str(media["h264_aac"].resolve()), 0, 3_000_000]


def test_rgb_features_match_the_reference_graph(with_weights, extractor, official_files,
                                                media, tmp_path) -> None:
    """Independent path: OpenCV picks frame 30k for second k of the 30 fps video,
    TensorFlow runs the 2015 GraphDef on it, numpy applies the PCA formula."""
    cv2 = pytest.importorskip("cv2")
    features = extractor.extract(media["h264_aac"])
    capture = cv2.VideoCapture(str(media["h264_aac"]))
    frames, index = [], 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if index % 30 == 0:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        index += 1
    assert len(frames) == features.num_seconds == 3
    pool3 = of.run_inception_graph(official_files["inception-graph"], frames, tmp_path)["pool_3"]
    pca = store.load("inception-pca", fetch=False).tensors
    expected = (pool3.astype(np.float64) - pca["mean"]) @ pca["projection"].astype(np.float64).T
    for ours, theirs in zip(features.rgb, expected, strict=True):
        assert np.abs(ours - theirs).max() / np.linalg.norm(theirs) < 1e-4


def test_120_second_clip_gives_120_seconds(with_weights, extractor, tmp_path) -> None:
    video = mf.make_video(tmp_path / "long.mp4", duration_s=125.0, fps=4, width=64, height=48,
                          audio=mf.AudioSpec(sample_rate=16000, layout="mono"))
    features = extractor.extract(video, start_s=0, end_s=120)
    assert features.num_seconds == 120
    assert features.rgb_timestamps_us.tolist() == [k * 1_000_000 for k in range(120)]
    audio, notes = features.aligned_audio()
    assert audio.shape == (120, 128)
    assert features.audio_timestamps_us[0] == 0


_TF_SHARD = """
context_features = {"id": tf.io.FixedLenFeature([], tf.string), "labels": tf.io.VarLenFeature(tf.int64),
                    "mean_rgb": tf.io.FixedLenFeature([1024], tf.float32),
                    "mean_audio": tf.io.FixedLenFeature([128], tf.float32)}
sequence_features = {"rgb": tf.io.FixedLenSequenceFeature([], dtype=tf.string),
                     "audio": tf.io.FixedLenSequenceFeature([], dtype=tf.string)}
video_level = {"id": tf.io.FixedLenFeature([], tf.string),
               "mean_rgb": tf.io.FixedLenFeature([1024], tf.float32)}
out = {}
for path in args["paths"]:
    for raw in tf.data.TFRecordDataset(path):
        ctx, seq = tf.io.parse_single_sequence_example(raw, context_features=context_features,
                                                       sequence_features=sequence_features)
        rgb = tf.reshape(tf.io.decode_raw(seq["rgb"], tf.uint8), [-1, 1024])
        audio = tf.reshape(tf.io.decode_raw(seq["audio"], tf.uint8), [-1, 128])
        # The starter code's Dequantize(feat, 2, -2).
        deq = lambda q: tf.cast(q, tf.float32) * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)
        vl = tf.io.parse_single_example(raw, video_level)  # the same record read as video-level
        out[ctx["id"].numpy().decode()] = {
            "labels": tf.sparse.to_dense(ctx["labels"]).numpy().tolist(),
            "rgb": deq(rgb).numpy().tolist(), "audio": deq(audio).numpy().tolist(),
            "mean_rgb_video_level": vl["mean_rgb"].numpy().tolist()}
result = out
"""


def test_yt8m_shards_read_by_starter_code_spec(with_weights, run_cli, media, tmp_path) -> None:
    videos = [media["h264_aac"], media["vp9_opus"], media["no_audio"]]
    manifest = tmp_path / "videos.csv"
    manifest.write_text("path,labels\n" + "".join(f"{v},{i};{i + 10}\n" for i, v in enumerate(videos)))
    shards = tmp_path / "shards"
    assert run_cli("extract", manifest, "-o", shards, "--shard-size", "2").exit_code == 0
    floats = tmp_path / "floats"
    assert run_cli("extract", *videos, "--format", "npz", "-o", floats).exit_code == 0
    parsed = run_tf(_TF_SHARD, tmp_path, paths=[str(p) for p in sorted(shards.glob("*.tfrecord"))])
    assert sorted(parsed) == ["h264_aac", "no_audio", "vp9_opus"]
    for i, video in enumerate(videos):
        rec = parsed[video.stem]
        assert rec["labels"] == [i, i + 10]
        seq = FeatureSequence.load_npz(floats / f"{video.stem}.npz")
        rgb, audio = np.asarray(rec["rgb"]), np.asarray(rec["audio"])
        assert rgb.shape == (seq.num_seconds, 1024) and audio.shape == (seq.num_seconds, 128)
        aligned, _ = seq.aligned_audio()
        # Dequantized back within one quantization step (inside the quantization range).
        assert np.abs(rgb - np.clip(seq.rgb, -2, 2)).max() <= QUANTIZATION_STEP
        assert np.abs(audio - np.clip(aligned, -2, 2)).max() <= QUANTIZATION_STEP
        np.testing.assert_allclose(rec["mean_rgb_video_level"], seq.rgb.mean(0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("audio_s", [1.4, 4.6])
def test_rgb_and_audio_have_equal_length_in_records(with_weights, extractor, tmp_path, audio_s) -> None:
    video = mf.make_video(tmp_path / "v.mp4", duration_s=3.0, fps=10, width=64, height=48,
                          audio=mf.AudioSpec(duration_s=audio_s))
    features = extractor.extract(video)
    record = parse_record(features.to_frame_record("v").SerializeToString())
    assert len(record.rgb) == len(record.audio) == features.num_seconds == 3
    _, notes = features.aligned_audio()
    assert any(("padded" if audio_s < 3 else "dropped") in n for n in notes), notes


def test_no_audio_stream_is_said(with_weights, run_cli, media, tmp_path) -> None:
    out = tmp_path / "f.pb"
    result = run_cli("extract", media["no_audio"], "-o", out)
    assert result.exit_code == 0
    assert "has no audio stream 0; extracted video features only" in result.stderr
    assert json.loads(run_cli("inspect", out, "--json").stdout)["streams"].keys() == {"RGB"}


def test_api_returns_typed_features(with_weights, media) -> None:
    import yt8m

    features = yt8m.extract(media["h264_aac"], fetch=False)
    assert isinstance(features, yt8m.FeatureSequence)
    assert features.rgb.shape == (3, 1024) and features.audio.shape[1] == 128
    assert features.metadata.data_path == str(media["h264_aac"].resolve())


def test_vggish_hop_gives_more_examples(with_weights, media) -> None:
    from yt8m.extraction import ExtractOptions, extract

    a = extract(media["h264_aac"], options=ExtractOptions(audio_hop="vggish"), fetch=False)
    # 3.02 s of audio, 96-row hops without padding: floor((302 - 96) / 96) + 1 = 3 examples, 0.96 s apart.
    assert a.audio_timestamps_us.tolist() == [0, 960_000, 1_920_000]


def test_audio_runs_in_whole_batches_cut_at_fixed_places_in_each_video(with_weights, tmp_path) -> None:
    """VGGish gets each video's examples in batches [0, B), [B, 2B), ... (not one per decoded
    chunk), so a video's features are the same alone, beside others, with any number of
    workers, and equal ``audio_features`` over all its examples at once, bit for bit."""
    import torch

    from yt8m.features.logmel import log_mel_examples_from_file
    from yt8m.extraction import ExtractOptions, Extractor, Job

    videos = [mf.make_video(tmp_path / f"v{i}.mp4", duration_s=d, fps=4, width=64, height=48,
                            audio=mf.AudioSpec(sample_rate=16000, layout="mono",
                                               frequencies_hz=(300.0 * (i + 1),)))
              for i, d in enumerate((10.0, 6.0, 3.0))]
    ex = Extractor(ExtractOptions(audio_batch_size=4), fetch=False)
    sizes: list[int] = []
    ex.vggish.register_forward_hook(lambda _m, args, _out: sizes.append(len(args[0])))

    alone = ex.extract(videos[0])
    n = len(alone.audio)  # 10 s of AAC: 10 examples and a zero-padded tail (docs/audio.md, 'Examples')
    assert n in (10, 11) and sizes == [4, 4, n - 8]
    with torch.inference_mode():
        expected = ex.audio_features(log_mel_examples_from_file(videos[0]).examples)
    np.testing.assert_array_equal(alone.audio, expected)

    together = {r.job.path: r.features for r in ex.run([Job(v) for v in videos], workers=2)}
    np.testing.assert_array_equal(together[videos[0]].audio, alone.audio)
    # Inception's frames do share batches across videos: equal up to float rounding.
    np.testing.assert_allclose(together[videos[0]].rgb, alone.rgb, rtol=0,
                               atol=1e-5 * np.abs(alone.rgb).max())
    for video in videos[1:]:
        single = ex.extract(video)
        np.testing.assert_array_equal(together[video].audio, single.audio)
    # Batching changes nothing beyond float rounding: one example at a time agrees.
    with torch.inference_mode():
        examples = log_mel_examples_from_file(videos[0]).examples
        one_by_one = np.concatenate([ex.audio_features(examples[i:i + 1]) for i in range(len(examples))])
    assert np.abs(one_by_one - alone.audio).max() <= 1e-5 * np.abs(alone.audio).max()


def test_audio_batches_are_cut_at_multiples_of_the_batch_size() -> None:
    """Decoded items of 3 examples with batches of 4: VGGish sees 4, 4, then the last 1 (not
    whatever has gathered: 6, 3), and the features come back in the examples' order."""
    from yt8m.extraction import ExtractOptions, Extractor, Job
    from yt8m.extraction.scheduler import _Pending

    calls: list[int] = []
    ex = Extractor.__new__(Extractor)  # no models: audio_features is replaced below
    ex.options = ExtractOptions(audio_batch_size=4)
    ex.audio_features = lambda e: calls.append(len(e)) or e[:, 0, :1].copy()
    state = _Pending(Job(Path("v.mp4")), 0.0)
    examples = np.arange(9, dtype=np.float32)[:, None, None] * np.ones((1, 96, 64), np.float32)
    for i in range(0, 9, 3):
        state.audio_waiting.append(examples[i:i + 3])
        ex._run_audio(state, final=False)
    ex._run_audio(state, final=True)
    assert calls == [4, 4, 1] and state.audio_waiting == []
    assert np.concatenate(state.audio)[:, 0].tolist() == list(range(9))


def test_the_same_job_twice_is_extracted_twice(with_weights, extractor, media) -> None:
    import threading

    from yt8m.extraction.scheduler import Job

    job = Job(media["h264_aac"])
    results: list = []
    # Keyed by the Job object, the two decodings once mixed their messages and the run
    # never ended: run it in a thread, so that such a bug fails instead of hanging.
    runner = threading.Thread(target=lambda: results.extend(extractor.run([job, job], workers=2)),
                              daemon=True)
    runner.start()
    runner.join(120)
    assert not runner.is_alive(), "the run did not end"
    assert len(results) == 2 and all(r.error is None and r.features.num_seconds == 3 for r in results)
    np.testing.assert_array_equal(results[0].features.audio, results[1].features.audio)


# --- batches: failures, resume ---------------------------------------------------------------

def _make_batch(directory: Path, media: dict[str, Path]) -> list[Path]:
    directory.mkdir()
    videos = [mf.make_video(directory / f"v{i:02d}.mp4", duration_s=1.0 + (i % 3), fps=5, width=64, height=48,
                            audio=mf.AudioSpec(sample_rate=16000, layout="mono"))
              for i in range(17)]
    broken = [directory / "b0_truncated.mp4", directory / "b1_random.mp4", directory / "b2_text.mp4"]
    broken[0].write_bytes(media["truncated"].read_bytes())
    broken[1].write_bytes(media["random"].read_bytes())
    broken[2].write_text("not a video\n")
    return videos + broken


def _extract_cmd(inputs: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "yt8m", "extract", str(inputs), "-o", str(out), "--shard-size", "4"]


def test_batch_with_broken_videos_and_resume_after_kill(with_weights, media, tmp_path) -> None:
    videos_dir = tmp_path / "videos"
    _make_batch(videos_dir, media)
    env = dict(os.environ)

    full = tmp_path / "full"
    proc = subprocess.run(_extract_cmd(videos_dir, full), capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert "17 extracted" in proc.stderr and "3 failed" in proc.stderr
    failures = (full / "failures.csv").read_text().splitlines()
    assert failures[0] == "path,reason" and len(failures) == 4
    assert all("b0_truncated" in row or "b1_random" in row or "b2_text" in row for row in failures[1:])
    assert sum(1 for _ in iter_shard_records(full)) == 17

    # The same run, killed once its first outputs exist, then run again.
    resumed = tmp_path / "resumed"
    proc = subprocess.Popen(_extract_cmd(videos_dir, resumed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    parts = resumed / ".yt8m-parts"
    while time.time() < deadline and proc.poll() is None:
        if parts.is_dir() and len(list(parts.glob("*.rec"))) + len(list(resumed.glob("*.tfrecord"))) >= 3:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(parts.glob("*.rec"))) + 4 * len(list(resumed.glob("*.tfrecord")))
    rerun = subprocess.run(_extract_cmd(videos_dir, resumed), capture_output=True, text=True,
                           env=env, timeout=600)
    assert rerun.returncode == 1
    skipped = int(rerun.stderr.split(" skipped")[0].rsplit(", ", 1)[1])
    earlier = re.search(r"\(and (\d+) in an earlier run\)", rerun.stderr)
    assert skipped + (int(earlier.group(1)) if earlier else 0) >= min(done_before, 17)
    full_files = sorted(p.name for p in full.glob("*.tfrecord"))
    assert sorted(p.name for p in resumed.glob("*.tfrecord")) == full_files
    for name in full_files:
        assert (resumed / name).read_bytes() == (full / name).read_bytes(), name
    assert (resumed / "failures.csv").read_text() == (full / "failures.csv").read_text()
    assert not list((resumed / ".yt8m-parts").glob("*.rec"))
    assert not [p for p in resumed.rglob("*.part")]


def test_convert_features_to_shard(with_weights, run_cli, media, tmp_path) -> None:
    pb = tmp_path / "a.pb"
    assert run_cli("extract", media["h264_aac"], "-o", pb).exit_code == 0
    bad = tmp_path / "bad.pb"
    bad.write_text("garbage")
    shard = tmp_path / "out.tfrecord"
    result = run_cli("convert", pb, bad, "-o", shard)
    assert result.exit_code == 1 and "bad.pb" in result.stderr
    (record,) = [parse_record(r) for r in iter_shard_records(tmp_path)]
    features = FeatureSequence.read(pb)
    assert record.video_id == "a" and len(record.rgb) == len(record.audio) == 3
    assert np.abs(dequantize(record.rgb) - np.clip(features.rgb, -2, 2)).max() <= QUANTIZATION_STEP


def test_missing_weights_stop_with_one_clear_message(media, tmp_path) -> None:
    env_home = tmp_path / "empty_home"
    result = subprocess.run([sys.executable, "-m", "yt8m", "extract", str(media["h264_aac"]), "-o",
                             str(tmp_path / "f.pb"), "--mirror", "http://no-such-host.invalid"],
                            capture_output=True, text=True, env={**os.environ, "YT8M_HOME": str(env_home)})
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "yt8m models import" in lines[0] and "Traceback" not in result.stderr


def test_one_broken_video_is_said_before_weights_are_fetched(run_cli, media, tmp_path) -> None:
    # The weights cache is empty here: the input's problem must come first, with exit code 2.
    for name, message in (("random", "not a readable media file"), ("audio_only", "holds no video stream")):
        result = run_cli("extract", media[name], "-o", tmp_path / "f.pb")
        assert result.exit_code == 2, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
