"""The annotated video: each frame with the labels of its window, re-encoded, sound kept.

:func:`annotate_video` streams the input once (memory does not grow with its length):
it decodes every frame of the first video stream, draws the overlays of
:class:`~yt8m.render.layout.FrameAnnotator` straight into the frame's YUV planes, and
encodes H.264 into an MP4 written to a temporary file beside the output and moved into
place only when complete (``+faststart``: the index is at the front, so browsers start
playing before the download ends). Decisions, where the input and the target differ:

- Time: every frame keeps its presentation timestamp, in the input stream's time base,
  so the frame count, frame times and duration are the input's; variable frame rate
  stays variable. The stream's nominal rate is the input's average rate. A frame is
  shown with the latest window whose ``start_s`` is at or before its time
  (``pts * time_base``, the timeline that ``yt8m extract`` stamps features with);
  frames before the first window get no labels. Frames whose time does not increase
  are dropped, as the extractor drops them.
- Orientation: a display rotation by a multiple of 90 degrees is applied to the pixels
  (the frame is upright, as players show it) and the output carries no rotation, so
  the output's size is the input's displayed size and the text is upright.
- Pixel format: ``yuv420p`` (H.264 High profile, plays everywhere) in the input's colour
  matrix and range, tagged as the input is. A 4:2:0 picture cannot have an odd width or
  height (H.264 crops in 2-pixel steps), so for an odd displayed size
  ``odd_size="exact"`` (default) encodes ``yuv444p`` (High 4:4:4 Predictive) at exactly
  the input's size; Chrome and FFmpeg-based players play it, Safari and Firefox may not.
  ``odd_size="pad"`` keeps ``yuv420p`` and adds one column and/or row repeating the
  last one, so the output is 1 pixel wider and/or higher than the input.
- Audio: the first audio stream's packets are copied unchanged (no re-encoding) when
  browsers play that codec in MP4, which is AAC and MP3. Other codecs (Opus, Vorbis,
  FLAC, PCM, AC-3, ...) are re-encoded to AAC at 128 kb/s per channel pair: FFmpeg can
  put Opus or FLAC in MP4, but Safari and older browsers do not play them there.
  Mono stays mono, more than two channels are mixed down to stereo, the sample rate is
  kept when AAC supports it (else 48 kHz); it is stamped by sample count from the first
  audio frame's time. If audio decoding fails, the audio stops there, with a note.
  Other streams (subtitles, data, further audio streams) are not copied.
- Encoder: libx264 with ``crf`` (0 is lossless) and ``preset``, threads as x264 chooses,
  no B-frames (:func:`x264_options` says why). Each packet carries its frame's duration
  (the time to the next frame; the last frame keeps the input's), so the output lasts
  exactly as long as the input's video. The MP4's movie time scale is the video's time
  base, so a first frame later than 0 s keeps its exact time.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from tqdm import tqdm

from yt8m._files import AtomicFile
from yt8m.errors import InputError
from yt8m.media.probe import check_readable_file, open_container
from yt8m.render.layout import FrameAnnotator
from yt8m.render.label_windows import LabelWindow, windows_from_predictions
from yt8m.render.yuv import PlanarOverlay, YuvMatrix, frame_colors, plane_view

__all__ = [
    "COPIED_AUDIO_CODECS", "X264_PRESETS", "AnnotateReport", "OddSize", "annotate_video", "mp4_options",
    "x264_options",
]

logger = logging.getLogger(__name__)

OddSize = Literal["exact", "pad"]
AudioHandling = Literal["copied", "reencoded", "partial", "none"]

#: Audio codecs copied into the MP4 as they are (every browser plays them there).
COPIED_AUDIO_CODECS = frozenset({"aac", "mp3"})
#: libx264's presets, fastest first.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
                "veryslow", "placebo")
_AAC_BITRATE_PER_CHANNEL = 64_000
_AAC_RATES = frozenset(av.codec.Codec("aac", "w").audio_rates or ())


@dataclass(frozen=True)
class AnnotateReport:
    """What :func:`annotate_video` wrote.

    ``width``/``height`` are the output's pixel size (the input's displayed size, plus
    padding with ``odd_size="pad"``); ``rotation_deg`` is how far the pixels were turned
    clockwise to apply the input's display rotation (0, 90, 180 or 270); ``audio`` says whether the audio
    was ``"copied"``, ``"reencoded"`` to AAC, re-encoded up to a decoding error
    (``"partial"``, see ``notes``) or there was ``"none"``; ``audio_codec`` is the
    output's audio codec. ``elapsed_s`` is wall time.
    """

    output: Path
    frames: int
    width: int
    height: int
    pixel_format: str
    rotation_deg: int
    audio: AudioHandling
    audio_codec: str | None
    windows: int
    elapsed_s: float
    notes: tuple[str, ...] = ()

    @property
    def frames_per_s(self) -> float:
        """Frames annotated per second of wall time."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else math.inf


def annotate_video(
    video: str | os.PathLike[str], predictions: Mapping[str, Any], output: str | os.PathLike[str], *,
    top_k: int = 3, threshold: float = 0.0, timeline: bool = True, odd_size: OddSize = "exact",
    crf: int = 20, preset: str = "veryfast", progress: bool | None = None,
) -> AnnotateReport:
    """Write ``video`` with the labels of ``predictions`` drawn on it to ``output`` (MP4).

    ``predictions`` is the object ``yt8m predict`` writes (only ``windows`` is read; see
    :mod:`yt8m.render.label_windows`). Each frame shows the best ``top_k`` labels scoring
    ``>= threshold`` (0 to 1) of the latest window started at or before its time, and
    with ``timeline`` a bar along the bottom. The output is an MP4 whatever its suffix.
    ``progress``: show a progress bar on stderr (``None``: when stderr is a terminal).
    See the module docstring for time, orientation, size, pixel format and audio.

    Raises :class:`InputError` for bad options, malformed predictions, a missing or
    unreadable video, one without a video stream, or one that fails to decode (the
    output is then not written). The output appears complete or not at all.
    """
    _check_options(top_k=top_k, threshold=threshold, odd_size=odd_size, crf=crf, preset=preset)
    windows = windows_from_predictions(predictions)
    src = check_readable_file(video)
    dst = Path(output)
    if dst.is_dir():
        raise InputError(f"{dst}: is a directory, expected the path of the video to write")
    if dst.exists() and dst.resolve() == src.resolve():
        raise InputError(f"{dst}: is the input video; choose another output path")
    started = time.perf_counter()
    try:
        target = AtomicFile(dst)
    except OSError as exc:
        raise InputError(f"{dst}: cannot write there ({exc.strerror or exc})") from exc
    target.handle.close()
    try:
        with open_container(src) as container:
            job = _Job(container, src, windows, top_k=top_k, threshold=threshold, timeline=timeline,
                       odd_size=odd_size, crf=crf, preset=preset)
            job.run(target.tmp_path, progress=sys.stderr.isatty() if progress is None else progress)
        _fsync(target.tmp_path)
        os.replace(target.tmp_path, dst)
    except BaseException:
        target.discard()
        raise
    return job.report(dst, elapsed_s=time.perf_counter() - started)


def x264_options(*, crf: int, preset: str) -> dict[str, str]:
    """The libx264 options of annotated videos: ``crf``, ``preset`` and no B-frames.

    B-frames are off because with them the MP4's sample durations (decode-time deltas)
    no longer add up to the presentation end of variable-frame-rate video, which then
    plays shorter than it is; at the same ``crf`` the files are a little larger.
    """
    return {"crf": str(crf), "preset": preset, "bf": "0"}


def mp4_options(video_time_base: Fraction | None) -> dict[str, str]:
    """The MP4 muxer options: ``+faststart``, and the video's time base as movie time scale.

    The movie time scale times the edit list, which holds a first frame's start after
    0 s: FFmpeg's default (1/1000 s) would move every frame by up to a millisecond.
    """
    scale = video_time_base.denominator if video_time_base else 1000
    return {"movflags": "+faststart", "movie_timescale": str(scale if scale < 2**31 else 1000)}


def _check_options(*, top_k: int, threshold: float, odd_size: str, crf: int, preset: str) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InputError(f"invalid top_k ({top_k!r}); it must be an integer >= 1")
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise InputError(f"invalid threshold ({threshold!r}); it must be a score from 0 to 1")
    if odd_size not in ("exact", "pad"):
        raise InputError(f"invalid odd_size ({odd_size!r}); supported values are 'exact' and 'pad'")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise InputError(f"invalid crf ({crf!r}); it must be an integer from 0 (lossless) to 51")
    if preset not in X264_PRESETS:
        raise InputError(f"invalid preset ({preset!r}); supported values are {', '.join(X264_PRESETS)}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Geometry:
    """How input pictures become output pictures: rotation, size, pixel format."""

    quarter_turns: int  # counter-clockwise, np.rot90's k
    display_width: int
    display_height: int
    width: int
    height: int
    pixel_format: str

    @classmethod
    def of(cls, frame: av.VideoFrame, odd_size: OddSize) -> _Geometry:
        rotation = frame.rotation  # degrees counter-clockwise
        turns = 0 if rotation % 90 else (rotation // 90) % 4
        if rotation % 90:
            logger.warning("display rotation of %s degrees is not a multiple of 90; ignored", rotation)
        dw, dh = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
        if dw % 2 == 0 and dh % 2 == 0:
            return cls(turns, dw, dh, dw, dh, "yuv420p")
        if odd_size == "exact":
            return cls(turns, dw, dh, dw, dh, "yuv444p")
        return cls(turns, dw, dh, dw + dw % 2, dh + dh % 2, "yuv420p")

    @property
    def chroma_shift(self) -> tuple[int, int]:
        return (1, 1) if self.pixel_format == "yuv420p" else (0, 0)

    @property
    def clockwise_deg(self) -> int:
        """How far the picture is turned clockwise to stand upright: 0, 90, 180 or 270."""
        return (4 - self.quarter_turns) % 4 * 90

    def notes(self) -> list[str]:
        out = []
        if self.quarter_turns:
            out.append(f"picture turned {self.clockwise_deg} degrees clockwise, as the input's display "
                       "rotation asks; the output has no rotation")
        if (self.width, self.height) != (self.display_width, self.display_height):
            out.append(f"odd size {self.display_width}x{self.display_height} padded to "
                       f"{self.width}x{self.height} (yuv420p needs even sizes)")
        elif self.pixel_format == "yuv444p":
            out.append(f"odd size {self.width}x{self.height}: encoded as yuv444p to keep the size "
                       "(some browsers do not play it; odd_size='pad' gives yuv420p)")
        return out


class _FrameMaker:
    """Copies a decoded frame into a frame of the output's format, upright, padded.

    Output frames are recycled (:meth:`release`) once the encoder has taken their
    pictures; ``make_writable`` copies one that something else still references.
    """

    def __init__(self, geometry: _Geometry, first: av.VideoFrame) -> None:
        self.geometry = geometry
        self.colors = frame_colors(first, display_width=geometry.display_width,
                                   display_height=geometry.display_height)
        self._free: list[av.VideoFrame] = []

    def make(self, frame: av.VideoFrame) -> tuple[av.VideoFrame, list[np.ndarray]]:
        """The output frame for ``frame`` and writable views of its Y, U, V planes."""
        g = self.geometry
        if frame.format.name != g.pixel_format:
            frame = frame.reformat(format=g.pixel_format, **self.colors.reformat)
        if self._free:
            out = self._free.pop()
            out.make_writable()
        else:
            out = av.VideoFrame(g.width, g.height, g.pixel_format)
        planes = [plane_view(p) for p in out.planes]
        for dst, src_plane in zip(planes, frame.planes, strict=True):
            src = plane_view(src_plane)
            if g.quarter_turns:
                src = np.rot90(src, g.quarter_turns)
            h, w = src.shape
            dst[:h, :w] = src
            if w < dst.shape[1]:
                dst[:h, w:] = dst[:h, w - 1:w]
            if h < dst.shape[0]:
                dst[h:] = dst[h - 1:h]
        return out, planes

    def release(self, frame: av.VideoFrame) -> None:
        """Give back an output frame the encoder is done with."""
        self._free.append(frame)


class _Overlays:
    """The :class:`FrameAnnotator`'s overlays, converted to YUV once per window."""

    def __init__(self, annotator: FrameAnnotator, matrix: YuvMatrix, chroma_shift: tuple[int, int]) -> None:
        self.annotator = annotator
        self.matrix = matrix
        self.shift = chroma_shift
        self._text: tuple[int | None, PlanarOverlay | None] = (-1, None)
        timeline = annotator.timeline
        # The bar never changes; the marker is converted once and moved (by even columns).
        self._timeline = None if timeline is None else (
            timeline, PlanarOverlay(timeline.bar, matrix, chroma_shift),
            PlanarOverlay(timeline.marker(0.0), matrix, chroma_shift))

    def draw(self, planes: list[np.ndarray], time_s: float) -> None:
        """Draw everything the frame at ``time_s`` shows into its planes."""
        window = self.annotator.window_at(time_s)
        if self._text[0] != window:
            text = self.annotator.text_overlay(window)
            self._text = (window, None if text is None else PlanarOverlay(text, self.matrix, self.shift))
        if self._text[1] is not None:
            self._text[1].blend(planes)
        if self._timeline is not None:
            timeline, bar, marker = self._timeline
            bar.blend(planes)
            marker.moved(timeline.marker_x(time_s) - marker.overlay.x).blend(planes)


class _AudioOut:
    """The first audio stream, copied or re-encoded to AAC into the output."""

    def __init__(self, stream: av.AudioStream, output: av.container.OutputContainer, src: Path) -> None:
        self.input = stream
        self.src = src
        self.output = output
        self.notes: list[str] = []
        self.handling: AudioHandling = "copied"
        codec = stream.codec_context.name if stream.codec_context is not None else "unknown"
        self._resampler: av.AudioResampler | None = None
        if codec in COPIED_AUDIO_CODECS:
            self.stream = output.add_stream_from_template(stream)
            return
        self.handling = "reencoded"
        rate = stream.codec_context.sample_rate if stream.codec_context.sample_rate in _AAC_RATES else 48_000
        layout = "mono" if stream.codec_context.layout.nb_channels == 1 else "stereo"
        self.stream = output.add_stream("aac", rate=rate, layout=layout)
        self.stream.bit_rate = _AAC_BITRATE_PER_CHANNEL * (1 if layout == "mono" else 2)
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate,
                                            frame_size=self.stream.codec_context.frame_size or 1024)
        self._rate = rate
        self._next_pts: int | None = None  # in samples; counted from the first frame's time
        self.notes.append(f"audio: {codec} re-encoded to AAC ({layout}, {rate} Hz), which browsers play "
                          "in MP4")

    @property
    def codec(self) -> str:
        return "aac" if self.handling == "reencoded" else self.stream.codec_context.name

    def push(self, packet: av.Packet) -> None:
        """Copy or re-encode one demuxed packet (a flush packet ends the stream)."""
        if self._resampler is None:
            if packet.dts is not None and packet.size:
                packet.stream = self.stream
                self.output.mux(packet)
            return
        if self.handling == "partial":
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            self._drop(exc)
            return
        for frame in frames:
            self._encode(self._resampler.resample(frame))

    def close(self) -> None:
        """Flush the resampler and encoder of re-encoded audio."""
        if self._resampler is None:
            return
        self._encode(self._resampler.resample(None))
        self.output.mux(self.stream.encode(None))

    def _encode(self, chunks: list[av.AudioFrame]) -> None:
        """Encode resampled chunks stamped by sample count (the resampler rounds their times)."""
        for chunk in chunks:
            if self._next_pts is None:
                start = chunk.pts * chunk.time_base if chunk.pts is not None and chunk.time_base else 0
                self._next_pts = round(start * self._rate)
            chunk.pts = self._next_pts
            chunk.time_base = Fraction(1, self._rate)
            self._next_pts += chunk.samples
            self.output.mux(self.stream.encode(chunk))

    def _drop(self, exc: av.error.FFmpegError) -> None:
        where = f"{self._next_pts / self._rate:.3f} s" if self._next_pts is not None else "the start"
        note = f"audio: decoding failed at {where} ({exc.strerror or exc}); the rest of the audio is left out"
        logger.warning("%s: %s", self.src, note)
        self.notes.append(note)
        self.handling = "partial"


@dataclass
class _Counts:
    """Frames written and dropped so far, and the time of the last one written (seconds)."""

    frames: int = 0
    dropped: int = 0
    last_s: float | None = None


class _Job:
    """One annotation run: input container open, output created at the first frame."""

    def __init__(self, container: av.container.InputContainer, src: Path, windows: list[LabelWindow], *,
                 top_k: int, threshold: float, timeline: bool, odd_size: OddSize, crf: int,
                 preset: str) -> None:
        if not container.streams.video:
            kinds = ", ".join(s.type for s in container.streams) or "none"
            raise InputError(f"{src}: has no video stream (streams: {kinds})")
        self.container = container
        self.src = src
        self.windows = windows
        self.video = container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.audio_in = container.streams.audio[0] if container.streams.audio else None
        self.options = {"top_k": top_k, "threshold": threshold, "timeline": timeline}
        self.odd_size = odd_size
        self.encoder_options = x264_options(crf=crf, preset=preset)
        self.counts = _Counts()
        self.geometry: _Geometry | None = None
        self.audio: _AudioOut | None = None

    def run(self, path: Path, *, progress: bool) -> None:
        """Decode, draw, encode and mux everything into ``path``."""
        total = self.video.frames or None
        options = mp4_options(self.video.time_base)
        with (av.open(str(path), mode="w", format="mp4", options=options) as output,
              tqdm(total=total, unit="frame", desc="annotate", disable=not progress,
                   dynamic_ncols=True) as bar):
            pending_audio: list[av.Packet] = []
            writer: _VideoWriter | None = None
            for packet in self._demux():
                if packet.stream.type == "audio":
                    if self.audio is None:
                        pending_audio.append(packet)
                    else:
                        self.audio.push(packet)
                    continue
                for frame in self._decode(packet):
                    if writer is None:
                        writer = self._start(output, frame)
                        for held in pending_audio:
                            self._audio().push(held)
                        pending_audio.clear()
                    if writer.write(frame):
                        self.counts.frames += 1
                        bar.update(1)
            if writer is None:
                raise InputError(f"{self.src}: no video frame could be decoded")
            writer.close()
            if self.audio is not None:
                self.audio.close()

    def report(self, output: Path, *, elapsed_s: float) -> AnnotateReport:
        g = self.geometry
        assert g is not None  # run() succeeded
        notes = g.notes() + (self.audio.notes if self.audio else [])
        if not self.windows:
            notes.append("the predictions have no windows: no labels drawn")
        elif self.windows[0].start_s > 0:
            notes.append(f"frames before the first window ({self.windows[0].start_s:g} s) show no labels")
        if self.counts.dropped:
            notes.append(f"{self.counts.dropped} frames without an increasing timestamp dropped")
        last_s = self.counts.last_s
        if self.windows and last_s is not None and self.windows[-1].start_s > last_s:
            drawn = sum(1 for w in self.windows if w.start_s <= last_s)
            notes.append(f"the video ends at {last_s:g} s, before the predictions do "
                         f"({self.windows[-1].end_s:g} s): labels drawn for {drawn} of {len(self.windows)} "
                         "windows")
        return AnnotateReport(
            output=output, frames=self.counts.frames, width=g.width, height=g.height,
            pixel_format=g.pixel_format,
            rotation_deg=g.clockwise_deg, audio=self.audio.handling if self.audio else "none",
            audio_codec=self.audio.codec if self.audio else None,
            windows=len(self.windows), elapsed_s=elapsed_s, notes=tuple(notes))

    def _audio(self) -> _AudioOut:
        assert self.audio is not None
        return self.audio

    def _demux(self) -> Iterator[av.Packet]:
        streams = [self.video] + ([self.audio_in] if self.audio_in is not None else [])
        try:
            yield from self.container.demux(streams)
        except av.error.FFmpegError as exc:
            raise self._failure(exc) from exc

    def _decode(self, packet: av.Packet) -> list[av.VideoFrame]:
        try:
            return packet.decode()
        except av.error.FFmpegError as exc:
            raise self._failure(exc) from exc

    def _failure(self, exc: av.error.FFmpegError) -> InputError:
        where = f"{self.counts.last_s:.3f} s" if self.counts.last_s is not None else "the start"
        return InputError(f"{self.src}: video decoding failed after {self.counts.frames} frames "
                          f"(last at {where}): {exc.strerror or exc}")

    def _start(self, output: av.container.OutputContainer, first: av.VideoFrame) -> _VideoWriter:
        self.geometry = _Geometry.of(first, self.odd_size)
        maker = _FrameMaker(self.geometry, first)
        annotator = FrameAnnotator(self.windows, frame_width=self.geometry.display_width,
                                   frame_height=self.geometry.display_height, duration_s=self._duration_s(),
                                   **self.options)
        overlays = _Overlays(annotator, maker.colors.matrix, self.geometry.chroma_shift)
        writer = _VideoWriter(output, self.video, first, maker, overlays, self.encoder_options, self.counts)
        if self.audio_in is not None:
            self.audio = _AudioOut(self.audio_in, output, self.src)
        return writer

    def _duration_s(self) -> float | None:
        v = self.video
        if v.duration is not None and v.time_base is not None:
            return float((v.start_time or 0) * v.time_base + v.duration * v.time_base)
        if self.container.duration:
            return self.container.duration / av.time_base
        return None


class _VideoWriter:
    """Draws on each frame and encodes it with the input's timestamp."""

    def __init__(self, output: av.container.OutputContainer, source: av.VideoStream, first: av.VideoFrame,
                 maker: _FrameMaker, overlays: _Overlays, encoder_options: dict[str, str],
                 counts: _Counts) -> None:
        g = maker.geometry
        self.time_base: Fraction = source.time_base or first.time_base or Fraction(1, 90_000)
        rate = source.average_rate or source.guessed_rate or Fraction(30)
        self.output = output
        self.stream = output.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = g.width, g.height, g.pixel_format
        self.stream.codec_context.time_base = self.time_base
        self.stream.time_base = self.time_base
        self.stream.options = dict(encoder_options)
        for name, value in maker.colors.tags.items():
            setattr(self.stream.codec_context, name, value)
        self.maker = maker
        self.overlays = overlays
        self.counts = counts
        self._default_duration = max(1, round(1 / (rate * self.time_base)))
        self._held: tuple[av.VideoFrame, int] | None = None
        self._durations: dict[int, int] = {}

    def write(self, frame: av.VideoFrame) -> bool:
        """Draw on ``frame`` and encode it; False if it was dropped (no increasing timestamp).

        Each frame is encoded when the next one arrives, so that its duration (the time
        to the next frame) is known and written into its packet.
        """
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None or (self._held is not None and pts <= self._held[0].pts):
            self.counts.dropped += 1
            return False
        time_s = float(pts * self.time_base)
        out, planes = self.maker.make(frame)
        self.overlays.draw(planes, time_s)
        out.pts = pts
        out.time_base = self.time_base
        if self._held is not None:
            self._encode(self._held[0], pts - self._held[0].pts)
        self._held = (out, frame.duration or self._default_duration)
        self.counts.last_s = time_s
        return True

    def close(self) -> None:
        """Encode the last frame (with its own duration) and flush the encoder."""
        if self._held is not None:
            self._encode(*self._held)
            self._held = None
        self._mux(self.stream.encode(None))

    def _encode(self, frame: av.VideoFrame, duration: int) -> None:
        self._durations[frame.pts] = duration
        self._mux(self.stream.encode(frame))
        self.maker.release(frame)

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            packet.duration = self._durations.pop(packet.pts, 0)
        self.output.mux(packets)
