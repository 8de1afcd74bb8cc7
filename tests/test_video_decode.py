"""Video decoding with PyAV and the 1 Hz frames, checked against the test media and OpenCV.

Every test frame carries its index in bits along its top edge (``media_factory``), so the
content tells which source frame a decoder returned. OpenCV (``cv2.VideoCapture``, the
reference's decoder) is an independent oracle for timestamps, orientation and colours.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import media_factory as mf
from yt8m.errors import InputError
from yt8m.media.sampling import sample_1hz
from yt8m.media import video
from yt8m.media.video import (
    DecodedFrame,
    HardwareDecodingUnavailable,
    SampledFrame,
    VideoDecodeError,
    decode_video,
    sample_frames_1hz,
)

S = 1_000_000


def mp4_us(t_s: float) -> int:
    """Microseconds of a frame media_factory wrote at ``t_s`` into an mp4 (pts in 1/90000 s)."""
    return int(Fraction(round(t_s * 90000), 90000) * S)


def make_keyframed_video(path: Path, frame_times_s: list[float], *, gop: int = 10, width: int = 128,
                         height: int = 64) -> Path:
    """H.264 with B-frames and a keyframe every ``gop`` frames; frame i shows index i."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 90000)
        stream.options = {"threads": "1", "preset": "veryfast", "crf": "18", "bf": "2", "g": str(gop),
                          "keyint_min": str(gop), "sc_threshold": "0"}
        for i, t in enumerate(frame_times_s):
            frame = av.VideoFrame.from_ndarray(mf.frame_image(i, width, height), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = round(t * 90000), Fraction(1, 90000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def make_yuv444_video(path: Path, *, pix_fmt: str = "yuv444p", colorspace: int | None = None) -> Path:
    """Three 4:4:4 frames (no chroma resampling), optionally tagged with an AVColorSpace."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, pix_fmt
        stream.options = {"threads": "1", "preset": "veryfast", "crf": "18", "bf": "0"}
        if colorspace is not None:
            stream.codec_context.colorspace = colorspace
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(mf.frame_image(i, 160, 120), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def sampled(path: Path, *args, **kwargs) -> list[tuple[float, int | None, int]]:
    """(period time in seconds, source_index, index read from the picture) of each 1 Hz frame."""
    return [(f.period_time_us / S, f.source_index, mf.read_frame_index(f.rgb))
            for f in sample_frames_1hz(path, *args, **kwargs)]


# ---------------------------------------------------------------------------------------
# Decoding: frames, times, sizes, orientation


@pytest.mark.parametrize(("name", "times_us", "size"), [
    ("h264_aac", [mp4_us(i / 30) for i in range(90)], (120, 160)),
    ("no_audio", [mp4_us(i / 30) for i in range(60)], (120, 160)),
    ("vp9_opus", [round(i * 1000 / 30) * 1000 for i in range(60)], (120, 160)),  # webm: 1/1000 s
    ("vfr", [mp4_us(t) for t in [0.0, 0.1, 0.15, 0.6, 1.3, 1.31, 2.5]], (120, 160)),
    ("odd_size", [mp4_us(i / 30) for i in range(30)], (97, 161)),
    ("half_second", [mp4_us(i / 30) for i in range(15)], (120, 160)),
])
def test_decodes_every_frame_with_its_presentation_time(media: dict[str, Path], name: str,
                                                        times_us: list[int], size: tuple[int, int]) -> None:
    frames = list(decode_video(media[name]))
    assert [f.pts_us for f in frames] == times_us
    assert [f.index for f in frames] == list(range(len(times_us)))
    for i, frame in enumerate(frames):
        rgb = frame.to_rgb()
        assert rgb.dtype == np.uint8 and rgb.shape == (*size, 3) and rgb.flags.c_contiguous
        assert (frame.height, frame.width) == size
        if size[1] >= mf.INDEX_BITS * mf.BLOCK:
            assert mf.read_frame_index(rgb) == i


def test_rotation_metadata_turns_the_picture_upright(media: dict[str, Path]) -> None:
    # The 90-degree tkhd matrix means "show turned 90 degrees clockwise": the landscape
    # 160x120 coding becomes a 120-wide, 160-high picture whose original top edge (the
    # index bits, most significant first) now runs down the right edge, top to bottom.
    frames = list(decode_video(media["rotated"]))
    assert len(frames) == 30
    for i, frame in enumerate(frames):
        rgb = frame.to_rgb()
        assert rgb.shape == (160, 120, 3) and (frame.width, frame.height) == (120, 160)
        assert mf.read_frame_index(np.rot90(rgb, 1)) == i  # undo: a quarter turn anticlockwise
    rgb = frames[3].to_rgb()  # index 3 = bits ...0011: the two last blocks white
    lsb_block = rgb[11 * mf.BLOCK + 2:12 * mf.BLOCK - 2, 120 - mf.BLOCK + 2:120 - 2]
    msb_block = rgb[2:mf.BLOCK - 2, 120 - mf.BLOCK + 2:120 - 2]
    assert lsb_block.mean() > 200 and msb_block.mean() < 50


def test_time_origin(tmp_path: Path) -> None:
    # A stream whose first frame is at 0.7 s (edit list). "zero" keeps the file's times;
    # "stream_start" subtracts the stream's start, as OpenCV >= 4 reports them.
    path = mf.make_video(tmp_path / "late.mp4", duration_s=1.0, start_s=0.7, audio=None)
    assert [f.pts_us for f in decode_video(path)][:3] == [700_000, 733_333, 766_666]
    assert [f.pts_us for f in decode_video(path, time_origin="stream_start")][:3] == [0, 33_333, 66_666]
    # 1 Hz: first = round(0.7 s) = 1 s, so no frame at 0 s; f_9 is exactly at 1 s; the last
    # frame f_29 (1.667 s) has period index round(0.667) = 1, i.e. 2 s, flushed at the end.
    assert sampled(path) == [(1, 9, 9), (2, 29, 29)]
    # From the stream start: f_0 at 0 s; f_29 at 0.967 s is flushed for 1 s.
    assert sampled(path, time_origin="stream_start") == [(0, 0, 0), (1, 29, 29)]


# ---------------------------------------------------------------------------------------
# The 1 Hz frames on real videos (expected values as in test_sampling's hand-worked cases)


def test_1hz_frames_of_the_test_videos(media: dict[str, Path]) -> None:
    # 30 fps, 3 s: f_30k on k s; f_89 flushed at 3 s (see test_sampling.test_30fps).
    assert sampled(media["h264_aac"]) == [(0, 0, 0), (1, 30, 30), (2, 60, 60), (3, 89, 89)]
    # VFR (see test_sampling.test_variable_frame_rate).
    assert sampled(media["vfr"]) == [(0, 0, 0), (1, 4, 4), (2, 5, 5), (3, 6, 6)]
    # 0.5 s: only f_0 (see test_sampling.test_half_second_video_gives_one_frame).
    assert sampled(media["half_second"]) == [(0, 0, 0)]
    # webm stamps in ms: f_30 at exactly 1 s, last frame f_59 (1.967 s) flushed at 2 s.
    assert sampled(media["vp9_opus"]) == [(0, 0, 0), (1, 30, 30), (2, 59, 59)]


def test_1hz_clip_windows(media: dict[str, Path]) -> None:
    h264 = media["h264_aac"]
    assert sampled(h264, 1 * S, 3 * S) == [(1, 30, 30), (2, 60, 60)]
    assert sampled(h264, 1_500_000, 2_500_000, seek=False) == [(2, 60, 60)]
    assert sampled(h264, 1_500_000, 2_500_000) == [(2, None, 60)]  # a seek leaves the index unknown
    assert sampled(h264, 0, 10 * S) == [(0, 0, 0), (1, 30, 30), (2, 60, 60), (3, 89, 89)]  # end beyond
    assert sampled(h264, 5 * S, 10 * S) == []  # window after the video


def test_sampled_frame_fields(media: dict[str, Path]) -> None:
    first = next(iter(sample_frames_1hz(media["vfr"], 1 * S, 2 * S)))
    assert (first.period_time_us, first.source_pts_us, first.source_index) == (S, 1_300_000, 4)
    assert "rgb=uint8[120, 160, 3]" in repr(first)
    with pytest.raises(ValueError, match=r"uint8 array \[height, width, 3\]"):
        SampledFrame(0, 0, 0, np.zeros((4, 4), np.uint8))


def test_only_chosen_frames_are_converted(media: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = DecodedFrame.to_rgb
    monkeypatch.setattr(DecodedFrame, "to_rgb", lambda self: calls.append(self.index) or original(self))
    assert len(list(sample_frames_1hz(media["h264_aac"]))) == 4
    assert calls == [0, 30, 60, 89]


def test_decoding_stops_once_the_clip_end_is_decided(media: dict[str, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pulled = []
    original = video.decode_video

    def counting(*args, **kwargs):
        for frame in original(*args, **kwargs):
            pulled.append(frame.index)
            yield frame

    monkeypatch.setattr(video, "decode_video", counting)
    # [0, 1 s): 0 s is decided by f_0; then the next period (1 s) is the clip end: stop.
    assert [f.period_time_us for f in sample_frames_1hz(media["h264_aac"], 0, S)] == [0]
    assert pulled == [0]


# ---------------------------------------------------------------------------------------
# Seeking near the clip start gives the frames of a full decode


@pytest.fixture(scope="module")
def keyframed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keyframed")
    hole = [i / 10 for i in range(50)] + [9.0 + i / 10 for i in range(30)]  # nothing in (4.9, 9.0)
    return {"cfr": make_keyframed_video(d / "cfr.mp4", [i / 10 for i in range(120)]),
            "hole": make_keyframed_video(d / "hole.mp4", hole)}


@pytest.mark.parametrize(("name", "start_us", "end_us"), [
    ("cfr", 7_300_000, 10 * S), ("cfr", 5 * S, None), ("cfr", 11 * S, None), ("cfr", 2 * S, 4 * S),
    ("hole", 8 * S, 11 * S), ("hole", 6 * S, None),
])
def test_seek_gives_the_frames_of_a_full_decode(keyframed: dict[str, Path], name: str, start_us: int,
                                               end_us: int | None) -> None:
    full = sampled(keyframed[name], start_us, end_us, seek=False)
    sought = sampled(keyframed[name], start_us, end_us)
    assert [(t, content) for t, _, content in sought] == [(t, content) for t, _, content in full]
    assert all(index is None for _, index, _ in sought)  # the seek really happened
    assert full


def test_seek_over_a_hole_repeats_the_frame_before_it(keyframed: dict[str, Path]) -> None:
    # Frames f_0..f_49 at 0..4.9 s, then f_50.. at 9.0, 9.1, ... s. f_50 has period 9 while
    # 5 s is due: 5, 6, 7, 8 s are filled with f_49; 9 s gets f_50 (exact), 10 s f_60.
    # The seek for [8 s, 11 s) to 7 s lands on f_50 (9.0 s, FFmpeg's mov demuxer jumps the
    # hole forward); the retry 4 s before 8 s lands on the keyframe f_40 (4.0 s).
    assert [(t, content) for t, _, content in sampled(keyframed["hole"], 8 * S, 11 * S)] == [
        (8, 49), (9, 50), (10, 60)]
    first = next(iter(decode_video(keyframed["hole"], seek_before_us=8 * S)))
    assert (first.pts_us, first.index) == (4 * S, None)


def test_no_seek_before_the_stream_start(keyframed: dict[str, Path]) -> None:
    # start - margin <= 0: decoding starts at the beginning and indices are known.
    assert sampled(keyframed["cfr"], 500_000, 2 * S) == [(1, 10, 10)]


def test_a_seek_landing_too_late_restarts_from_the_beginning(keyframed: dict[str, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def late_seek(container, stream, target_us, origin_pts, time_base) -> bool:
        if target_us <= 0:
            return False  # as the real one: no seek before the stream start
        container.seek(int(11 * S / S / time_base), stream=stream)  # always the last keyframe
        return True

    monkeypatch.setattr(video, "_seek", late_seek)
    assert sampled(keyframed["cfr"], 5 * S, 7 * S) == [(5, 50, 50), (6, 60, 60)]


def test_a_refused_seek_decodes_from_the_beginning(keyframed: dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args) -> bool:
        raise video._SeekFailed("cannot seek (Operation not permitted)")

    monkeypatch.setattr(video, "_seek", refused)
    assert sampled(keyframed["cfr"], 5 * S, 7 * S) == [(5, 50, 50), (6, 60, 60)]


# ---------------------------------------------------------------------------------------
# OpenCV, the reference's decoder, as an independent oracle


def opencv_frames(path: Path) -> list[tuple[int, np.ndarray]]:
    """(time in us, RGB) of every frame as OpenCV decodes it (orientation applied)."""
    cv2 = pytest.importorskip("cv2")
    capture = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        # The reference's stamp: Timestamp(CAP_PROP_POS_MSEC * 1000), truncated to int64.
        out.append((int(capture.get(cv2.CAP_PROP_POS_MSEC) * 1000), np.ascontiguousarray(bgr[..., ::-1])))
    capture.release()
    return out


def content_index(rgb: np.ndarray, rotated: bool) -> int:
    return mf.read_frame_index(np.rot90(rgb, 1) if rotated else rgb)


@pytest.mark.parametrize("name", ["h264_aac", "no_audio", "vp9_opus", "vfr", "rotated", "odd_size",
                                  "half_second"])
def test_frames_and_1hz_choice_match_opencv(media: dict[str, Path], name: str) -> None:
    reference = opencv_frames(media[name])
    ours = list(decode_video(media[name]))
    assert [f.pts_us for f in ours] == [t for t, _ in reference]
    rotated = name == "rotated"
    for frame, (_, cv_rgb) in zip(ours, reference, strict=True):
        rgb = frame.to_rgb()
        assert rgb.shape == cv_rgb.shape
        assert np.abs(rgb.astype(np.int16) - cv_rgb.astype(np.int16)).max() <= 1
    # The 1 Hz rule applied to OpenCV's timestamps chooses the same source frames.
    expected = [(t, reference[i][1]) for t, i in sample_1hz([t for t, _ in reference])]
    got = list(sample_frames_1hz(media[name]))
    assert [f.period_time_us for f in got] == [t for t, _ in expected]
    if name != "odd_size":  # too narrow for the index bits; pixels are compared instead
        expected_content = [content_index(rgb, rotated) for _, rgb in expected]
        assert [content_index(f.rgb, rotated) for f in got] == expected_content
    for frame, (_, cv_rgb) in zip(got, expected, strict=True):
        assert np.abs(frame.rgb.astype(np.int16) - cv_rgb.astype(np.int16)).max() <= 1


def test_stream_start_origin_matches_opencv_times(tmp_path: Path) -> None:
    path = mf.make_video(tmp_path / "late.mp4", duration_s=1.0, start_s=0.7, audio=None)
    ours = [f.pts_us for f in decode_video(path, time_origin="stream_start")]
    assert ours == [t for t, _ in opencv_frames(path)]


# ---------------------------------------------------------------------------------------
# Colour conversion against the BT.601 / BT.709 formulas


def yuv_to_rgb(frame: av.VideoFrame, *, kr: float, kb: float, full_range: bool) -> np.ndarray:
    """Textbook Y'CbCr -> R'G'B' of a 4:4:4 frame's planes, rounded."""
    y, u, v = (np.frombuffer(p, np.uint8).reshape(frame.height, -1)[:, :frame.width].astype(float)
               for p in frame.planes)
    luma = y if full_range else (y - 16) * 255 / 219
    scale = 1.0 if full_range else 255 / 224
    cb, cr = (u - 128) * scale, (v - 128) * scale
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


BT601 = {"kr": 0.299, "kb": 0.114}
BT709 = {"kr": 0.2126, "kb": 0.0722}


@pytest.mark.parametrize(("pix_fmt", "colorspace", "colors", "matrix", "full_range"), [
    ("yuv444p", None, "reference", BT601, False),
    ("yuv444p", None, "tagged", BT601, False),            # untagged: swscale's default is BT.601
    ("yuv444p", 1, "reference", BT601, False),            # tagged BT.709, converted as the reference did
    ("yuv444p", 1, "tagged", BT709, False),
    ("yuvj444p", None, "reference", BT601, True),         # full-range pixel format
])
def test_colour_conversion(tmp_path: Path, pix_fmt: str, colorspace: int | None, colors: str,
                           matrix: dict[str, float], full_range: bool) -> None:
    path = make_yuv444_video(tmp_path / "c.mp4", pix_fmt=pix_fmt, colorspace=colorspace)
    with av.open(str(path)) as container:
        raw = next(container.decode(video=0))
        expected = yuv_to_rgb(raw, **matrix, full_range=full_range)
    rgb = next(iter(decode_video(path, colors=colors))).to_rgb()
    assert np.abs(rgb.astype(np.int16) - expected.astype(np.int16)).max() <= 1


def test_bt709_tag_changes_only_the_tagged_conversion(tmp_path: Path) -> None:
    path = make_yuv444_video(tmp_path / "709.mp4", colorspace=1)
    reference = next(iter(decode_video(path, colors="reference"))).to_rgb().astype(np.int16)
    tagged = next(iter(decode_video(path, colors="tagged"))).to_rgb().astype(np.int16)
    assert np.abs(reference - tagged).max() > 10


# ---------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(("name", "reason"), [
    ("truncated", "not a readable media file"), ("random", "not a readable media file"),
    ("empty", "empty file"), ("text", "not a"), ("audio_only", "no video stream"),
])
def test_bad_inputs_raise_input_error_naming_the_file(media: dict[str, Path], name: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as info:
        list(decode_video(media[name]))
    assert str(media[name]) in str(info.value)
    with pytest.raises(InputError, match=reason):
        list(sample_frames_1hz(media[name]))


def test_missing_file_and_bad_options(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        decode_video(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="invalid colors"):
        decode_video(media["h264_aac"], colors="sepia")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="invalid time_origin"):
        decode_video(media["h264_aac"], time_origin="epoch")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="must be after its start"):
        sample_frames_1hz(media["h264_aac"], 5 * S, 5 * S)
    with pytest.raises(InputError, match="must be after its start"):
        decode_video(media["h264_aac"], only_1hz_candidates=(5 * S, 4 * S))


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s, 30 fps mp4 whose video data is overwritten with random bytes halfway."""
    d = tmp_path_factory.mktemp("corrupt")
    data = bytearray(mf.make_video(d / "clean.mp4", duration_s=2.0, audio=None).read_bytes())
    mdat, moov = data.find(b"mdat"), data.find(b"moov")
    middle = (mdat + moov) // 2
    data[middle:middle + 2000] = np.random.default_rng(7).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path = d / "corrupt.mp4"
    path.write_bytes(bytes(data))
    return path


def test_decode_error_midway_keeps_the_frames_before(corrupt: Path) -> None:
    frames = []
    with pytest.raises(VideoDecodeError, match="video decoding failed after") as info:
        for frame in decode_video(corrupt):
            frames.append((frame.index, mf.read_frame_index(frame.to_rgb())))
    error = info.value
    assert isinstance(error, InputError) and str(corrupt) in str(error)
    assert 0 < error.frames_decoded == len(frames) < 60
    assert frames == [(i, i) for i in range(len(frames))]
    assert error.decoded_until_us == mp4_us((len(frames) - 1) / 30)


def test_decode_error_midway_still_yields_the_decided_seconds(corrupt: Path) -> None:
    out = []
    with pytest.raises(VideoDecodeError) as info:
        for frame in sample_frames_1hz(corrupt):
            out.append((frame.period_time_us, frame.source_index))
    # As if the video ended at the last good frame: 0 s, then what the flush decides.
    assert out[0] == (0, 0)
    assert all(index < info.value.frames_decoded for _, index in out)


# ---------------------------------------------------------------------------------------
# Hardware decoding: nv12 frames, and the error that lets a caller fall back to software


def as_nv12(frame: av.VideoFrame) -> av.VideoFrame:
    """The samples of a 4:2:0 planar frame interleaved as nv12 by hand (no swscale), with its range tag."""
    w, h = frame.width, frame.height
    yuv = frame.to_ndarray()
    u = yuv[h:h + h // 4].reshape(h // 2, w // 2)
    v = yuv[h + h // 4:].reshape(h // 2, w // 2)
    nv12 = av.VideoFrame.from_ndarray(np.concatenate([yuv[:h], np.stack([u, v], -1).reshape(h // 2, w)]),
                                      format="nv12")
    nv12.color_range = frame.color_range
    return nv12


def rgb_of(frame: av.VideoFrame, colors: str, *, yuvj_when_full_range: bool = False) -> bytes:
    convert = video._RgbConverter(colors)  # type: ignore[arg-type]
    convert.yuvj_when_full_range = yuvj_when_full_range
    return DecodedFrame(frame, pts_us=0, index=0, quarter_turns=0, convert=convert).to_rgb().tobytes()


@pytest.mark.parametrize("colors", ["reference", "tagged"])
def test_nv12_frames_give_the_pixels_of_their_yuv420p_frames(media: dict[str, Path], colors: str) -> None:
    with av.open(str(media["h264_aac"])) as container:
        frames = list(itertools.islice(container.decode(video=0), 5))
    for frame in frames:
        nv12 = as_nv12(frame)
        assert np.array_equal(nv12.to_ndarray(), frame.reformat(format="nv12").to_ndarray())
        assert np.array_equal(nv12.reformat(format="yuv420p").to_ndarray(), frame.to_ndarray())  # lossless
        assert rgb_of(nv12, colors) == rgb_of(frame, colors)
        ten_bit = frame.reformat(format="yuv420p10le")
        p010 = ten_bit.reformat(format="p010le")
        assert np.array_equal(p010.reformat(format="yuv420p10le").to_ndarray(), ten_bit.to_ndarray())
        assert rgb_of(p010, colors) == rgb_of(ten_bit, colors)


def test_full_range_nv12_from_h264_converts_as_yuvj420p(tmp_path: Path) -> None:
    # FFmpeg's software H.264 decoder gives yuvj420p for full-range video, which the
    # reference converts as full range; NVDEC gives nv12 tagged full-range.
    path = make_yuv444_video(tmp_path / "full.mp4", pix_fmt="yuvj420p")
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    assert frame.format.name == "yuvj420p"
    nv12 = as_nv12(frame)
    assert nv12.color_range == 2  # JPEG
    assert rgb_of(nv12, "reference", yuvj_when_full_range=True) == rgb_of(frame, "reference")
    assert rgb_of(nv12, "reference", yuvj_when_full_range=False) != rgb_of(frame, "reference")


def _cuda_device_error() -> str | None:
    """Why FFmpeg cannot create a CUDA device here, or None when it can."""
    try:
        av.codec.hwaccel.HWAccel(device_type="cuda").create(av.codec.Codec("h264", "r"))
    except av.error.FFmpegError as exc:
        return exc.strerror or str(exc)
    return None


def test_cuda_decoding_gives_the_software_frames_or_says_why_not(media: dict[str, Path]) -> None:
    path = media["h264_aac"]
    frames = iter(sample_frames_1hz(path, hwaccel="cuda"))
    why = _cuda_device_error()
    if why is not None:  # no usable GPU (this PyAV lists "cuda" whatever the machine)
        with pytest.raises(HardwareDecodingUnavailable) as info:
            next(frames)
        message = str(info.value)
        assert message.startswith(f"{path}: cannot create the cuda decoding device ({why})")
        assert "hwaccel='none'" in message and not isinstance(info.value, InputError)
        return
    software = list(sample_frames_1hz(path))
    hardware = list(frames)
    assert [f.period_time_us for f in hardware] == [f.period_time_us for f in software]
    assert [f.rgb.tobytes() for f in hardware] == [f.rgb.tobytes() for f in software]


def test_cuda_refuses_a_codec_without_a_cuda_decoder(tmp_path: Path) -> None:
    path = tmp_path / "lossless.mkv"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(mf.frame_image(i, 64, 48), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(HardwareDecodingUnavailable, match=r"has no cuda decoder for its ffv1 video") as info:
        next(iter(decode_video(path, hwaccel="cuda")))
    assert str(path) in str(info.value)
    assert len(list(decode_video(path))) == 3  # software decoding is the fallback


def test_cuda_keeps_the_errors_of_bad_files(media: dict[str, Path]) -> None:
    for name, reason in [("text", "not a"), ("audio_only", "no video stream"), ("random", "not a readable")]:
        with pytest.raises(InputError, match=reason):
            list(sample_frames_1hz(media[name], hwaccel="cuda"))
    with pytest.raises(InputError, match="invalid hwaccel"):
        decode_video(media["h264_aac"], hwaccel="vaapi")  # type: ignore[arg-type]
