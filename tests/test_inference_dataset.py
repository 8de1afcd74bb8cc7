"""Dataset shards -> windows, submission files and metrics, through the library."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from yt8m.errors import InputError
from yt8m.formats.quantize import dequantize
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import Segments, make_frame_record, make_video_record
from yt8m.inference.classifiers import NativeClassifier, build_model
from yt8m.inference.classifiers.base import span_batch
from yt8m.inference.shard_scoring import DatasetOptions, iter_dataset_predictions
from yt8m.inference.evaluate import evaluate_model, evaluate_submission
from yt8m.inference.prediction_files import predict_dataset
from yt8m.inference.submissions import read_segment_submission, read_video_submission

C = 25
SECONDS = [9, 0, 3, 5, 12]  # above, none, below and equal to the segment size, and a longer one


def _classifier(family: str = "frame_logistic", *, spread: float = 8.0, **options) -> NativeClassifier:
    model = build_model(family, num_classes=C, seed=3, **options)
    rng = np.random.default_rng(0)
    for tensor in model.state_dict().values():  # spread the scores out
        noise = torch.from_numpy(rng.normal(scale=0.1, size=tuple(tensor.shape)).astype(np.float32))
        tensor.copy_(tensor * spread + noise)
    return NativeClassifier(model)


def _records(seed: int = 0, *, rated: bool = False) -> tuple[list[bytes], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    data, frames = [], []
    for i, n in enumerate(SECONDS):
        rgb, audio = rng.integers(0, 256, (n, 1024), np.uint8), rng.integers(0, 256, (n, 128), np.uint8)
        segments = None
        if rated and n >= 5:
            starts = np.arange(0, n, 5)
            segments = Segments(np.tile([2, 7], starts.size), np.repeat(starts, 2),
                                (rng.random(2 * starts.size) < 0.5).astype(np.float32))
        data.append(make_frame_record(f"vid{i}", [i % C, 7], rgb, audio,
                                      segments=segments).SerializeToString())
        frames.append(np.concatenate([dequantize(rgb), dequantize(audio)], axis=1))
    return data, frames


@pytest.fixture
def shard(tmp_path):
    data, frames = _records()
    path = tmp_path / "train0.tfrecord"
    write_records(path, data)
    return path, frames


def test_dataset_windows_and_scores(shard) -> None:
    path, frames = shard
    classifier = _classifier()
    out = io.StringIO()
    run = predict_dataset([path], classifier, windows_out=out, top_k=9)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["video_id"] for r in records] == [f"vid{i}" for i in range(5)]
    assert run.records == 5 and run.windows == sum(max(n - min(n, 5) + 1, 0) if n else 0 for n in SECONDS)
    for record, n, rows in zip(records, SECONDS, frames, strict=True):
        seg = min(n, 5)
        assert [w["time_s"] for w in record["windows"]] == (list(range(seg - 1, n)) if n else [])
        for w in record["windows"]:
            assert w["end_s"] - w["start_s"] == seg and w["time_s"] == w["end_s"] - 1
            scores = classifier.predict(rows[None, w["start_s"]:w["end_s"]], [seg])[0]
            assert [label["index"] for label in w["labels"]] == np.argsort(-scores,
                                                                           kind="stable")[:9].tolist()
            np.testing.assert_allclose([label["score"] for label in w["labels"]], np.sort(scores)[::-1][:9],
                                       atol=1e-6)


def test_batching_does_not_change_predictions(shard) -> None:
    path, _ = shard
    classifier = _classifier("dbof", spread=1.0, cluster_size=32, hidden_size=16)
    results = []
    for batch_frames in (1, 7, 10_000):
        options = DatasetOptions(video=True, chunks=True, batch_frames=batch_frames)
        results.append(list(iter_dataset_predictions([path], classifier, options)))
    for a, b in zip(results[0], results[2], strict=True):
        np.testing.assert_allclose(a.window_scores, b.window_scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.video_scores, b.video_scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.chunk_scores, b.chunk_scores, rtol=1e-5, atol=1e-6)
    assert [r.record.video_id for r in results[1]] == [f"vid{i}" for i in range(5)]


def test_submission_files(shard, tmp_path) -> None:
    path, frames = shard
    classifier = _classifier()
    whitelist = [2, 7, 11, 19]
    predict_dataset([path], classifier, submission=tmp_path / "video.csv",
                    segment_submission=tmp_path / "seg.csv",
                    whitelist=whitelist, segment_cap=3)
    lines = (tmp_path / "video.csv").read_text().splitlines()
    assert lines[0] == "VideoId,LabelConfidencePairs" and len(lines) == 6
    video_id, pairs = lines[1].split(",")
    fields = pairs.split()
    assert video_id == "vid0" and len(fields) == 40  # the top 20 of 25 classes
    whole = classifier.predict(frames[0][None], [SECONDS[0]])[0]
    assert [int(c) for c in fields[::2]] == np.argsort(-whole, kind="stable")[:20].tolist()
    assert [float(s) for s in fields[1::2]] == [float(f"{v:g}") for v in np.sort(whole)[::-1][:20]]
    assert read_video_submission(tmp_path / "video.csv")["vid2"][0][:3] == [int(c) for c in
                                                                            lines[3].split(",")[1].split()[:6:2]]

    ranking = read_segment_submission(tmp_path / "seg.csv")
    assert (tmp_path / "seg.csv").read_text().startswith("Class,Segments\n")
    assert set(ranking) <= set(whitelist) and all(len(s) <= 3 for s in ranking.values())
    # Recompute: every 5 s chunk (the last one padded, num_frames = what it holds), all its whitelisted
    # classes (4 < 20), best 3 per class.
    chunk_scores = {}
    for i, (n, rows) in enumerate(zip(SECONDS, frames, strict=True)):
        starts = np.arange(0, n, 5)
        lengths = np.minimum(5, n - starts)
        if n:
            for s, row in zip(starts, classifier.predict(span_batch(rows, starts, lengths, 5), lengths),
                              strict=True):
                chunk_scores[f"vid{i}:{s}"] = row
    for label in whitelist:
        best = sorted(chunk_scores, key=lambda k: -chunk_scores[k][label])[:3]
        assert ranking[label] == best


def test_eval_of_a_model_equals_eval_of_its_submissions(tmp_path) -> None:
    data, _ = _records(1, rated=True)
    path = tmp_path / "validate0.tfrecord"
    write_records(path, data)
    classifier = _classifier()
    direct = evaluate_model([path], classifier)
    assert direct["video"]["num_videos"] == 5 and direct["segments"]["rated_segments"] > 0
    whitelist = tmp_path / "ids.csv"
    whitelist.write_text("Index\n2\n7\n")  # the rated classes: the default whitelist of eval
    predict_dataset([path], classifier, submission=tmp_path / "v.csv", segment_submission=tmp_path / "s.csv",
                    whitelist=[2, 7])
    from_segments = evaluate_submission([path], tmp_path / "s.csv")
    assert from_segments["segments"] == direct["segments"]
    assert evaluate_model([path], classifier, whitelist=whitelist)["segments"] == direct["segments"]
    from_video = evaluate_submission([path], tmp_path / "v.csv")["video"]
    for key in ("hit_at_one", "perr", "gap", "map"):  # the file holds %g scores of the top 20 only
        assert from_video[key] == pytest.approx(direct["video"][key], abs=1e-3), key


def test_video_level_records(tmp_path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "video_level.tfrecord"
    write_records(path, [make_video_record(f"v{i}", [i], rng.normal(size=1024), rng.normal(size=128))
                         .SerializeToString() for i in range(3)])
    classifier = _classifier("moe", num_mixtures=2)
    predict_dataset([path], classifier, submission=tmp_path / "v.csv")
    assert len((tmp_path / "v.csv").read_text().splitlines()) == 4
    with pytest.raises(InputError, match="video-level record .mean features only. has no seconds"):
        predict_dataset([path], classifier, windows_out=io.StringIO())
    with pytest.raises(InputError, match="a video-level record, and the model is frame-level"):
        predict_dataset([path], _classifier(), submission=tmp_path / "w.csv")
    assert not (tmp_path / "w.csv").exists()  # nothing half-written


def test_dataset_errors(shard, tmp_path) -> None:
    path, _ = shard
    classifier = _classifier()
    empty = tmp_path / "empty.tfrecord"
    write_records(empty, [])
    with pytest.raises(InputError, match="empty.tfrecord: empty shard"):
        predict_dataset([path, empty], classifier, windows_out=io.StringIO())
    with pytest.raises(InputError, match=r"--record-index 7 is out of range; the shard holds 5 records"):
        predict_dataset([path], classifier, windows_out=io.StringIO(), record_index=7)
    with pytest.raises(InputError, match="picks a record of one shard"):
        predict_dataset([path, path], classifier, windows_out=io.StringIO(), record_index=0)
    with pytest.raises(InputError, match="needs --whitelist"):
        predict_dataset([path], classifier, segment_submission=tmp_path / "s.csv")
    with pytest.raises(InputError, match="whitelisted class 99 is out of range"):
        predict_dataset([path], classifier, segment_submission=tmp_path / "s.csv", whitelist=[1, 99])
    with pytest.raises(InputError, match="label 7 is out of range for 5 classes"):
        evaluate_model([path], NativeClassifier(build_model("logistic", num_classes=5)))
    out = io.StringIO()
    predict_dataset([path], classifier, windows_out=out, record_index=3)
    (only,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert only["record_index"] == 3 and only["video_id"] == "vid3" and len(only["windows"]) == 1
