"""Decoding less for the 1 Hz frames: the rule (``yt8m.media.skipping``) and its use in decoding.

The rule is checked against the sampler itself on random frame times; decoding with
skipping is checked against decoding every frame on x264 videos with B-frames (byte-equal
pictures, equal times and indices), and shown to leave frames undecoded.
"""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import av
import pytest

import media_factory as mf
from yt8m.media import video
from yt8m.media.sampling import one_hz_sampler
from yt8m.media.skipping import can_skip, plan_skips
from yt8m.media.video import decode_video, sample_frames_1hz

S = 1_000_000


# ---------------------------------------------------------------------------------------
# The rule on frame times


def test_can_skip_needs_a_known_frame_on_each_side_within_the_second() -> None:
    known = [0, 400_000, 500_000, 600_000, 1_000_000, 1_300_000]
    window = {"start_us": 0, "end_us": None}
    assert can_skip(500_000, known, **window)          # 0.4 < 0.5 < 0.6: no whole second between
    assert not can_skip(0, known, **window)            # the first frame
    assert not can_skip(1_300_000, known, **window)    # the last frame
    assert not can_skip(600_000, known, **window)      # last frame before 1 s
    assert not can_skip(1_000_000, known, **window)    # first frame at/after 1 s
    assert not can_skip(400_000, [0, 400_000], **window)  # nothing known after it
    assert can_skip(400_000, known, start_us=2 * S, end_us=None)  # only seconds before the window
    assert can_skip(1_000_000, known, start_us=0, end_us=S)       # 1 s is past the end
    assert not can_skip(600_000, known, start_us=0, end_us=S + 1)
    assert can_skip(-500_000, [-900_000, -500_000, -100_000], **window)  # negative times
    assert not can_skip(-100_000, [-900_000, -500_000, -100_000, 100_000], **window)


def _outputs(times_us: list[int], start_us: int, end_us: int | None) -> list[tuple[int, int]]:
    sampler = one_hz_sampler(start_us=start_us, end_us=end_us)
    out = []
    for t in times_us:
        out += sampler.push(t, t)
    return out + sampler.flush()


def _decode_order(times_us: list[int], rng: random.Random, depth: int) -> list[int]:
    """Shuffle within blocks of ``depth``, as B-frames reorder pictures (a keyframe first)."""
    order = times_us[:1]
    for i in range(1, len(times_us), depth):
        block = times_us[i:i + depth]
        rng.shuffle(block)
        order += block
    return order


def test_sampler_gives_the_same_outputs_without_the_skippable_frames() -> None:
    # Random frame rates, jitter, holes, negative starts, windows and reorder depths:
    # the frames kept by plan_skips give the sampler exactly the outputs of all frames.
    rng = random.Random(17)
    skipped_total = 0
    for _ in range(300):
        t = rng.randrange(-2 * S, 2 * S)
        times = []
        for _ in range(rng.randrange(1, 120)):
            times.append(t)
            t += rng.choice([rng.randrange(1, 60_000), rng.randrange(1, 2_500_000), 33_333, 40_000])
        start_us = rng.choice([0, rng.randrange(-2 * S, 4 * S)])
        end_us = rng.choice([None, start_us + rng.randrange(1, 6 * S)])
        order = _decode_order(times, rng, rng.choice([1, 2, 4, 8]))
        plan = plan_skips(order, lambda x: x, start_us=start_us, end_us=end_us,
                          lookahead=rng.choice([1, 4, 32]), history=rng.choice([1, 64]))
        kept = sorted(t for t, skip in plan if not skip)
        skipped_total += len(times) - len(kept)
        assert _outputs(kept, start_us, end_us) == _outputs(times, start_us, end_us)
    assert skipped_total > 3000  # the rule is not vacuous


def test_plan_skips_keeps_packets_without_time_and_reads_a_bounded_distance_ahead() -> None:
    pulled = []

    def packets():
        for i in range(1000):
            pulled.append(i)
            yield i

    plan = plan_skips(packets(), lambda i: None if i % 7 == 0 else i * 33_333, start_us=0, end_us=None,
                      lookahead=8)
    first = next(plan)
    assert first == (0, False) and len(pulled) == 9
    rest = list(plan)
    assert [p for p, _ in rest] == list(range(1, 1000))
    assert not any(skip for p, skip in rest if p % 7 == 0)
    assert sum(skip for _, skip in rest) > 750
    with pytest.raises(ValueError, match="positive"):
        next(plan_skips([], lambda i: i, start_us=0, end_us=None, lookahead=0))


# ---------------------------------------------------------------------------------------
# Decoding with skipping gives the frames of a full decode


def make_x264(path: Path, frame_times_s: list[float], *, fps: int, params: str = "",
              width: int = 128, height: int = 64) -> Path:
    """x264 with its default B-frames (3, b-pyramid normal); frame i shows index i."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 90000)
        stream.options = {"threads": "1", "preset": "veryfast", "crf": "23", "bf": "3",
                          "b-pyramid": "normal", **({"x264-params": params} if params else {})}
        for i, t in enumerate(frame_times_s):
            frame = av.VideoFrame.from_ndarray(mf.frame_image(i, width, height), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = round(t * 90000), Fraction(1, 90000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _vfr_times() -> list[float]:
    rng = random.Random(3)
    times, t = [], 0.0
    while t < 6.0:
        times.append(round(t, 4))
        t += 2.4 if 2.0 < t < 2.05 else rng.choice([0.011, 0.02, 0.033, 0.05, 0.09, 0.3])
    return times


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("skip")
    return {
        "25fps": make_x264(d / "25.mp4", [i / 25 for i in range(100)], fps=25),
        "30fps": make_x264(d / "30.mp4", [i / 30 for i in range(150)], fps=30),
        "60fps": make_x264(d / "60.mp4", [i / 60 for i in range(240)], fps=60),
        "open_gop": make_x264(d / "open_gop.mp4", [i / 30 for i in range(180)], fps=30,
                              params="open-gop=1:keyint=20:min-keyint=20:scenecut=0"),
        "vfr": make_x264(d / "vfr.mp4", _vfr_times(), fps=30),  # with a hole from ~2.0 s to ~4.4 s
        "late_start": mf.make_video(d / "late.mp4", duration_s=3.0, start_s=0.7, audio=None),
        "late_start_b": make_x264(d / "late_b.mp4", [0.7 + i / 30 for i in range(90)], fps=30),
    }


def assert_same_1hz(path: Path, *args, **kwargs) -> list[video.SampledFrame]:
    full = list(sample_frames_1hz(path, *args, skip_unused=False, **kwargs))
    skipped = list(sample_frames_1hz(path, *args, skip_unused=True, **kwargs))
    assert ([(f.period_time_us, f.source_pts_us, f.source_index) for f in skipped]
            == [(f.period_time_us, f.source_pts_us, f.source_index) for f in full])
    for a, b in zip(full, skipped, strict=True):
        assert a.rgb.shape == b.rgb.shape and a.rgb.tobytes() == b.rgb.tobytes()
    assert full
    return full


@pytest.mark.parametrize("name", ["25fps", "30fps", "60fps", "open_gop", "vfr", "late_start", "late_start_b"])
def test_skipping_gives_the_1hz_frames_of_a_full_decode(videos: dict[str, Path], name: str) -> None:
    full = assert_same_1hz(videos[name])
    assert [mf.read_frame_index(f.rgb) for f in full] == [f.source_index for f in full]
    if name.startswith("late_start"):
        assert_same_1hz(videos[name], time_origin="stream_start")


@pytest.mark.parametrize(("name", "start_us", "end_us", "seek"), [
    ("30fps", 2 * S, 4 * S, True), ("30fps", 1_500_000, None, True), ("30fps", 1_500_000, 3_500_000, False),
    ("60fps", 2_300_000, None, True), ("open_gop", 3 * S, 5 * S, True), ("open_gop", 2_500_000, None, True),
    ("vfr", 3 * S, None, True), ("vfr", 1 * S, 5 * S, False), ("late_start_b", 2 * S, None, True),
])
def test_skipping_in_a_clip_window(videos: dict[str, Path], name: str, start_us: int, end_us: int | None,
                                   seek: bool) -> None:
    assert_same_1hz(videos[name], start_us, end_us, seek=seek)


def test_skipping_with_many_frame_threads(videos: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # libavcodec copies skip_frame into a frame thread when each packet is submitted;
    # with 8 threads many packets are in flight when it changes.
    original = video._video_stream

    def threaded(container, p):
        stream = original(container, p)
        stream.codec_context.thread_count = 8
        return stream

    reference = {name: assert_same_1hz(videos[name]) for name in ("30fps", "open_gop")}
    monkeypatch.setattr(video, "_video_stream", threaded)
    for name, full in reference.items():
        threaded_frames = list(sample_frames_1hz(videos[name]))
        assert [f.rgb.tobytes() for f in threaded_frames] == [f.rgb.tobytes() for f in full]
        assert all(f.source_index == g.source_index for f, g in zip(threaded_frames, full, strict=True))
        assert sum(1 for _ in decode_video(videos[name], only_1hz_candidates=(0, None))) < 0.8 * sum(
            1 for _ in decode_video(videos[name]))


@pytest.mark.parametrize("name", ["30fps", "60fps", "open_gop"])
def test_frames_really_are_left_undecoded(videos: dict[str, Path], name: str) -> None:
    # x264's non-reference B-frames that no second needs are never decoded: fewer frames
    # come out of the decoder; those that do keep their full-decode index and picture.
    full = list(decode_video(videos[name]))
    fewer = list(decode_video(videos[name], only_1hz_candidates=(0, None)))
    assert len(fewer) < 0.8 * len(full)
    by_index = {f.index: f for f in full}
    for frame in fewer:
        assert frame.pts_us == by_index[frame.index].pts_us
        assert mf.read_frame_index(frame.to_rgb()) == frame.index


def test_without_b_frames_nothing_is_skipped(videos: dict[str, Path]) -> None:
    # media_factory's x264 has no B-frames: every frame is a reference, all are decoded.
    path = videos["late_start"]
    assert ([f.pts_us for f in decode_video(path, only_1hz_candidates=(0, None))]
            == [f.pts_us for f in decode_video(path)])


def test_a_frame_shown_at_its_neighbours_time(videos: dict[str, Path], tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    # Frame k is stamped with frame k+1's time (remuxed into mkv, 1 ms ticks): a full
    # decode drops one of the two as not increasing. Skipping must choose the same frames
    # with the same indices; when the decoded frames show the drop, skipping stops.
    src_path = videos["30fps"]
    stops = 0
    for k in range(26, 38):
        path = tmp_path / f"dup{k}.mkv"
        with av.open(str(src_path)) as src, av.open(str(path), mode="w") as dst:
            out = dst.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(video=0):
                if packet.size:
                    if packet.pts * packet.time_base == Fraction(k, 30):
                        packet.pts += round(Fraction(1, 30) / packet.time_base)
                    packet.stream = out
                    dst.mux(packet)
        caplog.clear()
        with caplog.at_level("INFO", logger="yt8m.media.video"):
            assert_same_1hz(path)
        stops += any("decoding every frame from here" in r.getMessage() for r in caplog.records)
        assert len(list(decode_video(path))) == 149  # one of the pair dropped
    assert stops > 0


@pytest.mark.parametrize(("codec", "options"), [
    ("mpeg2video", {}), ("mpeg4", {}), ("libx265", {"x265-params": "bframes=4:log-level=none"}),
])
def test_skipping_on_other_codecs_with_b_frames(tmp_path: Path, codec: str, options: dict[str, str]) -> None:
    # MPEG-2 and MPEG-4 part 2 B-frames are never references; HEVC has its own NONREF rule.
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg has no {codec} encoder")
    path = tmp_path / f"{codec}.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = 128, 64, "yuv420p"
        stream.options = options
        if codec != "libx265":
            stream.codec_context.max_b_frames = 2
        for i in range(120):
            frame = av.VideoFrame.from_ndarray(mf.frame_image(i, 128, 64), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    full = assert_same_1hz(path)
    assert [mf.read_frame_index(f.rgb) for f in full] == [0, 30, 60, 90, 119]
    assert sum(1 for _ in decode_video(path, only_1hz_candidates=(0, None))) < 0.8 * 120
