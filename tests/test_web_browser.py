"""The viewer page in a real browser: headless Debian chromium driven by Playwright.

A real server (uvicorn in a thread, 127.0.0.1, a free port) runs the app with the
session's extractor and a small native classifier. The test uploads a generated video
through the page, waits for labels, moves the threshold slider, changes the segment
size, clicks the timeline and checks that the player seeks, then saves a screenshot to
``$YT8M_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the repository).

Skipped when chromium or Playwright is missing, unless ``YT8M_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from yt8m.inference.classifiers import load_classifier
from yt8m.inference.labels import read_label_map

from web_demo_model import make_model_files  # noqa: E402
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DURATION_S = 12


def _chromium() -> str | None:
    for candidate in (os.environ.get("YT8M_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser",
                      shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    """The chromium executable, or a skip (a failure with YT8M_REQUIRE_BROWSER=1) saying what is missing."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Playwright Python package (pip install playwright)")
    path = _chromium()
    if path is None:
        missing.append("chromium (apt-get install chromium, or set YT8M_CHROMIUM)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("YT8M_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + " (YT8M_REQUIRE_BROWSER=1)")
        pytest.skip(reason)
    assert path is not None
    return path


def artifacts_dir() -> Path:
    d = Path(os.environ.get("YT8M_TEST_ARTIFACTS")
             or Path(__file__).resolve().parent.parent / "test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def scene_frame(t_s: float, width: int, height: int) -> np.ndarray:
    """Four scenes of three seconds (gradient, noise, stripes, rings), so the labels change over time."""
    scene = int(t_s // 3) % 4
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if scene == 0:
        img = np.stack([x / width * 255, y / height * 255, np.full_like(x, 80 + 40 * np.sin(t_s))], -1)
    elif scene == 1:
        img = np.random.default_rng(int(t_s * 10)).integers(0, 256, (height, width, 3)).astype(np.float32)
    elif scene == 2:
        stripes = ((y + t_s * 20) // 12 % 2) * 255
        img = np.stack([stripes, stripes * 0.3, 255 - stripes], -1)
    else:
        rings = (np.sin(np.hypot(x - width / 2, y - height / 2) / 6 - t_s * 3) > 0) * 255.0
        img = np.stack([rings * 0.9, rings, rings * 0.2], -1)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_scenes_video(path: Path, *, duration_s: int = DURATION_S, fps: int = 10) -> Path:
    """An H.264/AAC mp4 of the four scenes with a tone that changes pitch with them."""
    width, height, rate = 320, 240, 16000
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "veryfast", "crf": "23", "bf": "0", "threads": "1"}
        audio = container.add_stream("aac", rate=rate, layout="mono")
        for i in range(duration_s * fps):
            frame = av.VideoFrame.from_ndarray(scene_frame(i / fps, width, height), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        size = audio.codec_context.frame_size
        t = np.arange(duration_s * rate) / rate
        samples = (0.3 * np.sin(2 * np.pi * (220 + 110 * (t // 3)) * t)).astype(np.float32)
        for start in range(0, len(samples) - size + 1, size):
            chunk = av.AudioFrame.from_ndarray(samples[None, start:start + size], format="fltp",
                                               layout="mono")
            chunk.sample_rate, chunk.pts, chunk.time_base = rate, start, Fraction(1, rate)
            container.mux(audio.encode(chunk))
        container.mux(audio.encode(None))
    return path


@contextmanager
def serving(resources, tmp_path: Path) -> Iterator[str]:
    """The app with ``resources`` under uvicorn in a thread on 127.0.0.1 (a free port); yields its URL."""
    import uvicorn

    from yt8m.web.app import create_app
    from yt8m.web.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", online=False, max_upload_mb=64)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, resources=resources), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def live_server(chromium, extractor, tmp_path) -> Iterator[str]:
    """The app with the session's extractor and the small classifier; yields its URL."""
    from yt8m.web.resources import Resources

    model_dir, labels = make_model_files(tmp_path)
    resources = Resources(load_classifier(model_dir), read_label_map(labels), extractor, str(model_dir))
    with serving(resources, tmp_path) as url:
        yield url


def wait_until(page, expression: str, *, timeout_s: float = 15.0) -> None:
    """Poll a JavaScript expression until it is true (``page.wait_for_function`` needs eval, which the
    page's content security policy forbids, as it should)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        time.sleep(0.05)


def test_upload_watch_threshold_and_seek_in_a_real_browser(chromium, live_server, tmp_path) -> None:
    from playwright.sync_api import expect, sync_playwright

    video_path = make_scenes_video(tmp_path / "scenes.mp4")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 860})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(live_server + "/")
            expect(page.locator("#server-info")).to_contain_text("ready")

            # Upload through the page; the job runs; labels appear beside the player.
            page.set_input_files("#file-input", str(video_path))
            expect(page.locator("#job-stage")).to_have_text("done", timeout=120_000)
            now = page.locator("#now-labels li")
            expect(now.first).to_be_visible(timeout=30_000)
            expect(page.locator("#title")).to_have_text("scenes.mp4")
            names = page.locator("#overall-labels li .name").all_text_contents()
            assert "Game, Video game" in names  # names with commas and colons survive
            at_default = now.count()
            assert 0 < at_default < 10

            # The threshold slider filters labels client-side.
            slider = page.locator("#threshold")
            slider.focus()
            slider.press("End")
            expect(page.locator("#threshold-value")).to_have_text("0.99")
            expect(now).to_have_count(0)
            expect(page.locator("#now-empty")).to_be_visible()
            slider.press("Home")
            expect(page.locator("#threshold-value")).to_have_text("0.00")
            expect(now).to_have_count(10)
            for _ in range(20):
                slider.press("ArrowRight")
            expect(page.locator("#threshold-value")).to_have_text("0.20")
            expect(now).to_have_count(at_default)
            lanes = page.locator("#lane-names .lane-name").count()
            assert 0 < lanes <= 8

            # The player is ready to seek (Range requests) and the timeline seeks it.
            wait_until(page, "document.getElementById('video').readyState >= 1", timeout_s=30)
            duration = page.evaluate("document.getElementById('video').duration")
            assert abs(duration - DURATION_S) < 0.2
            box = page.locator("#lanes").bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
            expected = 0.7 * max(duration, DURATION_S)  # 8.4 s: inside a second, away from window edges
            wait_until(page, f"(() => {{ const v = document.getElementById('video'); "
                             f"return !v.seeking && Math.abs(v.currentTime - {expected}) < 0.3; }})()")
            # the latest window started by 8.4 s
            expect(page.locator("#now-range")).to_have_text("0:07 – 0:12")

            # A new segment size is recomputed on the server from the cached features.
            size = page.locator("#segment-size")
            size.fill("3")
            size.press("Tab")
            expect(page.locator("#now-range")).to_have_text("0:08 – 0:11")
            page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
            wait_until(page, "Math.abs(document.getElementById('video').currentTime - 3.6) < 0.3")
            expect(page.locator("#now-range")).to_have_text("0:03 – 0:06")
            expect(page.locator("#error")).to_be_hidden()

            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 10)
            page.screenshot(path=str(artifacts_dir() / "web-viewer.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors


def test_page_says_what_is_missing_without_a_classifier(chromium, extractor, tmp_path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from yt8m.web.resources import Resources

    reason = ("no classifier: the model 'baseline' could not be loaded (cannot connect); predictions need "
              "one: start the server with --model DIR, or run `yt8m models download baseline-savedmodel`")
    resources = Resources(None, None, extractor, "baseline", classifier_error=reason)
    video_path = make_scenes_video(tmp_path / "short.mp4", duration_s=3)
    errors: list[str] = []
    with serving(resources, tmp_path) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 860})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(url + "/")
            expect(page.locator("#server-info")).to_contain_text("no predictions")
            missing = page.locator("#model-missing")
            expect(missing).to_be_visible()
            expect(missing).to_contain_text("No classifier")
            expect(missing).to_contain_text("--model DIR")
            expect(missing).to_contain_text("yt8m models download baseline-savedmodel")

            # Uploads are still extracted; the job ends with features and a note, without predictions.
            page.set_input_files("#file-input", str(video_path))
            expect(page.locator("#job-stage")).to_have_text("done", timeout=120_000)
            expect(page.locator("#now-empty")).to_have_text("No predictions: this server has no classifier.")
            expect(page.locator("#notes")).to_contain_text("no predictions")
            expect(page.locator("#error")).to_be_hidden()
            expect(missing).to_be_visible()
            page.screenshot(path=str(artifacts_dir() / "web-viewer-no-classifier.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
