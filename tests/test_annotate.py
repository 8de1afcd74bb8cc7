"""Annotated videos (yt8m.render): streams kept, pixels drawn exactly where overlays are.

The pixel tests encode losslessly (``crf=0``): an output with no labels then decodes to
exactly the input, and an output with labels must equal that render with the overlays
of :class:`FrameAnnotator` composited on it (computed here in floating point, BT.601).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

import media_factory as mf
from yt8m.cli import main
from yt8m.errors import InputError
from yt8m.render import annotate as annotate_module
from yt8m.render.annotate import AnnotateReport, annotate_video
from yt8m.render.layout import FrameAnnotator
from yt8m.render.overlay import (
    RANK_COLORS,
    LabelPainter,
    Overlay,
    Timeline,
    drawable_text,
    label_color,
    load_font,
)
from yt8m.render.label_windows import ShownLabel, WindowClock, load_predictions, windows_from_predictions
from yt8m.render.yuv import BT601, PlanarOverlay

FPS = 30

# Windows of the 3 s test clip: the second starts exactly on frame 27 (0.9 s); frames
# before 0.2 s show no labels.
STARTS = (0.2, 0.9, 2.0)
NAMES = (("Pokémon", "Concert, Live: Tōkyō", "Car"), ("Guitar", "Piano", None), ("Dog", "Cat", "Bird"))


def _predictions(starts: tuple[float, ...] = STARTS) -> dict:
    windows = []
    for i, start in enumerate(starts):
        scores = (0.9 - 0.1 * i, 0.45, 0.2, 0.05)
        names = (*NAMES[i % len(NAMES)], "Fourth")
        labels = [{"index": 10 * i + j, "name": names[j], "score": scores[j]} for j in range(4)]
        # labels unsorted on purpose
        windows.append({"start_s": start, "end_s": start + 5.0, "labels": labels[::-1]})
    return {"input": "features.pb", "num_seconds": 3, "segment_size": 5, "overlap": 4, "windows": windows,
            "video": {"start_s": 0.0, "end_s": 3.0, "labels": []}, "notes": []}


def _frames(path: Path) -> list[tuple[float, np.ndarray]]:
    """(time in seconds, luma plane) of every frame."""
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            y = np.frombuffer(frame.planes[0], np.uint8).reshape(frame.height, -1)[:, :frame.width].copy()
            out.append((float(frame.pts * frame.time_base), y))
        return out


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range luma of RGB, in floating point (independent of yt8m.render.yuv)."""
    rgb = rgb.astype(np.float64) / 255.0
    return 16.0 + 219.0 * (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])


def _composite_luma(base: np.ndarray, overlays: list[Overlay]) -> tuple[np.ndarray, np.ndarray]:
    """The expected luma of ``base`` with ``overlays`` drawn, and the mask of drawn pixels."""
    h, w = base.shape
    out = base.astype(np.float64)
    mask = np.zeros((h, w), bool)
    for overlay in overlays:
        part = overlay.clipped(w, h)
        if part is None:
            continue
        a = part.alpha / 255.0
        region = out[part.y:part.y + part.height, part.x:part.x + part.width]
        region[...] = region * (1.0 - a) + _luma(part.rgb) * a
        mask |= overlay.frame_mask(w, h)
    return out, mask


def _stream_summary(path: Path) -> dict:
    """Frame times, size, rate, formats, container duration and decoded audio of ``path``."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        times = [float(f.pts * f.time_base) for f in c.decode(v)]
    with av.open(str(path)) as c:
        audio = None
        if c.streams.audio:
            ctx = c.streams.audio[0].codec_context
            samples = sum(f.samples for f in c.decode(c.streams.audio[0]))
            audio = {"codec": ctx.name, "rate": ctx.sample_rate, "channels": ctx.layout.nb_channels,
                     "seconds": samples / ctx.sample_rate}
        v = c.streams.video[0].codec_context
        return {"frames": len(times), "times": times, "width": v.width, "height": v.height,
                "rate": c.streams.video[0].average_rate, "pix_fmt": v.pix_fmt, "codec": v.name,
                "duration": c.duration / av.time_base, "audio": audio, "format": c.format.name}


@pytest.fixture(scope="module")
def lossless(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The 3 s clip rendered losslessly without any drawing, and with labels and timeline."""
    d = tmp_path_factory.mktemp("annotate")
    plain = d / "plain.mp4"
    annotate_video(media["h264_aac"], {"windows": []}, plain, timeline=False, crf=0, progress=False)
    labelled = d / "labelled.mp4"
    annotate_video(media["h264_aac"], _predictions(), labelled, crf=0, progress=False)
    return {"plain": plain, "labelled": labelled}


# --- the output as a whole -------------------------------------------------------------


def test_output_keeps_frames_rate_size_duration_and_copies_audio(media, tmp_path):
    out = tmp_path / "annotated.mp4"
    report = annotate_video(media["h264_aac"], _predictions(), out, progress=False)
    src, dst = _stream_summary(media["h264_aac"]), _stream_summary(out)
    assert isinstance(report, AnnotateReport) and report.output == out
    assert report.frames == src["frames"] == 90
    assert dst["frames"] == src["frames"] and dst["times"] == src["times"]
    assert dst["rate"] == src["rate"] == FPS
    assert (dst["width"], dst["height"]) == (src["width"], src["height"]) == (160, 120)
    assert abs(dst["duration"] - src["duration"]) <= 1 / FPS
    assert dst["codec"] == "h264" and dst["pix_fmt"] == "yuv420p" and dst["format"].startswith("mov,mp4")
    # same packets: same codec, samples, duration
    assert report.audio == "copied" and dst["audio"] == src["audio"]
    with av.open(str(media["h264_aac"])) as a, av.open(str(out)) as b:
        pa = [bytes(p) for p in a.demux(a.streams.audio[0]) if p.size]
        pb = [bytes(p) for p in b.demux(b.streams.audio[0]) if p.size]
    assert pa == pb
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # +faststart


def test_opus_audio_is_reencoded_to_aac(media, tmp_path):
    out = tmp_path / "from_webm.mp4"
    report = annotate_video(media["vp9_opus"], _predictions(), out, progress=False)
    src, dst = _stream_summary(media["vp9_opus"]), _stream_summary(out)
    assert report.audio == "reencoded" and report.audio_codec == "aac"
    assert dst["audio"]["codec"] == "aac" and dst["audio"]["rate"] == 48000 and dst["audio"]["channels"] == 2
    assert abs(dst["audio"]["seconds"] - src["audio"]["seconds"]) < 1024 / 48000 + 1e-6
    assert dst["times"] == pytest.approx(src["times"], abs=1e-3) and dst["frames"] == 60
    assert abs(dst["duration"] - 2.0) <= 1 / FPS + 0.01
    assert any("re-encoded to AAC" in note for note in report.notes)


@pytest.mark.parametrize("name, odd_size, size, pix_fmt", [
    ("rotated", "exact", (120, 160), "yuv420p"),
    ("odd_size", "exact", (161, 97), "yuv444p"),
    ("odd_size", "pad", (162, 98), "yuv420p"),
    ("vfr", "exact", (160, 120), "yuv420p"),
    ("no_audio", "exact", (160, 120), "yuv420p"),
])
def test_awkward_inputs_give_valid_outputs(media, tmp_path, name, odd_size, size, pix_fmt):
    import cv2

    out = tmp_path / f"{name}.mp4"
    report = annotate_video(media[name], _predictions(), out, odd_size=odd_size, progress=False)
    src, dst = _stream_summary(media[name]), _stream_summary(out)
    assert (report.width, report.height) == size == (dst["width"], dst["height"])
    assert dst["pix_fmt"] == report.pixel_format == pix_fmt
    assert dst["frames"] == src["frames"] == report.frames and dst["times"] == src["times"]
    assert abs(dst["duration"] - src["duration"]) <= 1 / FPS
    assert dst["audio"] is None and report.audio == "none"
    cap = cv2.VideoCapture(str(out))
    try:
        shapes = []
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            shapes.append(bgr.shape[:2])
    finally:
        cap.release()
    assert len(shapes) == src["frames"] and set(shapes) == {(size[1], size[0])}


@pytest.mark.parametrize("kind", ["mpegts_adts_aac", "video_starts_late"])
def test_timestamps_and_audio_survive_other_containers(tmp_path, kind):
    """ADTS AAC from MPEG-TS is copied (made MP4-ready by FFmpeg); a late first frame stays late."""
    if kind == "mpegts_adts_aac":
        src = mf.make_video(tmp_path / "in.ts", duration_s=2.0)
    else:
        src = mf.make_video(tmp_path / "in.mp4", duration_s=2.0, start_s=0.5)
    out = tmp_path / "out.mp4"
    report = annotate_video(src, _predictions(), out, progress=False)
    before, after = _stream_summary(src), _stream_summary(out)
    assert report.audio == "copied" and after["audio"] == before["audio"]
    assert after["times"] == pytest.approx(before["times"], abs=1e-9) and after["frames"] == 60
    if kind == "video_starts_late":
        assert after["times"][0] == 0.5


@pytest.mark.parametrize("codec, pix_fmt, suffix", [("png", "rgb24", ".mov"), ("mjpeg", "yuvj420p", ".avi")])
def test_rgb_and_full_range_inputs_keep_their_colours(tmp_path, codec, pix_fmt, suffix):
    src = mf.make_video(tmp_path / f"in{suffix}", duration_s=0.5, codec=codec, pix_fmt=pix_fmt, audio=None)
    out = tmp_path / "out.mp4"
    annotate_video(src, {"windows": []}, out, timeline=False, progress=False)
    with av.open(str(src)) as a, av.open(str(out)) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0), strict=True))
    assert len(pairs) == 15
    for before, after in pairs:
        a, b = (f.to_ndarray(format="rgb24").astype(int) for f in (before, after))
        assert np.abs(a - b).mean() < 3


def test_rotation_is_applied_to_the_pixels(media, tmp_path):
    """The output is the upright picture (as the extractor decodes it), without rotation metadata."""
    from yt8m.media.video import decode_video

    out = tmp_path / "upright.mp4"
    report = annotate_video(media["rotated"], {"windows": []}, out, timeline=False, crf=0, progress=False)
    assert report.rotation_deg == 90 and any("clockwise" in n for n in report.notes)
    upright = [f.to_rgb() for f in decode_video(media["rotated"])]
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
        assert all(f.rotation == 0 for f in frames)
        got = [f.to_ndarray(format="rgb24") for f in frames]
    assert len(got) == len(upright) == 30
    for i, (a, b) in enumerate(zip(got, upright, strict=True)):
        assert a.shape == b.shape == (160, 120, 3)
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 3  # same picture, colour conversions aside
        assert mf.read_frame_index(np.rot90(a, 1)) == i  # the index bits run down the right edge


# --- pixels --------------------------------------------------------------------------


def test_plain_lossless_render_is_the_input(media, lossless):
    plain, source = _frames(lossless["plain"]), _frames(media["h264_aac"])
    assert len(plain) == len(source) == 90
    assert all(a == b and (y == z).all() for (a, y), (b, z) in zip(plain, source, strict=True))


def test_pixels_change_exactly_where_overlays_draw(lossless):
    windows = windows_from_predictions(_predictions())
    annotator = FrameAnnotator(windows, frame_width=160, frame_height=120, duration_s=3.0)
    plain, labelled = _frames(lossless["plain"]), _frames(lossless["labelled"])
    drawn_total = changed_total = 0
    for (t, base), (t2, got) in zip(plain, labelled, strict=True):
        assert t == t2
        expected, mask = _composite_luma(base, annotator.overlays_at(t))
        changed = got != base
        assert not (changed & ~mask).any(), f"pixels changed outside the overlays at {t:.3f} s"
        assert np.abs(got - expected).max() <= 2, f"frame at {t:.3f} s differs from the composite"
        visible = mask & (np.abs(expected - base) >= 3)
        assert changed[visible].all()
        drawn_total += int(mask.sum())
        changed_total += int(changed.sum())
    assert changed_total > 0.5 * drawn_total


def test_labels_change_at_window_boundaries(lossless):
    """Each frame shows the latest window started at or before its time (none before the first)."""
    windows = windows_from_predictions(_predictions())
    annotator = FrameAnnotator(windows, frame_width=160, frame_height=120, duration_s=3.0)
    painter = LabelPainter(160, 120)
    candidates = [None] + [painter.render(annotator.labels[i]) for i in range(len(windows))]
    shown = []
    for (t, base), (_, got) in zip(_frames(lossless["plain"]), _frames(lossless["labelled"]), strict=True):
        timeline = [annotator.timeline.bar, annotator.timeline.marker(t)]
        errors = [np.abs(_composite_luma(base, ([c] if c else []) + timeline)[0] - got).max()
                  for c in candidates]
        best = int(np.argmin(errors))
        assert errors[best] <= 2
        shown.append(best - 1 if best else None)
    expected = [None] * 6 + [0] * 21 + [1] * 33 + [2] * 30  # frames at k/30 s; starts 0.2, 0.9, 2.0
    assert shown == expected


def test_top_k_and_threshold_choose_the_lines(media, lossless, tmp_path):
    out = tmp_path / "top1.mp4"
    annotate_video(media["h264_aac"], _predictions(), out, top_k=2, threshold=0.4, timeline=False, crf=0,
                   progress=False)
    painter = LabelPainter(160, 120)
    for (t, base), (_, got) in zip(_frames(lossless["plain"]), _frames(out), strict=True):
        window = WindowClock(windows_from_predictions(_predictions())).index_at(t)
        if window is None:
            assert (got == base).all()
            continue
        # window 0 and 1 have one label >= 0.4 besides the top one (0.45); the 0.2 and 0.05 are dropped
        scores = [0.9 - 0.1 * window, 0.45]
        names = NAMES[window]
        labels = [ShownLabel(10 * window + j, names[j], s) for j, s in enumerate(scores)]
        expected, mask = _composite_luma(base, [painter.render(labels)])
        assert np.abs(got - expected).max() <= 1
        assert not ((got != base) & ~mask).any()


def test_planar_overlay_blends_like_the_rgb_composite():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (9, 13), dtype=np.uint8)
    alpha[0] = 0
    overlay = Overlay(3, 5, rgb, alpha)
    y = np.full((20, 24), 100, np.uint8)
    u = np.full((10, 12), 90, np.uint8)
    v = np.full((10, 12), 160, np.uint8)
    PlanarOverlay(overlay, BT601, (1, 1)).blend([y, u, v])
    expected, mask = _composite_luma(np.full((20, 24), 100, np.uint8), [overlay])
    assert np.abs(y - expected).max() <= 1
    assert ((y != 100) <= mask).all()
    # a chroma sample gets the mean of the per-pixel blends it covers (uniform background)
    _, cb, _ = BT601.from_rgb(rgb)
    full_u = np.full((20, 24), 90.0)
    a = alpha / 255.0
    full_u[5:14, 3:16] = full_u[5:14, 3:16] * (1 - a) + cb * a
    assert np.abs(u - full_u.reshape(10, 2, 12, 2).mean(axis=(1, 3))).max() <= 1


def test_moved_planar_overlay_equals_one_prepared_there():
    overlay = Overlay(4, 2, np.full((3, 2, 3), 200, np.uint8), np.full((3, 2), 255, np.uint8))
    moved_overlay = Overlay(10, 2, overlay.rgb, overlay.alpha)
    planes_a = [np.zeros((8, 16), np.uint8), np.zeros((4, 8), np.uint8), np.zeros((4, 8), np.uint8)]
    planes_b = [p.copy() for p in planes_a]
    PlanarOverlay(overlay, BT601, (1, 1)).moved(6).blend(planes_a)
    PlanarOverlay(moved_overlay, BT601, (1, 1)).blend(planes_b)
    assert all((a == b).all() for a, b in zip(planes_a, planes_b, strict=True)) and planes_a[0].any()
    with pytest.raises(ValueError, match="multiple of 2"):
        PlanarOverlay(overlay, BT601, (1, 1)).moved(3)


# --- text ----------------------------------------------------------------------------


def test_text_is_outlined_in_rank_colours_and_scales_with_the_frame():
    labels = [ShownLabel(1, "Alpha", 0.9), ShownLabel(2, "Beta", 0.5), ShownLabel(3, "Gamma", 0.25)]
    small, large = LabelPainter(320, 180), LabelPainter(1280, 720)
    a, b = small.render(labels), large.render(labels)
    assert large.size_px == 30 and small.size_px == 9 and b.height > 2.5 * a.height
    opaque = b.alpha == 255
    colours = {tuple(c) for c in b.rgb[opaque]}
    assert {(0, 0, 0), *RANK_COLORS} <= colours  # outline and the three rank colours
    band = large.line_step_px
    for rank, colour in enumerate(RANK_COLORS):
        rows = b.rgb[rank * band:(rank + 1) * band]
        assert (rows == colour).all(axis=-1).sum() > 50


def test_non_ascii_labels_render():
    font = load_font(20)
    assert drawable_text("Pokémon", font) == "Pokémon"
    assert drawable_text("Tōkyō – Šibenik ×2", font) == "Tōkyō – Šibenik ×2"
    assert drawable_text("日本 Ǆ", font) == "?? Ǆ"  # not in the font: replaced, never a box
    assert drawable_text("ｆｕｌｌ\twidth\nname", font) == "full width name"
    painter = LabelPainter(640, 360)
    accented = painter.render([ShownLabel(0, "Pokémon", 0.5)])
    plain = painter.render([ShownLabel(0, "Pokemon", 0.5)])
    assert accented.mask.sum() > plain.mask.sum()  # the accent is drawn


def test_label_without_name_shows_its_index():
    assert ShownLabel(42, None, 0.123).text == "42: 0.12"
    assert ShownLabel(1, "Arts, Entertainment: Music", 0.5).text == "Arts, Entertainment: Music: 0.50"


def test_timeline_shows_each_windows_top_label_colour():
    windows = windows_from_predictions(_predictions())
    annotator = FrameAnnotator(windows, frame_width=300, frame_height=120, duration_s=3.0)
    bar = annotator.timeline.bar
    assert bar.y + bar.height == 120 and bar.width == 300 and bar.height == 3
    for start, stop, window in ((0.2, 0.9, 0), (0.9, 2.0, 1), (2.0, 3.0, 2)):
        x = int((start + stop) / 2 / 3.0 * 300)
        assert tuple(bar.rgb[1, x]) == label_color(10 * window) and bar.alpha[1, x] == 255
    assert bar.alpha[1, 5] == 128  # before the first window: the translucent track only
    marker = annotator.timeline.marker(1.5)
    assert marker.x == 150 and (marker.rgb == 255).all()
    assert Timeline([], duration_s=1.0, frame_width=10, frame_height=4).height_px == 3


# --- predictions ---------------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    ([], "expected a JSON object"),
    ({"notes": []}, "'windows' must be a list"),
    ({"windows": [3]}, "windows[0]: expected an object"),
    ({"windows": [{"start_s": "0", "end_s": 5, "labels": []}]}, "windows[0]: 'start_s' must be a number"),
    ({"windows": [{"start_s": 5, "end_s": 1, "labels": []}]}, "end_s (1) is before start_s (5)"),
    ({"windows": [{"start_s": 0, "end_s": 5}]}, "'labels' must be a list"),
    ({"windows": [{"start_s": 0, "end_s": 5, "labels": [{"index": -1, "score": 1}]}]}, "labels[0]: 'index'"),
    ({"windows": [{"start_s": 0, "end_s": 5, "labels": [{"index": 1, "name": 3, "score": 1}]}]}, "'name'"),
    ({"windows": [{"start_s": 0, "end_s": 5, "labels": [{"index": 1, "score": None}]}]}, "'score' must be"),
])
def test_malformed_predictions_are_input_errors(bad, message):
    with pytest.raises(InputError) as info:
        windows_from_predictions(bad, where="p.json")
    text = str(info.value)
    assert text.startswith("p.json: ") and message in text and "\n" not in text


def test_windows_are_sorted_and_labels_ranked():
    windows = windows_from_predictions(_predictions((2.0, 0.0, 1.0)))
    assert [w.start_s for w in windows] == [0.0, 1.0, 2.0]
    for w in windows:
        assert [lb.score for lb in w.labels] == sorted((lb.score for lb in w.labels), reverse=True)
    clock = WindowClock(windows)
    assert [clock.index_at(t) for t in (-0.1, 0.0, 0.999, 1.0, 5.0, 100.0)] == [None, 0, 0, 1, 2, 2]


def test_load_predictions_reads_utf8_json(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(_predictions(), ensure_ascii=False), encoding="utf-8")
    assert load_predictions(path)["windows"][0]["labels"][3]["name"] == "Pokémon"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(InputError, match="not UTF-8"):
        load_predictions(path)


# --- errors, atomic output, CLI --------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"top_k": 0}, "top_k"), ({"threshold": 1.5}, "threshold"), ({"odd_size": "crop"}, "odd_size"),
    ({"crf": 52}, "crf"), ({"preset": "quick"}, "preset"),
])
def test_bad_options_are_input_errors(media, tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        annotate_video(media["h264_aac"], _predictions(), tmp_path / "x.mp4", progress=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("broken", ["truncated", "random", "empty", "text", "audio_only"])
def test_broken_videos_leave_nothing_behind(media, tmp_path, broken):
    out = tmp_path / "out.mp4"
    with pytest.raises(InputError) as info:
        annotate_video(media[broken], _predictions(), out, progress=False)
    assert str(media[broken]) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_keeps_the_previous_output(media, tmp_path, monkeypatch):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous")
    calls = {"n": 0}
    original = annotate_module._VideoWriter.write

    def failing(self, frame):
        calls["n"] += 1
        if calls["n"] == 40:
            raise InputError("simulated failure")
        return original(self, frame)

    monkeypatch.setattr(annotate_module._VideoWriter, "write", failing)
    with pytest.raises(InputError, match="simulated"):
        annotate_video(media["h264_aac"], _predictions(), out, progress=False)
    assert out.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_refuses_to_overwrite_its_input(media, tmp_path):
    copy = tmp_path / "in.mp4"
    copy.write_bytes(media["no_audio"].read_bytes())
    with pytest.raises(InputError, match="is the input video"):
        annotate_video(copy, _predictions(), copy, progress=False)


def test_no_progress_bar_when_stderr_is_not_a_terminal(media, tmp_path, capsys):
    annotate_video(media["half_second"], _predictions(), tmp_path / "q.mp4")
    assert capsys.readouterr().err == ""


def test_cli_annotate(media, tmp_path, run_cli):
    preds = tmp_path / "predictions.json"
    preds.write_text(json.dumps(_predictions(), ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "annotated.mp4"
    result = run_cli("annotate", media["h264_aac"], preds, "-o", out, "--top-k", "2", "--threshold", "0.1",
                     "--no-timeline")
    assert result.exit_code == 0, result.stderr
    assert "90 frames annotated (160x120, audio copied)" in result.stderr and str(out) in result.stderr
    assert _stream_summary(out)["frames"] == 90


@pytest.mark.parametrize("case", ["missing_video", "broken_video", "missing_json", "bad_json", "bad_windows"])
def test_cli_bad_inputs_exit_2_with_one_line(media, tmp_path, capsys, case):
    good = tmp_path / "p.json"
    good.write_text(json.dumps(_predictions()))
    video, preds = media["h264_aac"], good
    if case == "missing_video":
        video = tmp_path / "nope.mp4"
    elif case == "broken_video":
        video = media["random"]
    elif case == "missing_json":
        preds = tmp_path / "nope.json"
    elif case == "bad_json":
        preds = tmp_path / "bad.json"
        preds.write_text('{"windows": [')
    else:
        preds = tmp_path / "bad.json"
        preds.write_text('{"windows": [{"start_s": 0, "end_s": 1, "labels": [{"index": 1}]}]}')
    out = tmp_path / "out.mp4"
    assert main(["annotate", str(video), str(preds), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("yt8m: error: ")
    assert not out.exists()


def test_a_video_that_ends_before_its_predictions_says_how_much_was_drawn(media, tmp_path):
    # Predictions of a longer video (windows starting at 4 s and 6 s) over the 3 s clip.
    report = annotate_video(media["h264_aac"], _predictions(STARTS + (4.0, 6.0)), tmp_path / "a.mp4",
                            progress=False)
    (note,) = [n for n in report.notes if "ends at" in n]
    assert "before the predictions do (11 s)" in note and "labels drawn for 3 of 5 windows" in note
    plain = annotate_video(media["h264_aac"], _predictions(), tmp_path / "b.mp4", progress=False)
    assert not [n for n in plain.notes if "ends at" in n]
