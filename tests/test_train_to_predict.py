"""A model trained by `yt8m train` serves as is: `yt8m predict` on a video, and the web viewer.

The model is tiny but full width (1152 features, rgb and audio), so it takes the features
the extractor computes (the session's generated official-format weights) from a real video.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

import train_data as td
from yt8m.cli import main

CLASSES = 6
LABELS = ["Vehicle", "Music, Concert", "Sport: Football", "Cooking", "Animal", "Dance"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A DBoF model (batch norm, MoE head) trained for one epoch by the command, and its label file."""
    root = tmp_path_factory.mktemp("trained")
    td.write_shards(root / "shards", td.make_videos(60, CLASSES, seed=11, frames=(3, 6)), 2)
    model = root / "model"
    code = main(["train", f"{root / 'shards'}/train*.tfrecord", "--model", "dbof", "-o", str(model),
                 "--num-classes", str(CLASSES), "--batch-size", "20", "--epochs", "1", "--workers", "0",
                 "--model-option", "cluster_size=16", "--model-option", "hidden_size=8",
                 "--model-option", "iterations=4"])
    assert code == 0
    assert json.loads((model / "classifier.json").read_text())["feature_size"] == 1152
    labels = root / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    return model, labels


def test_trained_model_predicts_on_a_video(trained, with_weights, run_cli, media, tmp_path) -> None:
    model, labels = trained
    out = tmp_path / "predictions.json"
    result = run_cli("predict", media["h264_aac"], "--model", model, "--labels", labels, "-o", out,
                     "--segment-size", 2, "--overlap", 1)
    assert result.exit_code == 0, result.stderr
    predictions = json.loads(out.read_text(encoding="utf-8"))
    assert predictions["num_seconds"] == 3 and predictions["audio"] == "present"
    assert [(w["start_s"], w["end_s"]) for w in predictions["windows"]] == [(0.0, 2.0), (1.0, 3.0)]
    for window in [*predictions["windows"], predictions["video"]]:
        assert window["labels"] and all(label["name"] in LABELS for label in window["labels"])
        scores = [label["score"] for label in window["labels"]]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_trained_model_serves_in_the_web_viewer(trained, with_weights, media, tmp_path) -> None:
    pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
    from fastapi.testclient import TestClient

    from yt8m.web.app import create_app
    from yt8m.web.settings import Settings

    model, labels = trained
    media_root = tmp_path / "media"
    media_root.mkdir()
    shutil.copy(media["h264_aac"], media_root / "clip.mp4")
    settings = Settings(model=str(model), labels=labels, data_dir=tmp_path / "data", media_root=media_root,
                        online=False)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        response = client.post("/api/jobs", json={"media": "clip.mp4"})
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        deadline = time.monotonic() + 120
        while (job := client.get(f"/api/jobs/{job_id}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["status"] == "done", job
        result = client.get(job["predictions_url"], params={"segment_size": 2}).json()
    assert result["kind"] == "video" and [w["time_s"] for w in result["windows"]] == [0.0, 1.0]
    for window in [*result["windows"], result["video"]]:
        names = [label["name"] for label in window["labels"]]
        assert names and set(names) <= set(LABELS)
        scores = [label["score"] for label in window["labels"]]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
