"""The web viewer's JSON API through FastAPI's TestClient: uploads, jobs, predictions, videos, records.

Extraction is real (the session's generated official-format weights); the classifier is a
small native model built here with a 12-class label file whose names hold commas and
colons. The data.yt8m.org lookups and the shard download run against a local HTTP server.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

fastapi = pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
from fastapi.testclient import TestClient

import media_factory as mf
from yt8m.errors import InputError
from yt8m.extraction.scheduler import Result
from yt8m.features.sequence import FeatureSequence
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import make_frame_record
from yt8m.inference.classifiers import load_classifier
from yt8m.inference.labels import read_label_map
from yt8m.web import ingest
from yt8m.web.app import create_app
from yt8m.web.jobs import JobStore
from yt8m.web.resources import Resources
from yt8m.web.settings import Settings

from web_demo_model import LABELS, make_model_files  # noqa: E402
BASE = "http://127.0.0.1"
YOUTUBE_ID = "dQw4w9WgXcQ"


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 12-class frame-level logistic model with spread-out scores, and its label file."""
    return make_model_files(tmp_path_factory.mktemp("web_model"))


def make_resources(model_files: tuple[Path, Path], extractor: Any) -> Resources:
    model, labels = model_files
    return Resources(load_classifier(model), read_label_map(labels), extractor, str(model))


@contextmanager
def serving(resources: Resources, data_dir: Path, **options: Any) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, **options)
    with TestClient(create_app(settings, resources=resources), base_url=BASE) as client:
        yield client


def wait_for(client: TestClient, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


def upload(client: TestClient, path: Path, name: str | None = None) -> Any:
    return client.post("/api/uploads", params={"filename": name or path.name}, content=path.read_bytes(),
                       headers={"Content-Type": "application/octet-stream"})


@pytest.fixture(scope="module")
def server(model_files, extractor, media, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """One app for the module's read-mostly tests, with a media folder and one finished job."""
    root = tmp_path_factory.mktemp("web_shared")
    media_root = root / "media"
    (media_root / "sub").mkdir(parents=True)
    shutil.copy(media["h264_aac"], media_root / "clip.mp4")
    shutil.copy(media["vp9_opus"], media_root / "sub" / "other.webm")
    (media_root / "notes.txt").write_text("not a video")
    (media_root / ".hidden.mp4").write_bytes(media["h264_aac"].read_bytes())
    outside = root / "outside.mp4"
    outside.write_bytes(media["no_audio"].read_bytes())
    (media_root / "escape.mp4").symlink_to(outside)
    resources = make_resources(model_files, extractor)
    with serving(resources, root / "data", media_root=media_root, online=False) as client:
        response = upload(client, media["h264_aac"], "my clip.mp4")
        assert response.status_code == 202, response.text
        job = wait_for(client, response.json()["id"])
        assert job["status"] == "done", job
        yield {"client": client, "job": job, "data": root / "data", "media_root": media_root,
               "outside": outside,
               "resources": resources}


# --- health, page, labels --------------------------------------------------------------------------


def test_healthz_says_what_the_server_runs_with(server) -> None:
    health = server["client"].get("/healthz").json()
    assert health["status"] == "ok"
    assert health["model"]["kind"] == "native" and health["model"]["num_classes"] == len(LABELS)
    assert health["labels"]["num_classes"] == len(LABELS)
    assert health["extraction"] == {"available": True, "reason": None}
    assert health["media_root"] is True and health["dataset"]["online"] is False
    assert health["segment_size"] == {"default": 5, "min": 1, "max": 300}


def test_page_and_its_assets_are_served_with_a_strict_policy(server) -> None:
    client = server["client"]
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert client.get("/docs").status_code == 200
    assert "/api/uploads" in client.get("/openapi.json").json()["paths"]


def test_labels_are_served_verbatim(server) -> None:
    client = server["client"]
    body = client.get("/api/labels").json()
    assert body["names"] == LABELS[:-1] + [None]  # "???" means unnamed
    assert client.get("/api/labels/1").json() == {"index": 1, "name": "Arts & Entertainment, Music"}
    assert client.get("/api/labels/12").status_code == 404
    assert client.get("/api/labels/-1").status_code == 422


# --- uploads, jobs, predictions --------------------------------------------------------------------


def test_uploaded_video_gets_predictions(server) -> None:
    client, job = server["client"], server["job"]
    assert job["name"] == "my clip.mp4" and job["progress"] == 1.0 and job["num_seconds"] == 3
    assert job["media_type"] == "video/mp4" and job["has_audio"] is True
    result = client.get(job["predictions_url"], params={"segment_size": 2}).json()
    assert result["kind"] == "video" and result["segment_size"] == 2 and result["overlap"] == 1
    assert [w["time_s"] for w in result["windows"]] == [0.0, 1.0]  # one window starting at every second
    assert [(w["start_s"], w["end_s"]) for w in result["windows"]] == [(0.0, 2.0), (1.0, 3.0)]
    window = result["windows"][0]
    assert len(window["labels"]) == 10
    scores = [label["score"] for label in window["labels"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert all(label["name"] == (LABELS[label["index"]] if label["index"] != 11 else None)
               for label in window["labels"])
    assert len(result["video"]["labels"]) == 10
    assert result["input"] == "my clip.mp4" and str(server["data"]) not in json.dumps(result)


def test_segment_size_changes_recompute_without_extracting(server) -> None:
    client, job, resources = server["client"], server["job"], server["resources"]
    features = server["data"] / "jobs" / job["id"] / "features.npz"
    before = features.stat().st_mtime_ns
    extractor, resources.extractor = resources.extractor, None  # any extraction now would fail
    try:
        counts = {size: len(client.get(job["predictions_url"],
                                       params={"segment_size": size}).json()["windows"])
                  for size in (1, 2, 3)}
        assert counts == {1: 3, 2: 2, 3: 1}
        short = client.get(job["predictions_url"], params={"segment_size": 5}).json()
        assert short["windows"] == [] and any("fewer than the segment size" in n for n in short["notes"])
        top = client.get(job["predictions_url"], params={"segment_size": 1, "top_k": 2}).json()
        assert all(len(w["labels"]) == 2 for w in top["windows"])
    finally:
        resources.extractor = extractor
    assert features.stat().st_mtime_ns == before
    for bad in (0, 301, "x"):
        assert client.get(job["predictions_url"], params={"segment_size": bad}).status_code == 422


def test_same_video_again_is_the_cached_job(server, media) -> None:
    client, job = server["client"], server["job"]
    again = upload(client, media["h264_aac"], "renamed.mp4")
    assert again.status_code == 200
    assert again.json()["id"] == job["id"] and again.json()["cached"] is True
    assert again.json()["status"] == "done"
    assert [j["id"] for j in client.get("/api/jobs").json()["jobs"]].count(job["id"]) == 1


def test_multipart_upload(model_files, extractor, media, tmp_path) -> None:
    with serving(make_resources(model_files, extractor), tmp_path / "data") as client:
        with open(media["vp9_opus"], "rb") as handle:
            response = client.post("/api/uploads", files={"file": ("talk.webm", handle, "video/webm")})
        assert response.status_code == 202, response.text
        job = wait_for(client, response.json()["id"])
        assert job["status"] == "done" and job["name"] == "talk.webm" and job["media_type"] == "video/webm"
        video = client.get(job["video_url"])
        assert video.content == media["vp9_opus"].read_bytes()
        assert client.post("/api/uploads", files={"other": ("x.webm", b"abc")}).status_code == 422


class GatedExtractor:
    """Stands in for :class:`Extractor`: reports one second per step the test allows, then finishes or
    fails."""

    def __init__(self, seconds: int, *, fail: Exception | None = None) -> None:
        self.seconds = seconds
        self.fail = fail
        self.steps = threading.Semaphore(0)

    def run(self, jobs, *, workers: int = 1, on_frames=None):
        (job,) = jobs
        for _ in range(self.seconds):
            assert self.steps.acquire(timeout=30)
            on_frames(1)
        if isinstance(self.fail, InputError):
            return [Result(job, error=self.fail)]
        if self.fail is not None:
            raise self.fail
        n = self.seconds
        rng = np.random.default_rng(n)
        stamps = np.arange(n, dtype=np.int64) * 1_000_000
        return [Result(job, features=FeatureSequence(rng.normal(size=(n, 1024)), stamps,
                                                     rng.normal(size=(n, 128)), stamps))]


def test_job_progress_is_reported_while_extracting(model_files, media, tmp_path) -> None:
    gate = GatedExtractor(3)
    with serving(make_resources(model_files, gate), tmp_path / "data") as client:
        job = upload(client, media["h264_aac"]).json()
        assert job["status"] == "queued" and job["seconds_expected"] == 3
        seen = []
        for step in range(3):
            gate.steps.release()
            deadline = time.monotonic() + 10
            while (current := client.get(f"/api/jobs/{job['id']}").json())["seconds_done"] <= step:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            seen.append((current["status"], current["seconds_done"], current["progress"]))
        done = wait_for(client, job["id"])
    assert [s[:2] for s in seen[:2]] == [("running", 1), ("running", 2)]
    assert [s[2] for s in seen] == sorted(s[2] for s in seen) and 0 < seen[0][2] < seen[1][2] < 1
    assert done["status"] == "done" and done["progress"] == 1.0 and done["num_seconds"] == 3


def test_failing_job_is_reported_and_the_server_keeps_serving(model_files, extractor,
                                                              media, tmp_path) -> None:
    # stream ends at 0.5 s
    late = mf.make_video(tmp_path / "late.mp4", frame_times_s=[30.0, 30.5], duration_s=1.0)
    with serving(make_resources(model_files, extractor), tmp_path / "data") as client:
        bad = upload(client, late, "late.mp4").json()
        failed = wait_for(client, bad["id"])
        assert failed["status"] == "failed" and failed["stage"] == "failed"
        assert failed["error"].startswith("late.mp4: no video frame inside the clip")
        assert str(tmp_path) not in failed["error"]
        assert client.get(failed["predictions_url"]).status_code == 409
        good = wait_for(client, upload(client, media["no_audio"]).json()["id"])
        assert good["status"] == "done" and good["has_audio"] is False
        assert client.get(good["predictions_url"], params={"segment_size": 1}).status_code == 200
        assert client.get("/healthz").json()["jobs"] == {"queued": 0, "running": 0, "done": 1, "failed": 1}


def test_unexpected_errors_fail_the_job_not_the_server(model_files, media, tmp_path) -> None:
    gate = GatedExtractor(1, fail=RuntimeError("boom"))
    with serving(make_resources(model_files, gate), tmp_path / "data") as client:
        job = upload(client, media["h264_aac"]).json()
        gate.steps.release()
        failed = wait_for(client, job["id"])
        assert failed["status"] == "failed" and failed["error"] == "internal error: RuntimeError: boom"
        gate.fail = None
        retry = upload(client, media["h264_aac"])  # a failed job runs again when resubmitted
        assert retry.status_code == 202
        gate.steps.release()
        assert wait_for(client, job["id"])["status"] == "done"


def test_concurrent_jobs_never_share_files(model_files, extractor, media, tmp_path) -> None:
    videos = [media["no_audio"], media["odd_size"], media["half_second"], media["no_audio"]]
    data = tmp_path / "data"
    with serving(make_resources(model_files, extractor), data) as client:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda p: upload(client, p).json(), videos))
        assert answers[0]["id"] == answers[3]["id"]  # the same bytes twice: one job
        ids = {a["id"] for a in answers}
        assert len(ids) == 3
        jobs = [wait_for(client, i) for i in sorted(ids)]
    assert all(j["status"] == "done" for j in jobs), jobs
    assert sorted(p.name for p in (data / "videos").iterdir()) == sorted(f"{i}.mp4" for i in ids)
    assert sorted(p.name for p in (data / "jobs").iterdir()) == sorted(ids)
    assert list((data / "tmp").iterdir()) == []
    for job in jobs:
        seq = FeatureSequence.load_npz(data / "jobs" / job["id"] / "features.npz")
        assert seq.num_seconds == job["num_seconds"]


def test_jobs_can_be_deleted(model_files, media, tmp_path) -> None:
    gate = GatedExtractor(1)
    data = tmp_path / "data"
    with serving(make_resources(model_files, gate), data) as client:
        job = upload(client, media["h264_aac"]).json()
        assert client.delete(f"/api/jobs/{job['id']}").status_code == 409  # still queued
        gate.steps.release()
        wait_for(client, job["id"])
        assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
        assert client.get(f"/api/jobs/{job['id']}").status_code == 404
        assert client.get(f"/api/videos/{job['id']}").status_code == 404
        assert list((data / "videos").iterdir()) == [] and list((data / "jobs").iterdir()) == []


def test_finished_jobs_survive_a_restart(model_files, media, tmp_path) -> None:
    gate = GatedExtractor(1)
    data = tmp_path / "data"
    with serving(make_resources(model_files, gate), data) as client:
        job = upload(client, media["h264_aac"]).json()
        gate.steps.release()
        assert wait_for(client, job["id"])["status"] == "done"
    # A job left queued by a server that stopped (as if killed before its runner got to it):
    stuck = JobStore(data).submit(ingest.hash_file(media["no_audio"]),
                                  ingest.sniff(media["no_audio"], name="x"),
                                  name="stuck.mp4", origin="upload", video="missing.mp4")[0].to_json()
    with serving(make_resources(model_files, None), data) as client:
        assert client.get(f"/api/jobs/{job['id']}").json()["status"] == "done"
        assert client.get(f"/api/jobs/{job['id']}/predictions", params={"segment_size": 1}).status_code == 200
        interrupted = client.get(f"/api/jobs/{stuck['id']}").json()
        assert (interrupted["status"] == "failed" and "stopped before this job finished"
                in interrupted["error"])
        assert upload(client, media["no_audio"]).status_code == 503  # no extractor on this server


# --- upload limits and type checks ---------------------------------------------------------------------


def test_upload_limit_holds_for_declared_and_streamed_bodies(model_files, extractor, media, tmp_path) -> None:
    data = tmp_path / "data"
    with serving(make_resources(model_files, extractor), data, max_upload_mb=0.05) as client:
        big = os.urandom(80_000)
        declared = client.post("/api/uploads", content=big)
        assert declared.status_code == 413 and "0.05 MB" in declared.json()["detail"]

        def chunks():
            for i in range(0, len(big), 8192):
                yield big[i:i + 8192]

        streamed = client.post("/api/uploads", content=chunks())
        assert streamed.status_code == 413
        multipart = client.post("/api/uploads", files={"file": ("big.mp4", big)})
        assert multipart.status_code == 413
        assert client.get("/healthz").status_code == 200
    assert list((data / "tmp").iterdir()) == [] and list((data / "videos").iterdir()) == []


@pytest.mark.parametrize("kind, status, words", [
    ("text", 415, "not a video"), ("random", 415, "not a video"), ("truncated", 415, "not a video"),
    ("audio_only", 415, "holds no video stream"), ("empty", 422, "empty"),
])
def test_uploads_are_sniffed_not_trusted(server, media, kind, status, words) -> None:
    client = server["client"]
    response = upload(client, media[kind], "looks_like_a.mp4")
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert list((server["data"] / "tmp").iterdir()) == []


def test_still_images_are_refused(server, tmp_path) -> None:
    import av

    png = tmp_path / "frame.mp4"
    with av.open(str(png), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    response = upload(server["client"], png)
    assert response.status_code == 415 and "still image" in response.json()["detail"]


def _huge_frame_video(path: Path, side: int = 4200) -> Path:
    """One flat side x side frame: a file of some 50 KB whose frames hold 17.6 million pixels."""
    from fractions import Fraction

    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = side, side, "yuv420p"
        stream.options = {"preset": "ultrafast", "threads": "1"}
        frame = av.VideoFrame.from_ndarray(np.full((side, side, 3), 90, np.uint8), format="rgb24")
        frame.pts, frame.time_base = 0, Fraction(1, 1)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_huge_frames_are_refused_at_ingest(model_files, extractor, media, tmp_path) -> None:
    huge = _huge_frame_video(tmp_path / "huge.mp4")
    assert huge.stat().st_size < 200_000
    data = tmp_path / "data"
    with serving(make_resources(model_files, extractor), data) as client:  # the default limit: 4096x2304
        assert client.get("/healthz").json()["max_video_pixels"] == 4096 * 2304
        refused = upload(client, huge)
        assert refused.status_code == 413, refused.text
        detail = refused.json()["detail"]
        assert "4200x4200" in detail and "17,640,000 pixels" in detail and "9,437,184" in detail
        assert "--max-video-pixels" in detail
    assert list((data / "tmp").iterdir()) == [] and list((data / "videos").iterdir()) == []
    assert list((data / "jobs").iterdir()) == []
    media_root = tmp_path / "media"
    media_root.mkdir()
    shutil.copy(media["h264_aac"], media_root / "clip.mp4")
    info = ingest.sniff(media["h264_aac"], name="clip.mp4")
    width, height = info.width, info.height
    with serving(make_resources(model_files, extractor), data, media_root=media_root,
                 max_pixels=width * height - 1) as client:
        refused = upload(client, media["h264_aac"])
        assert refused.status_code == 413 and f"{width}x{height}" in refused.json()["detail"]
        picked = client.post("/api/jobs", json={"media": "clip.mp4"})
        assert (picked.status_code == 413 and f"at most {width * height - 1:,} pixels"
                in picked.json()["detail"])
    with serving(make_resources(model_files, extractor), data, max_pixels=width * height) as client:
        assert upload(client, media["h264_aac"]).status_code == 202  # at the limit: accepted
    with pytest.raises(InputError, match="max-video-pixels"):
        Settings(max_pixels=0)


# --- videos and Range requests ---------------------------------------------------------------------


def test_range_requests(server, media) -> None:
    client, job = server["client"], server["job"]
    data = media["h264_aac"].read_bytes()
    size = len(data)
    whole = client.get(job["video_url"])
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "video/mp4"
    first = client.get(job["video_url"], headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == data[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{size}" and first.headers["content-length"] == "100"
    # clipped to the end
    middle = client.get(job["video_url"], headers={"Range": f"bytes=1000-{size + 5000}"})
    assert middle.status_code == 206 and middle.content == data[1000:]
    assert middle.headers["content-range"] == f"bytes 1000-{size - 1}/{size}"
    tail = client.get(job["video_url"], headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    last = client.get(job["video_url"], headers={"Range": f"bytes={size - 1}-"})
    assert last.status_code == 206 and last.content == data[-1:]
    beyond = client.get(job["video_url"], headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
    assert client.head(job["video_url"]).headers["content-length"] == str(size)
    assert client.get(job["video_url"], headers={"Range": "bytes=abc"}).status_code == 400


# --- clients that go away --------------------------------------------------------------------------------


@contextmanager
def uvicorn_serving(resources: Resources, data_dir: Path) -> Iterator[int]:
    """The app under a real uvicorn server on 127.0.0.1 (a free port), logging through the root logger."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app = create_app(Settings(data_dir=data_dir, online=False), resources=resources)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="info"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _abort_mid_body(port: int, head: bytes, body: bytes) -> None:
    """Send a request whose Content-Length promises more than ``body``, then hang up."""
    import socket
    import struct

    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(head + body)
        time.sleep(0.3)
        # reset, as a crash would
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("form", [False, True], ids=["raw", "multipart"])
def test_an_upload_aborted_mid_body_is_one_log_line_and_leaves_no_file(model_files, caplog, tmp_path,
                                                                         form) -> None:
    import logging

    data = tmp_path / "data"
    chunk = os.urandom(256 * 1024)
    if form:
        boundary = "yt8mboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n"
                f"Content-Type: video/mp4\r\n\r\n").encode() + chunk
        content_type = f"multipart/form-data; boundary={boundary}"
    else:
        body, content_type = chunk, "application/octet-stream"
    head = ("POST /api/uploads?filename=a.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
            f"{content_type}\r\nContent-Length: {10 * len(body)}\r\n\r\n").encode()
    caplog.set_level(logging.INFO)
    with uvicorn_serving(make_resources(model_files, GatedExtractor(1)), data) as port:
        _abort_mid_body(port, head, body)
        deadline = time.monotonic() + 10
        while not any("closed the connection" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.05)
        time.sleep(0.3)
        import requests

        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    problems = [r for r in caplog.records
                if r.exc_info or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()]
    assert problems == [], [r.getMessage() for r in problems]
    aborted = [r.getMessage() for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(aborted) == 1 and "\n" not in aborted[0], aborted
    assert list((data / "tmp").iterdir()) == [] and list((data / "videos").iterdir()) == []


# --- paths, ids and origins ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/api/videos/../../../../etc/passwd", "/api/videos/..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/videos/%2e%2e%2f%2e%2e%2fsettings.py", "/api/videos/ABCDEF0123456789ABCDEF0123456789",
    "/api/videos/0123456789abcdef0123456789abcdef0", "/api/jobs/..%2Fjobs", "/static/../settings.py",
    "/static/%2e%2e/app.py", "/api/jobs/0123456789abcdef0123456789abcdef/../../healthz/predictions",
])
def test_traversal_through_urls_is_refused(server, path) -> None:
    response = server["client"].get(path)
    assert response.status_code in (400, 404, 422), (path, response.status_code)
    assert b"root:" not in response.content and b"import" not in response.content


def test_unknown_job_ids_are_404(server) -> None:
    client = server["client"]
    missing = "0123456789abcdef0123456789abcdef"
    for path in (f"/api/jobs/{missing}", f"/api/videos/{missing}", f"/api/jobs/{missing}/predictions"):
        assert client.get(path).status_code == 404


def test_media_folder_lists_videos_only_inside_it(server) -> None:
    files = [f["path"] for f in server["client"].get("/api/media").json()["files"]]
    assert files == ["clip.mp4", "sub/other.webm"]  # no text, no hidden file, no link leading outside


@pytest.mark.parametrize("media_path", [
    "../outside.mp4", "escape.mp4", "/etc/passwd", "sub/../../outside.mp4", "sub/../clip.mp4", "./clip.mp4",
    "sub\\..\\clip.mp4", "nothing.mp4", "notes.txt", "clip.mp4\x00.txt", "",
])
def test_media_picks_stay_inside_the_folder(server, media_path) -> None:
    response = server["client"].post("/api/jobs", json={"media": media_path})
    assert response.status_code in (404, 415, 422), (media_path, response.status_code, response.text)


def test_media_pick_reuses_the_cached_job_and_serves_from_the_folder(server, media) -> None:
    client, job = server["client"], server["job"]
    picked = client.post("/api/jobs", json={"media": "clip.mp4"})
    assert picked.status_code == 200 and picked.json()["id"] == job["id"]  # same bytes as the upload
    other = client.post("/api/jobs", json={"media": "sub/other.webm"})
    assert other.status_code == 202 and other.json()["origin"] == "media"
    done = wait_for(client, other.json()["id"])
    assert done["status"] == "done" and done["video"] == "sub/other.webm"
    assert client.get(done["video_url"]).content == media["vp9_opus"].read_bytes()


def test_upload_names_never_become_paths(server, media) -> None:
    client = server["client"]
    response = upload(client, media["h264_aac"], "../../../etc/evil\x07.mp4")
    assert response.status_code == 200  # the cached job: same bytes
    created = upload(client, media["odd_size"], "..\\..\\win\\evil.mp4").json()
    assert created["name"] == "evil.mp4" and created["video"] == f"{created['id']}.mp4"
    assert wait_for(client, created["id"])["status"] == "done"
    assert not (server["data"].parent / "etc").exists()


def test_cross_site_and_foreign_host_requests_are_refused(server, media) -> None:
    client = server["client"]
    body = media["h264_aac"].read_bytes()
    cross = client.post("/api/uploads", content=body, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert client.post("/api/uploads", content=body,
                       headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    same = client.post("/api/uploads", content=body, headers={"Origin": BASE})
    assert same.status_code == 200
    assert client.get("/healthz", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/healthz", headers={"Host": "localhost:8008"}).status_code == 200


# --- dataset records --------------------------------------------------------------------------------------


class LookupServer:
    """A local stand-in for data.yt8m.org and us.data.yt8m.org: fixed answers by path, and a request log."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                status, body = server.routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()  # a second call returns at once
        self.httpd.server_close()


def _shard(path: Path, records: list[tuple[str, list[int], int]], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    write_records(path, [make_frame_record(vid, labels, rng.integers(0, 256, (n, 1024), np.uint8),
                                           rng.integers(0, 256, (n, 128), np.uint8)).SerializeToString()
                         for vid, labels, n in records])
    return path


@pytest.fixture
def dataset(model_files, tmp_path) -> Iterator[dict[str, Any]]:
    local = tmp_path / "dataset" / "train"
    local.mkdir(parents=True)
    _shard(local / "local0000.tfrecord", [("Ab12", [1, 2], 8), ("Xy_9", [], 3)], seed=1)
    remote = _shard(tmp_path / "train0042.tfrecord", [("Q1w2", [0], 6), ("Zz00", [9, 10, 5], 7)], seed=2)
    lookup = LookupServer()
    lookup.routes = {
        f"/2/j/r/dQ/{YOUTUBE_ID}.js": (200, json.dumps({"filename_raw": "train0042.tfrecord",
                                                        "index": 1}).encode()),
        "/2/j/i/Zz/Zz00.js": (200, f'i("Zz00","{YOUTUBE_ID}");'.encode()),
        "/2/j/r/ev/evilevilevi.js": (200, b'{"filename_raw": "../../escape.tfrecord", "index": 0}'),
        "/2/j/r/bi/bigindex000.js": (200, b'{"filename_raw": "train0042.tfrecord", "index": 7}'),
        "/2/frame/train/train0042.tfrecord": (200, remote.read_bytes()),
    }
    yield {"dir": tmp_path / "dataset", "lookup": lookup, "resources": make_resources(model_files, None),
           "data": tmp_path / "data"}
    lookup.stop()


@contextmanager
def records_client(dataset: dict[str, Any], **options: Any) -> Iterator[TestClient]:
    url = dataset["lookup"].url
    with serving(dataset["resources"], dataset["data"], dataset_dir=dataset["dir"], lookup_url=f"{url}/2/j",
                 shard_url=f"{url}/2/frame/train", **options) as client:
        yield client


def test_record_from_the_local_shards(dataset) -> None:
    with records_client(dataset) as client:
        body = client.get("/api/records", params={"q": "Ab12", "segment_size": 5}).json()
    assert body["kind"] == "record" and body["video_id"] == "Ab12" and body["source"] == "local"
    assert body["shard"] == "local0000.tfrecord" and body["record_index"] == 0 and body["num_seconds"] == 8
    # dataset rule: stamped at the last second
    assert [w["time_s"] for w in body["windows"]] == [4.0, 5.0, 6.0, 7.0]
    assert all(len(w["labels"]) == 9 for w in body["windows"])
    assert body["ground_truth"] == [{"index": 1, "name": LABELS[1]}, {"index": 2, "name": LABELS[2]}]
    assert body["youtube_id"] is None and body["link"] is None  # the lookup does not know Ab12


def test_record_from_a_youtube_url_downloads_the_shard_once(dataset) -> None:
    lookup = dataset["lookup"]
    queries = [f"https://www.youtube.com/watch?v={YOUTUBE_ID}&t=10s", f"youtu.be/{YOUTUBE_ID}", YOUTUBE_ID,
               f"https://m.youtube.com/shorts/{YOUTUBE_ID}"]
    with records_client(dataset) as client:
        bodies = [client.get("/api/records", params={"q": q, "segment_size": 3}) for q in queries]
    for response in bodies:
        body = response.json()
        assert response.status_code == 200, body
        assert body["video_id"] == "Zz00" and body["record_index"] == 1 and body["source"] == "downloaded"
        assert body["youtube_id"] == YOUTUBE_ID and body["link"] == f"https://www.youtube.com/watch?v={YOUTUBE_ID}"
        assert [n for n in body["ground_truth"]] == [{"index": i, "name": LABELS[i]} for i in (9, 10, 5)]
        assert [w["time_s"] for w in body["windows"]] == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert lookup.requests.count("/2/frame/train/train0042.tfrecord") == 1


def test_youtube_lookup_uses_a_local_copy_of_the_named_shard(dataset, tmp_path) -> None:
    shutil.copy(tmp_path / "train0042.tfrecord", dataset["dir"] / "train0042.tfrecord")
    with records_client(dataset) as client:
        body = client.get("/api/records", params={"q": YOUTUBE_ID}).json()
    assert body["video_id"] == "Zz00" and body["source"] == "local"
    assert dataset["lookup"].requests == [f"/2/j/r/dQ/{YOUTUBE_ID}.js"]  # asked where, downloaded nothing


def test_record_from_a_yt8m_id_through_the_online_lookup(dataset) -> None:
    with records_client(dataset) as client:
        body = client.get("/api/records", params={"q": "Zz00"}).json()
        again = client.get("/api/records", params={"q": "Zz00", "segment_size": 2}).json()
    assert body["video_id"] == "Zz00" and body["youtube_id"] == YOUTUBE_ID and len(body["windows"]) == 3
    assert len(again["windows"]) == 6  # the downloaded shard is now searched locally
    assert dataset["lookup"].requests.count("/2/frame/train/train0042.tfrecord") == 1


@pytest.mark.parametrize("query, status, words", [
    ("nope-nope", 404, "not a record id"), ("Qq00", 404, "not a YouTube-8M id"),
    ("aaaaaaaaaaa", 404, "not in the YouTube-8M training shards"),
    ("evilevilevi", 502, "unexpected shard"), ("bigindex000", 502, "holds 2 records"),
    ("<script>", 422, "neither"), ("a b", 422, "neither"),
    ("https://evil.example/watch?v=dQw4w9WgXcQ", 422, "neither"),
    ("youtube.com/watch?v=short", 422, "no YouTube video id"), ("../../etc/passwd", 422, "neither"),
    ("", 422, "enter"), ("x" * 301, 422, "at most 300"),
])
def test_record_lookups_that_fail(dataset, query, status, words) -> None:
    with records_client(dataset) as client:
        response = client.get("/api/records", params={"q": query})
    assert response.status_code == status, response.text
    assert words in json.dumps(response.json()["detail"]), response.text
    assert not (dataset["dir"].parent / "escape.tfrecord").exists()


def test_offline_records_come_only_from_local_shards(dataset) -> None:
    with records_client(dataset, online=False) as client:
        assert client.get("/api/records", params={"q": "Xy_9", "segment_size": 5}).json()["num_seconds"] == 3
        response = client.get("/api/records", params={"q": YOUTUBE_ID})
    assert response.status_code == 404 and "online lookup is off" in response.json()["detail"]
    assert dataset["lookup"].requests == []


def test_unreachable_lookup_is_a_502(dataset) -> None:
    dataset["lookup"].stop()
    with records_client(dataset, lookup_timeout_s=2) as client:
        response = client.get("/api/records", params={"q": YOUTUBE_ID})
    assert response.status_code == 502 and "cannot reach" in response.json()["detail"]


# --- the app's own loading, and the command line ------------------------------------------------------------


def test_app_loads_its_models_in_the_lifespan_and_serves_without_extraction(model_files,
                                                                            media, tmp_path) -> None:
    model, labels = model_files
    settings = Settings(model=str(model), labels=labels, data_dir=tmp_path / "data", fetch_weights=False)
    with TestClient(create_app(settings), base_url=BASE) as client:  # no weights in this test's cache
        health = client.get("/healthz").json()
        assert health["model"]["spec"] == str(model) and health["labels"]["source"] == str(labels)
        assert health["extraction"]["available"] is False
        assert "video extraction is unavailable" in health["extraction"]["reason"]
        refused = upload(client, media["h264_aac"])
        assert refused.status_code == 503 and "unavailable" in refused.json()["detail"]
        assert client.get("/api/labels/2").json()["name"] == "Sport: Football"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_command_runs_uvicorn_on_loopback(model_files, tmp_path) -> None:
    import signal
    import subprocess
    import sys

    import requests

    model, labels = model_files
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "yt8m", "serve", "--model", str(model), "--labels", str(labels), "--port",
         str(port),
         "--data-dir", str(tmp_path / "data"), "--offline"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "yt8m serve did not answer in 60 s"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["model"]["num_classes"] == len(LABELS)
        assert requests.get(f"http://localhost:{port}/", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"viewer at http://127.0.0.1:{port}/" in stderr and "uploads are refused" in stderr
    assert "Traceback" not in stderr



# --- without a classifier -----------------------------------------------------------------------------------


def _unreachable_mirror() -> str:
    return f"http://127.0.0.1:{_free_port()}"  # nothing listens there: like a machine without network


def test_a_registry_model_that_cannot_be_fetched_leaves_the_server_without_a_classifier(model_files,
                                                                                         tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data", mirror=_unreachable_mirror(), fetch_weights=False)
    resources = Resources.load(settings)  # the default model, 'baseline'
    assert resources.classifier is None and resources.labels is None
    reason = resources.classifier_error
    assert reason is not None and "'baseline' could not be loaded" in reason
    assert "--model DIR" in reason and "yt8m models download baseline-savedmodel" in reason
    with pytest.raises(InputError, match="no such model"):  # a path the user named must load
        Resources.load(Settings(model=str(tmp_path / "nowhere"), data_dir=tmp_path / "data"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a classifier"):
        Resources.load(Settings(model=str(tmp_path / "empty"), data_dir=tmp_path / "data"))


def test_without_a_classifier_uploads_are_extracted_and_records_shown(model_files, extractor, media, dataset,
                                                                        tmp_path) -> None:
    settings = Settings(labels=model_files[1], mirror=_unreachable_mirror(), fetch_weights=False)
    resources = Resources.load(settings)
    resources.extractor, resources.extraction_error = extractor, None
    reason = resources.classifier_error
    dataset["resources"] = resources
    with records_client(dataset, online=False) as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["model"] == {"spec": "baseline", "available": False,
                                                                "reason": reason}
        assert health["extraction"]["available"] is True and health["labels"]["num_classes"] == len(LABELS)
        job = wait_for(client, upload(client, media["h264_aac"], "clip.mp4").json()["id"])
        assert job["status"] == "done" and job["num_seconds"] == 3, job
        assert any("no predictions" in note and "--model DIR" in note for note in job["notes"])
        assert (dataset["data"] / "jobs" / job["id"] / "features.npz").is_file()
        refused = client.get(job["predictions_url"])
        assert refused.status_code == 503 and refused.json() == {"detail": reason}
        record = client.get("/api/records", params={"q": "Ab12", "segment_size": 5})
        assert record.status_code == 200, record.text
        body = record.json()
        assert body["video_id"] == "Ab12" and body["windows"] == [] and body["predicted"] is False
        assert body["ground_truth"] == [{"index": 1, "name": LABELS[1]}, {"index": 2, "name": LABELS[2]}]
        assert any(reason in note for note in body["notes"])
        assert client.get("/api/labels/2").json()["name"] == "Sport: Football"  # from the label file
    resources.labels = None
    with records_client(dataset, online=False) as client:
        assert client.get("/api/labels").status_code == 503


def test_serve_starts_without_network_or_model(tmp_path) -> None:
    import signal
    import subprocess
    import sys

    import requests

    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "yt8m", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data"),
         "--offline", "--mirror", _unreachable_mirror()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "yt8m serve did not answer in 60 s"
                time.sleep(0.2)
        assert health["model"]["available"] is False and "--model DIR" in health["model"]["reason"]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "warning: no classifier: the model 'baseline' could not be loaded" in stderr
    assert "serving without predictions" in stderr and "Traceback" not in stderr


def test_serve_command_is_registered(run_cli) -> None:
    result = run_cli("serve", "--help")
    assert result.exit_code == 0
    for option in ("--host", "--port", "--model", "--dataset", "--labels", "--media-root", "--max-upload-mb",
                   "--max-video-pixels"):
        assert option in result.stdout


def test_serve_reports_bad_options_in_one_line(run_cli, tmp_path, model_files) -> None:
    missing = run_cli("serve", "--dataset", tmp_path / "nowhere", "--model", model_files[0])
    assert (missing.exit_code == 2 and "no such directory" in missing.stderr and "Traceback" not
            in missing.stderr)
    bad_model = run_cli("serve", "--model", tmp_path / "no_model")
    assert (bad_model.exit_code == 2 and "no such model" in bad_model.stderr and "Traceback" not
            in bad_model.stderr)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "classifier.json").write_text("{}")
    broken = run_cli("serve", "--model", tmp_path / "broken")
    assert (broken.exit_code == 2 and "not a yt8m classifier" in broken.stderr and "Traceback" not
            in broken.stderr)


def test_settings_default_to_loopback() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1" and settings.port == 8008 and "localhost" in settings.hosts
    assert Settings(host="0.0.0.0").hosts == ("*",)
    with pytest.raises(InputError):
        Settings(lookup_url="file:///etc/passwd")
