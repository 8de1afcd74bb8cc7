"""``yt8m predict``, ``predict-dataset`` and ``eval`` as a user runs them."""

from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest

from yt8m.cli import main
from yt8m.features.sequence import FeatureSequence
from yt8m.formats import mediasequence as ms
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import Segments, make_frame_record
from yt8m.inference.classifiers import build_model, load_classifier, save_native

C = 12
NAMES = ["Game", "Nike, Inc.", "Call of Duty: Ghosts", "???", "Pokémon", 'Say "cheese"']
NAMES += [f"c{i}" for i in range(len(NAMES), C)]


@pytest.fixture
def model(tmp_path):
    dbof = build_model("dbof", num_classes=C, cluster_size=24, hidden_size=12, seed=1)
    return save_native(dbof, tmp_path / "dbof")


@pytest.fixture
def label_map(tmp_path):
    path = tmp_path / "label_map.txt"
    path.write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    return path


def _features_pb(path, seconds: int, *, audio: bool = True, seed: int = 0):
    rng = np.random.default_rng(seed)
    stamps = np.arange(seconds, dtype=np.int64) * 1_000_000 + 2_000_000  # a clip starting at 2 s
    tracks = [ms.FeatureTrack(ms.RGB, rng.normal(size=(seconds, 1024)).astype(np.float32), stamps)]
    if audio:
        tracks.append(ms.FeatureTrack(ms.AUDIO, rng.normal(size=(seconds, 128)).astype(np.float32), stamps))
    ms.write_message(path, ms.make_features(None, tracks))
    return path, np.concatenate([tracks[0].values,
                                 tracks[1].values if audio else np.zeros((seconds, 128))], 1)


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_features_pb_json_and_csv(run_cli, tmp_path, model, label_map) -> None:
    path, frames = _features_pb(tmp_path / "features.pb", 8)
    result = run_cli("predict", path, "--model", model, "--labels", label_map)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert [(w["start_s"], w["end_s"]) for w in out["windows"]] == [(2, 7), (3, 8), (4, 9), (5, 10)]
    assert out["audio"] == "present" and out["num_seconds"] == 8 and out["video"]["end_s"] == 10
    with load_classifier(model) as classifier:
        first = classifier.predict(frames[None, :5], [5])[0]
        whole = classifier.predict(frames[None], [8])[0]
    top = np.argsort(-first)[:3]
    assert [label["index"] for label in out["windows"][0]["labels"]] == top.tolist()
    assert [label["name"] for label in out["windows"][0]["labels"]] == [
        None if NAMES[i] == "???" else NAMES[i] for i in top]
    video_scores = [label["score"] for label in out["video"]["labels"]]
    np.testing.assert_allclose(video_scores, np.sort(whole)[::-1], atol=1e-6)
    assert len(out["video"]["labels"]) == C  # 20 asked, 12 exist

    csv_path = tmp_path / "out.csv"
    result = run_cli("predict", path, "--model", model, "--labels", label_map, "--format", "csv",
                     "--segment-size", "3", "--overlap", "0", "--top-k", str(C), "-o", csv_path)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    windows = [r for r in rows if r["scope"] == "window"]
    spans = sorted({(r["start_s"], r["end_s"]) for r in windows})
    assert spans == [("2", "5"), ("5", "8")]  # the 8th second does not fill a window: dropped
    # commas and quotes survive
    assert {r["name"] for r in windows} == {n for n in NAMES if n != "???"} | {""}


def test_features_without_audio_say_what_was_assumed(capsys, caplog, tmp_path, model) -> None:
    path, _ = _features_pb(tmp_path / "video_only.pb", 6, audio=False)
    with caplog.at_level(logging.WARNING):
        code, out, err = _run(capsys, "predict", path, "--model", model)
    assert code == 0, err
    result = json.loads(out)
    assert result["audio"].startswith("missing: assumed zeros")
    assert any("assumed to be zeros" in note for note in result["notes"])
    assert any("assumed to be zeros" in r.getMessage() for r in caplog.records)
    assert any("no label names" in note for note in result["notes"])


def test_predict_npz(capsys, tmp_path, model) -> None:
    rng = np.random.default_rng(4)
    stamps = np.arange(5) * 1_000_000
    sequence = FeatureSequence(rng.normal(size=(5, 1024)), stamps, rng.normal(size=(5, 128)), stamps)
    sequence.save_npz(tmp_path / "features.npz")
    code, out, err = _run(capsys, "predict", tmp_path / "features.npz", "-m", model, "--top-k", "2")
    assert code == 0, err
    result = json.loads(out)
    assert len(result["windows"]) == 1 and len(result["windows"][0]["labels"]) == 2


@pytest.mark.parametrize("setup,args,message", [
    ("video", [], "clip.mp4: not a readable media file"),
    ("features", ["--labels", "LABELS"], "names 2 classes but the model .* predicts 12"),
    ("features", ["--overlap", "5"], r"overlap \(5\) must be >= 0 and less than the segment size \(5\)"),
    ("features", ["--model", "EMPTY"], "not a classifier"),
    ("garbage", [], "not a"),
    ("missing", [], "no such file"),
])
def test_predict_errors(capsys, tmp_path, model, setup, args, message) -> None:
    paths = {"video": tmp_path / "clip.mp4", "features": tmp_path / "f.pb", "garbage": tmp_path / "g.pb",
             "missing": tmp_path / "missing.pb"}
    paths["video"].write_bytes(b"\0\0\0\x18ftypmp42 not really a video")
    _features_pb(paths["features"], 6)
    paths["garbage"].write_bytes(b"\xff" * 40)
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "empty").mkdir()
    swap = {"LABELS": tmp_path / "labels.txt", "EMPTY": tmp_path / "empty"}
    args = [swap.get(a, a) for a in args]
    code, _, err = _run(capsys, "predict", paths[setup],
                        *(["--model", model] if "--model" not in args else []),
                        *args)
    assert code == 2
    assert err.startswith("yt8m: error: ") and len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err), err


def _shard(path, *, rated: bool = True):
    rng = np.random.default_rng(7)
    records = []
    for i, n in enumerate([7, 12, 4]):
        starts = np.arange(0, n, 5)
        scores = (rng.random(starts.size) < 0.5).astype(np.float32)
        segments = Segments(np.repeat([3], starts.size), starts, scores)
        records.append(make_frame_record(f"id{i}", [3, i], rng.integers(0, 256, (n, 1024), np.uint8),
                                         rng.integers(0, 256, (n, 128), np.uint8),
                                         segments=segments if rated else None).SerializeToString())
    write_records(path, records)
    return path


def test_predict_dataset_and_eval(run_cli, capsys, tmp_path, model, label_map) -> None:
    shard = _shard(tmp_path / "validate0000.tfrecord")
    whitelist = tmp_path / "segment_label_ids.csv"
    whitelist.write_text("Index\n3\n5\n")
    result = run_cli("predict-dataset", shard, "--model", model, "--labels", label_map, "-o",
                     tmp_path / "w.jsonl",
                     "--submission", tmp_path / "video.csv", "--segment-submission", tmp_path / "seg.csv",
                     "--whitelist", whitelist)
    assert result.exit_code == 0, result.stderr
    assert "3 records, 12 windows" in result.stderr  # 7 - 5 + 1, 12 - 5 + 1, and one of 4 s
    records = [json.loads(line) for line in (tmp_path / "w.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["segment_size"] for r in records] == [5, 5, 4]
    assert [w["time_s"] for w in records[0]["windows"]] == [4, 5, 6]
    assert all(len(w["labels"]) == 9 for r in records for w in r["windows"])
    assert (tmp_path / "video.csv").read_text().splitlines()[0] == "VideoId,LabelConfidencePairs"
    seg_lines = (tmp_path / "seg.csv").read_text().splitlines()
    assert seg_lines[0] == "Class,Segments" and [line.split(",")[0] for line in seg_lines[1:]] == ["3", "5"]
    assert sorted(seg_lines[1].split(",")[1].split()) == sorted(["id0:0", "id0:5", "id1:0", "id1:5", "id1:10",
                                                                 "id2:0"])

    code, out, err = _run(capsys, "eval", shard, "--model", model, "--whitelist", whitelist, "--json")
    assert code == 0, err
    direct = json.loads(out)
    code, out, err = _run(capsys, "eval", shard, "--predictions", tmp_path / "seg.csv", "--json")
    assert code == 0, err
    assert json.loads(out)["segments"] == direct["segments"] and direct["segments"]["rated_segments"] == 6
    code, out, err = _run(capsys, "eval", shard, "--predictions", tmp_path / "video.csv")
    assert code == 0, err
    assert out.splitlines()[0] == "videos: 3" and "GAP@20:" in out and "mAP:" in out


def test_dataset_command_errors(capsys, tmp_path, model) -> None:
    empty = tmp_path / "empty.tfrecord"
    write_records(empty, [])
    code, _, err = _run(capsys, "predict-dataset", empty, "--model", model)
    assert code == 2 and "empty.tfrecord: empty shard (it holds no records)" in err
    shard = _shard(tmp_path / "s.tfrecord", rated=False)
    code, _, err = _run(capsys, "eval", shard)
    assert code == 2 and "exactly one of --model and --predictions" in err
    not_a_submission = tmp_path / "p.csv"
    not_a_submission.write_text("id,score\n")
    code, _, err = _run(capsys, "eval", shard, "--predictions", not_a_submission)
    assert code == 2 and "not a submission file" in err
    code, out, err = _run(capsys, "predict-dataset", shard, "--model", model, "--record-index", "1")
    assert code == 0, err
    assert json.loads(out)["video_id"] == "id1"
