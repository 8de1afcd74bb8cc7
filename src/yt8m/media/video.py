"""Video frames with PyAV: presentation times, upright pictures, RGB only when asked.

This replaces the reference's ``OpenCvVideoDecoderCalculator`` (OpenCV ``VideoCapture``
over FFmpeg). What it reproduces, and where it deliberately differs:

- The frames of the first video stream are decoded in presentation order, with the
  decoder's threads on (``thread_type = "AUTO"``): every frame, except that the 1 Hz
  path leaves out frames it cannot choose (below). A frame's time is its presentation
  timestamp, ``pts * time_base``, in microseconds truncated toward zero (the reference
  truncates ``CAP_PROP_POS_MSEC * 1000`` the same way). Frames whose time does not
  increase are dropped, as the reference does. A frame without pts uses its packet's
  dts (OpenCV's fallback); a frame with neither is dropped.
- Time origin: ``time_origin="zero"`` (default) keeps the file's own timeline (see
  docs/visual.md, 'Decoding'). OpenCV >= 4 reports ``CAP_PROP_POS_MSEC`` relative to the
  stream's ``start_time`` instead (``dts_to_sec`` subtracts it), and OpenCV 3.x reported
  ``frame_number / fps``; ``time_origin="stream_start"`` reproduces OpenCV >= 4.
  They differ only for streams that do not start at 0 (edit lists, MPEG-TS).
- Orientation: a display matrix rotating by a multiple of 90 degrees is applied so the
  picture is upright as players show it, the same way OpenCV's ``CAP_PROP_ORIENTATION_AUTO``
  does (other angles and mirroring are ignored, as OpenCV ignores them). A 90-degree
  tkhd matrix (PyAV ``frame.rotation == -90``) turns the picture 90 degrees clockwise.
- Colour: OpenCV converts with swscale (``SWS_BICUBIC``) through the legacy
  ``sws_scale`` API, which knows nothing of the frame's colour tags: BT.601
  coefficients, limited range unless the pixel format itself is full-range (``yuvj*``).
  ``colors="reference"`` (default) converts the same way; ``colors="tagged"`` honours the
  frame's colour space and range tags instead (what FFmpeg and OpenCV 5 do). The two
  agree on untagged BT.601 video, the common case.
- Conversion to RGB is lazy (:meth:`DecodedFrame.to_rgb`): the 1 Hz sampler keeps
  only decoded frames and converts the few it chooses. Semi-planar frames (``nv12``, what
  hardware decoders return) are first repacked losslessly to the planar format a
  software decoder gives, so both convert to the same pixels.
- Decoding less (``only_1hz_candidates``, on in :func:`sample_frames_1hz`): packets are
  read a bounded distance ahead, and a packet whose frame the 1 Hz rule certainly cannot
  choose (:mod:`yt8m.media.skipping`) is sent to the decoder with ``skip_frame =
  NONREF``, so a non-reference frame is not decoded at all; reference frames are decoded
  anyway, so the frames that are decoded have the same pixels.
- Hardware decoding (``hwaccel="cuda"``): FFmpeg's NVDEC hwaccel through PyAV, frames
  copied back to host memory; :class:`HardwareDecodingUnavailable` before any frame
  when it cannot be used for the file.

:func:`sample_frames_1hz` composes decoding with the reference's 1 Hz sampler
(:mod:`yt8m.media.sampling`) and can start decoding at a keyframe shortly before
the clip instead of at the beginning; it yields the same frames either way.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.codec.hwaccel import HWAccel
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter

from yt8m.errors import InputError, Yt8mError
from yt8m.media.probe import check_readable_file, open_container
from yt8m.media.sampling import US_PER_S, PacketResampler, one_hz_sampler
from yt8m.media.skipping import plan_skips

__all__ = [
    "SEEK_MARGIN_US",
    "Colors",
    "DecodedFrame",
    "HardwareDecodingUnavailable",
    "Hwaccel",
    "SampledFrame",
    "TimeOrigin",
    "VideoDecodeError",
    "decode_video",
    "sample_frames_1hz",
]

logger = logging.getLogger(__name__)

Colors = Literal["reference", "tagged"]
TimeOrigin = Literal["zero", "stream_start"]
#: Where frames are decoded: ``"none"`` in software, ``"cuda"`` with FFmpeg's NVDEC hwaccel.
Hwaccel = Literal["none", "cuda"]

# Semi-planar formats (hardware decoders' output) and the planar format a software
# decoder gives for the same samples; repacking between them is a lossless copy.
_PLANAR_OF = {"nv12": "yuv420p", "nv21": "yuv420p", "p010le": "yuv420p10le"}
# Software decoders that give a yuvj* pixel format for full-range 8-bit video.
_YUVJ_DECODERS = frozenset({"h264", "mjpeg"})

#: Decoding for a clip starting at ``t`` begins at a keyframe at or before ``t - SEEK_MARGIN_US``.
SEEK_MARGIN_US = 1_000_000
# Seek attempts at t - 1, 4, 16, 64 s before decoding from the beginning.
_SEEK_ATTEMPTS = 4

# A stream whose last frame is this far before its declared end is reported as cut short.
_SHORT_STREAM_TOLERANCE_US = 500_000


class VideoDecodeError(InputError):
    """Decoding stopped partway; the frames yielded before the error are valid."""

    def __init__(self, message: str, *, frames_decoded: int, decoded_until_us: int | None) -> None:
        super().__init__(message)
        self.frames_decoded = frames_decoded
        self.decoded_until_us = decoded_until_us


class HardwareDecodingUnavailable(Yt8mError):
    """The hardware decoder asked for cannot decode this file; no frame was yielded.

    Raised by :func:`decode_video` and :func:`sample_frames_1hz` with ``hwaccel`` other
    than ``"none"`` when the device cannot be created (no GPU, no driver), when the
    stream's codec has no decoder for that device in this FFmpeg, or when the decoder
    fails before its first frame (e.g. a profile or pixel format the hardware cannot
    decode). The file itself may be fine: decode it again with ``hwaccel="none"``. A
    :class:`Yt8mError`, not an :class:`InputError`, for that reason. ``reason`` is the
    cause alone, without the file's name.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}; decode it in software (hwaccel='none')")
        self.path = path
        self.reason = reason


class _SeekFailed(Exception):
    """FFmpeg refused the seek; the caller decodes from the beginning instead."""


class _RgbConverter:
    """Turns decoded frames into upright RGB24 arrays, reusing one swscale context.

    Semi-planar frames are repacked to their planar format first (a lossless copy), since
    swscale's semi-planar path gives other pixels. ``yuvj_when_full_range`` says that the
    software decoder of the stream's codec would have given a ``yuvj*`` format for a
    full-range frame (H.264, MJPEG), so a repacked frame tagged full-range is converted
    as full range under ``colors="reference"`` too.
    """

    def __init__(self, colors: Colors) -> None:
        if colors not in ("reference", "tagged"):
            raise InputError(f"invalid colors ({colors!r}); supported values are 'reference' and 'tagged'")
        self._colors = colors
        self._reformatter = VideoReformatter()
        self._repacker = VideoReformatter()
        self.yuvj_when_full_range = False

    def __call__(self, frame: av.VideoFrame, quarter_turns: int) -> np.ndarray:
        planar = _PLANAR_OF.get(frame.format.name)
        full = False
        if planar is not None:  # swscale converts semi-planar input to RGB differently
            full = self.yuvj_when_full_range and frame.color_range == ColorRange.JPEG
            frame = self._repacker.reformat(frame, format=planar)
        rgb_frame = self._reformatter.reformat(frame, format="rgb24", interpolation=Interpolation.BICUBIC,
                                               **self._source_colors(frame, full))
        rgb = rgb_frame.to_ndarray()
        if quarter_turns:
            rgb = np.rot90(rgb, quarter_turns)
        return np.ascontiguousarray(rgb)

    def _source_colors(self, frame: av.VideoFrame, full_range: bool) -> dict[str, int]:
        fmt = frame.format
        if self._colors == "tagged" or fmt.is_rgb or len(fmt.components) < 3:
            return {}
        full = full_range or fmt.name.startswith("yuvj")
        return {"src_colorspace": Colorspace.ITU601,
                "src_color_range": ColorRange.JPEG if full else ColorRange.MPEG}


class DecodedFrame:
    """One decoded picture, not yet converted: its time, position, and a lazy :meth:`to_rgb`.

    ``pts_us`` is the presentation time in microseconds. ``index`` is the frame's 0-based
    position among the frames :func:`decode_video` yields from the start of the stream
    when it decodes every frame, or ``None`` when decoding started at a seek point (the
    position is then unknown). Frames left undecoded by ``only_1hz_candidates`` are
    counted from their packets, so the index keeps that meaning.
    """

    __slots__ = ("_convert", "_frame", "_quarter_turns", "index", "pts_us")

    def __init__(self, frame: av.VideoFrame, *, pts_us: int, index: int | None, quarter_turns: int,
                 convert: _RgbConverter) -> None:
        self._frame = frame
        self._quarter_turns = quarter_turns
        self._convert = convert
        self.pts_us = pts_us
        self.index = index

    @property
    def width(self) -> int:
        """Width in pixels as displayed (after rotation)."""
        return self._frame.height if self._quarter_turns % 2 else self._frame.width

    @property
    def height(self) -> int:
        """Height in pixels as displayed (after rotation)."""
        return self._frame.width if self._quarter_turns % 2 else self._frame.height

    def to_rgb(self) -> np.ndarray:
        """The upright picture as a new C-contiguous uint8 array ``[height, width, 3]`` (RGB)."""
        return self._convert(self._frame, self._quarter_turns)

    def __repr__(self) -> str:
        return f"DecodedFrame(pts_us={self.pts_us}, index={self.index}, size={self.width}x{self.height})"


@dataclass(frozen=True, repr=False)
class SampledFrame:
    """The frame the 1 Hz sampler chose for one second of the clip.

    ``period_time_us`` is the output time (whole seconds, in microseconds);
    ``source_pts_us`` and ``source_index`` describe the chosen decoded frame (see
    :class:`DecodedFrame`); ``rgb`` is uint8 ``[height, width, 3]``.
    """

    period_time_us: int
    source_pts_us: int
    source_index: int | None
    rgb: np.ndarray

    def __post_init__(self) -> None:
        rgb = self.rgb
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
            raise ValueError(f"rgb must be a uint8 array [height, width, 3], got {got}")

    def __repr__(self) -> str:
        return (f"SampledFrame(period_time_us={self.period_time_us}, source_pts_us={self.source_pts_us}, "
                f"source_index={self.source_index}, rgb=uint8{list(self.rgb.shape)})")


def decode_video(
    path: str | os.PathLike[str], *, seek_before_us: int | None = None,
    time_origin: TimeOrigin = "zero", colors: Colors = "reference",
    only_1hz_candidates: tuple[int, int | None] | None = None, hwaccel: Hwaccel = "none",
) -> Generator[DecodedFrame, None, None]:
    """Yield the frames of ``path``'s first video stream in presentation order.

    With ``only_1hz_candidates=(start_us, end_us)``, frames that the 1 Hz rule
    (:func:`yt8m.media.sampling.one_hz_sampler` with that window, ``end_us=None`` for no
    end) certainly cannot choose may be left out, and non-reference ones among them are
    not decoded at all; feeding the frames yielded to that sampler gives the same outputs
    as feeding every frame (see :mod:`yt8m.media.skipping` for the rule and its one
    assumption: the decoder returns one frame per packet, with the packet's time, in
    increasing time; when a frame breaks it, nothing more is left out).

    With ``hwaccel="cuda"``, frames are decoded by NVDEC and copied back to host memory
    (usually as ``nv12``, which :meth:`DecodedFrame.to_rgb` converts to the same pixels
    as the software decoder's ``yuv420p``), with no silent fallback to software:
    :class:`HardwareDecodingUnavailable` is raised before any frame is yielded when that
    cannot be done for this file. ``only_1hz_candidates`` applies there too (libavcodec
    parses slices before handing them to the hwaccel, so it skips the same frames; not
    yet measured on a GPU).

    Times strictly increase. With ``seek_before_us``, decoding starts at a keyframe at
    or before ``seek_before_us - SEEK_MARGIN_US`` instead of at the beginning (when that
    is later than the stream's start): the first frame yielded is then earlier than
    ``seek_before_us`` and every later frame is the one a full decode gives, but
    ``index`` is ``None``. If the seek lands too late, it is retried further back
    (4, 16, 64 s), then decoding starts from the beginning.

    Options and the file's existence are checked at the call; the file is opened when
    iteration starts. Raises :class:`InputError` (naming the file) for a missing, empty,
    unreadable or non-media file, one without a video stream, or one where no frame
    decodes, and :class:`VideoDecodeError` when decoding fails partway, after yielding
    the good frames. Memory use does not grow with the video's length.
    """
    _check_time_origin(time_origin)
    _check_hwaccel(hwaccel)
    if only_1hz_candidates is not None:
        start_us, end_us = only_1hz_candidates
        if end_us is not None and end_us <= start_us:
            raise InputError(f"{path}: clip end ({end_us} us) must be after its start ({start_us} us)")
    convert = _RgbConverter(colors)
    p = check_readable_file(path)
    options = _DecodeOptions(time_origin=time_origin, convert=convert, window=only_1hz_candidates,
                             hwaccel=hwaccel)
    if seek_before_us is None:
        return _decode(p, seek_to_us=None, options=options)
    return _decode_after_seek(p, seek_before_us, options=options)


def sample_frames_1hz(
    path: str | os.PathLike[str], start_us: int = 0, end_us: int | None = None, *,
    seek: bool = True, time_origin: TimeOrigin = "zero", colors: Colors = "reference",
    skip_unused: bool = True, hwaccel: Hwaccel = "none",
) -> Iterator[SampledFrame]:
    """Yield the reference's 1 Hz frames of ``path`` for the clip ``[start_us, end_us)``.

    One frame per whole second ``T`` with ``start_us <= T < end_us`` that the video
    covers (``end_us=None``: to the end), chosen by :func:`yt8m.media.sampling.sample_1hz`'s
    rule, in increasing ``T``. Only the chosen frames are converted to RGB, and at most
    two decoded frames are held. With ``seek`` (default), decoding starts shortly before
    ``start_us`` (see :func:`decode_video`); the frames are the same as without it, but
    ``source_index`` is then ``None``. Decoding stops once ``end_us`` is passed.

    With ``skip_unused`` (default), frames the rule cannot choose are not decoded where
    the codec allows it (``only_1hz_candidates`` of :func:`decode_video`); the frames
    yielded are the same, byte for byte, as with ``skip_unused=False``, which decodes
    every frame. ``hwaccel`` as in :func:`decode_video` (skipping stays on there too).

    Errors as :func:`decode_video`; on a :class:`VideoDecodeError` the seconds decided
    by the frames decoded so far are yielded first.
    """
    if end_us is not None and end_us <= start_us:
        raise InputError(f"{path}: clip end ({end_us} us) must be after its start ({start_us} us)")
    frames = decode_video(path, seek_before_us=start_us if seek else None, time_origin=time_origin,
                          colors=colors, only_1hz_candidates=(start_us, end_us) if skip_unused else None,
                          hwaccel=hwaccel)
    return _sample(frames, one_hz_sampler(start_us=start_us, end_us=end_us), end_us)


def _check_time_origin(time_origin: str) -> None:
    if time_origin not in ("zero", "stream_start"):
        raise InputError(f"invalid time_origin ({time_origin!r}); "
                         "supported values are 'zero' and 'stream_start'")


def _check_hwaccel(hwaccel: str) -> None:
    if hwaccel not in ("none", "cuda"):
        raise InputError(f"invalid hwaccel ({hwaccel!r}); supported values are 'none' and 'cuda'")


@dataclass(frozen=True)
class _DecodeOptions:
    time_origin: TimeOrigin
    convert: _RgbConverter
    window: tuple[int, int | None] | None  # only_1hz_candidates
    hwaccel: Hwaccel


def _decode_after_seek(p: Path, seek_before_us: int, *,
                       options: _DecodeOptions) -> Generator[DecodedFrame, None, None]:
    """Seek ``SEEK_MARGIN_US`` before ``seek_before_us``, further back while the seek lands
    too late (FFmpeg's demuxers may land on the next keyframe, e.g. across a gap), and
    from the beginning when nothing else works."""
    for attempt in range(_SEEK_ATTEMPTS):
        target_us = seek_before_us - SEEK_MARGIN_US * 4**attempt
        frames = _decode(p, seek_to_us=target_us, options=options)
        try:
            first = next(frames, None)
        except _SeekFailed as exc:
            logger.info("%s; decoding from the start", exc)
            break
        if first is not None and (first.index is not None or first.pts_us < seek_before_us):
            yield first
            yield from frames
            return
        frames.close()
        if first is None:
            break  # nothing decoded after the seek
        logger.info("%s: seek to %.3f s landed at %.3f s", p, target_us / US_PER_S, first.pts_us / US_PER_S)
    yield from _decode(p, seek_to_us=None, options=options)


def _sample(frames: Generator[DecodedFrame, None, None], sampler: PacketResampler[DecodedFrame],
            end_us: int | None) -> Iterator[SampledFrame]:
    try:
        for frame in frames:
            yield from _convert_chosen(sampler.push(frame.pts_us, frame))
            next_period_us = sampler.next_period_us
            if end_us is not None and next_period_us is not None and next_period_us >= end_us:
                return
    except VideoDecodeError:
        yield from _convert_chosen(sampler.flush())
        raise
    finally:
        frames.close()
    yield from _convert_chosen(sampler.flush())


def _convert_chosen(chosen: list[tuple[int, DecodedFrame]]) -> Iterator[SampledFrame]:
    for period_us, frame in chosen:
        yield SampledFrame(period_time_us=period_us, source_pts_us=frame.pts_us, source_index=frame.index,
                           rgb=frame.to_rgb())


def _decode(p: Path, *, seek_to_us: int | None,
            options: _DecodeOptions) -> Generator[DecodedFrame, None, None]:
    """Decode from the start, or from a keyframe at or before ``seek_to_us`` if that is past the start."""
    hw = options.hwaccel != "none"
    with _open(p, options.hwaccel) as container:
        stream = _video_stream(container, p)
        if hw and not stream.codec_context.is_hwaccel:
            raise HardwareDecodingUnavailable(
                p, f"FFmpeg did not attach the {options.hwaccel} decoder to the "
                   f"{stream.codec_context.name} stream")
        stream.thread_type = "AUTO"
        options.convert.yuvj_when_full_range = stream.codec_context.name in _YUVJ_DECODERS
        time_base = stream.time_base or Fraction(1, US_PER_S)
        origin_pts = (stream.start_time or 0) if options.time_origin == "stream_start" else 0
        sought = seek_to_us is not None and _seek(container, stream, seek_to_us, origin_pts, time_base)
        demuxed = _Demuxed(container, stream)
        skipper = _Skipper(stream, p, origin_pts, time_base, options.window)
        count = 0  # frames a full decode yields up to here (the next frame's index)
        decoded = 0
        last_us: int | None = None
        try:
            for packet in skipper.plan(demuxed):
                for frame in stream.decode(packet):
                    pts = frame.pts if frame.pts is not None else frame.dts
                    if pts is None:
                        logger.warning("%s: dropped a video frame without timestamp", p)
                        skipper.stop("a frame without timestamp")
                        continue
                    pts_us = _to_us(pts, origin_pts, frame.time_base or time_base)
                    if last_us is not None and pts_us <= last_us:
                        logger.debug("%s: dropped frame at %d us (not after %d us)", p, pts_us, last_us)
                        skipper.stop("a frame whose time does not increase")
                        continue
                    count += skipper.skipped_before(pts_us, last_us)
                    yield DecodedFrame(frame, pts_us=pts_us, index=None if sought else count,
                                       quarter_turns=_quarter_turns(frame, p), convert=options.convert)
                    count += 1
                    decoded += 1
                    last_us = pts_us
            demuxed.raise_error()
        except av.error.FFmpegError as exc:
            if hw and decoded == 0:
                raise HardwareDecodingUnavailable(
                    p, f"the {options.hwaccel} decoder failed before its first frame "
                       f"({exc.strerror or exc})") from exc
            where = f"{last_us / US_PER_S:.3f} s" if last_us is not None else "the start"
            raise VideoDecodeError(
                f"{p}: video decoding failed after {count} frames (last at {where}): {exc.strerror or exc}",
                frames_decoded=count, decoded_until_us=last_us) from exc
        if decoded == 0 and not sought:
            if hw:
                raise HardwareDecodingUnavailable(p, f"the {options.hwaccel} decoder returned no frame")
            raise InputError(f"{p}: no video frame could be decoded")
        if skipper.skipped_packets:
            logger.debug("%s: %d packets sent with skip_frame=NONREF", p, skipper.skipped_packets)
        _warn_if_short(p, stream, last_us, origin_pts, time_base)


def _to_us(pts: int, origin_pts: int, time_base: Fraction) -> int:
    """Microseconds from ``origin_pts``, truncated toward zero."""
    return int((pts - origin_pts) * time_base * US_PER_S)


def _open(p: Path, hwaccel: Hwaccel) -> av.container.InputContainer:
    """Open ``p``; with a hardware decoder, check first that the file and its codec allow it."""
    if hwaccel == "none":
        return open_container(p)
    with open_container(p) as container:  # a bad file keeps its own InputError
        ctx = _video_stream(container, p).codec_context
        if not any(config.device_type.name == hwaccel for config in ctx.codec.hardware_configs):
            raise HardwareDecodingUnavailable(p, f"FFmpeg has no {hwaccel} decoder for its {ctx.name} video")
    try:
        return av.open(str(p), mode="r", hwaccel=HWAccel(device_type=hwaccel, allow_software_fallback=False))
    except av.error.FFmpegError as exc:
        raise HardwareDecodingUnavailable(
            p, f"cannot create the {hwaccel} decoding device ({exc.strerror or exc})") from exc


class _Demuxed:
    """The stream's packets (then FFmpeg's flush packet); a demuxing error ends them and is
    kept for :meth:`raise_error`, so the packets read ahead before it are still decoded."""

    def __init__(self, container: av.container.InputContainer, stream: av.VideoStream) -> None:
        self._packets = container.demux(stream)
        self._error: av.error.FFmpegError | None = None

    def __iter__(self) -> Iterator[av.Packet]:
        try:
            yield from self._packets
        except av.error.FFmpegError as exc:
            self._error = exc

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error


class _Skipper:
    """Sets ``skip_frame`` per packet from :func:`plan_skips` and counts what it left undecoded.

    Without a window every packet is decoded (``skip_frame`` stays at FFmpeg's default).
    With frame threads libavcodec reads ``skip_frame`` when each packet is submitted, so
    changing it between packets applies to the next packet only.
    """

    def __init__(self, stream: av.VideoStream, p: Path, origin_pts: int, time_base: Fraction,
                 window: tuple[int, int | None] | None) -> None:
        self._ctx = stream.codec_context
        self._p = p
        self._origin_pts = origin_pts
        self._time_base = time_base
        self._window = window
        self._on = window is not None
        self._mode = "DEFAULT"
        self._pending: list[int] = []  # times of packets sent with NONREF, not yet accounted for
        self._first_us: int | None = None
        self.skipped_packets = 0

    def _time_us(self, packet: av.Packet) -> int | None:
        """The packet's frame time; None when unknown or when the frame may never come out:
        a flush or discarded packet, or a frame shown before the packet decoding started
        with (open-GOP leading pictures after a seek, which the decoder may drop)."""
        if packet.pts is None or packet.is_discard or packet.size == 0:
            return None
        t = _to_us(packet.pts, self._origin_pts, packet.time_base or self._time_base)
        if self._first_us is None:
            self._first_us = t
        return t if t >= self._first_us else None

    def plan(self, packets: _Demuxed) -> Iterator[av.Packet]:
        """The packets, each after setting the decoder's ``skip_frame`` for it."""
        if self._window is None:
            yield from packets
            return
        start_us, end_us = self._window
        for packet, skip in plan_skips(packets, self._time_us, start_us=start_us, end_us=end_us):
            skip = skip and self._on
            mode = "NONREF" if skip else "DEFAULT"
            if mode != self._mode:
                self._ctx.skip_frame = mode
                self._mode = mode
            if skip:
                heapq.heappush(self._pending, _to_us(packet.pts, self._origin_pts,
                                                    packet.time_base or self._time_base))
                self.skipped_packets += 1
            yield packet

    def stop(self, why: str) -> None:
        """Decode every later packet: a frame broke the assumption the plan rests on."""
        if self._on:
            logger.info("%s: %s; decoding every frame from here", self._p, why)
            self._on = False

    def skipped_before(self, pts_us: int, last_us: int | None) -> int:
        """How many frames a full decode yields between ``last_us`` and a frame at ``pts_us``
        that were not decoded (packets sent with NONREF that gave no frame)."""
        n = 0
        previous = last_us
        while self._pending and self._pending[0] <= pts_us:
            t = heapq.heappop(self._pending)
            if t < pts_us and (previous is None or t > previous):
                n += 1
                previous = t
        return n


def _video_stream(container: av.container.InputContainer, p: Path) -> av.VideoStream:
    if not container.streams.video:
        kinds = ", ".join(s.type for s in container.streams) or "none"
        raise InputError(f"{p}: has no video stream (streams: {kinds})")
    return container.streams.video[0]


def _seek(container: av.container.InputContainer, stream: av.VideoStream, target_us: int,
          origin_pts: int, time_base: Fraction) -> bool:
    """Seek to a keyframe at or before ``target_us``; False if that is not past the stream start."""
    target_pts = origin_pts + int(Fraction(target_us, US_PER_S) / time_base)
    if target_pts <= (stream.start_time or 0):
        return False
    try:
        container.seek(target_pts, stream=stream, backward=True, any_frame=False)
    except av.error.FFmpegError as exc:
        raise _SeekFailed(f"{container.name}: cannot seek ({exc.strerror or exc})") from exc
    return True


def _quarter_turns(frame: av.VideoFrame, p: Path) -> int:
    """Counter-clockwise quarter turns (``np.rot90``'s k) that make the picture upright."""
    rotation = frame.rotation  # degrees counter-clockwise, in [-180, 180]
    if rotation % 90:
        logger.debug("%s: display rotation of %s degrees is not a multiple of 90; ignored", p, rotation)
        return 0
    return (rotation // 90) % 4


def _warn_if_short(p: Path, stream: av.VideoStream, last_us: int | None, origin_pts: int,
                   time_base: Fraction) -> None:
    if last_us is None or stream.duration is None:
        return
    end_us = int(((stream.start_time or 0) + stream.duration - origin_pts) * time_base * US_PER_S)
    frame_us = int(US_PER_S / stream.average_rate) if stream.average_rate else 0
    if last_us + frame_us < end_us - _SHORT_STREAM_TOLERANCE_US:
        logger.warning("%s: video frames end at %.3f s but the stream declares %.3f s; "
                       "the file may be cut short", p, last_us / US_PER_S, end_us / US_PER_S)
