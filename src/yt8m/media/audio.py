"""Audio decoding with PyAV: one audio stream, as mono float32 chunks with their times.

What the reference does (mediapipe/util/audio_decoder.cc, ``AudioDecoder`` and
``AudioPacketProcessor``, driven by ``AudioDecoderCalculator`` with
``audio_stream { stream_index: 0 }``), and what this module reproduces:

* ``stream_index`` N counts audio streams only: N = 0 is the file's first audio stream.
* Samples become floats in [-1, 1): s16 / 32768, s32 / 2^31, float formats as they are
  (the reference accepts s16, s16p, s32, flt and fltp; u8, s32p, dbl and dblp are
  converted the same way here). The C++ reads s16/s32 with ``Load16``/``Load32``,
  which are unsigned, so there negative integer samples would not map to [-1, 0); we
  use the signed value (see docs/audio.md, 'Decoding', and docs/differences.md, 'Decoding').
* Times are counted in samples: the first decoded frame's pts, rescaled to the sample
  rate, starts the count; every frame is stamped with the running count (in
  microseconds, rounded to nearest) and advances it by its sample count. The count is
  re-synchronised to the frame's pts when the two drift apart by more than 5 s
  (``--media_decoder_allowed_audio_gap_merge``). A frame whose stamp does not increase
  is dropped.
* The channels of each frame are averaged to mono in float32 (the graph's
  ``AverageTimeSeriesAcrossChannelsCalculator``: column sum divided by the channel count).
* Clip window: when ``AudioDecoderOptions`` has ``start_time``/``end_time``, the reference
  drops whole decoded frames whose stamp is before the start, and stops at the first
  frame stamped after the end; frames are never cut, so the kept audio begins at the
  first frame stamped at or after the start and may run past the end by up to one frame.
  Note that the youtube8m ``feature_extraction.pbtxt`` passes no window to the audio
  decoder (only the video ``PacketResamplerCalculator`` gets the clip's start and end
  from ``UnpackMediaSequenceCalculator``), so the reference decodes the whole audio
  stream. Here the window is optional and half-open: a frame stamped ``t`` is kept when
  ``start_us <= t < end_us`` (the C++ also keeps a frame stamped exactly ``end``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Self

import av
import numpy as np
import numpy.typing as npt

from yt8m.errors import InputError
from yt8m.media.probe import open_container

#: Largest drift, in microseconds, between counted samples and the stream's pts before
#: the count is reset to the pts (MediaPipe's media_decoder_allowed_audio_gap_merge, 5 s).
AUDIO_GAP_MERGE_US = 5_000_000
#: Decoded frames are gathered into chunks of at least this many seconds of audio.
DEFAULT_CHUNK_S = 1.0

_MICROSECOND = Fraction(1, 1_000_000)
# Scale from integer sample formats to [-1, 1): powers of two, so exact in float32.
_INT_SCALE = {"s16": 2.0 ** -15, "s16p": 2.0 ** -15, "s32": 2.0 ** -31, "s32p": 2.0 ** -31}
_FLOAT_FORMATS = frozenset({"flt", "fltp", "dbl", "dblp"})
_U8_FORMATS = frozenset({"u8", "u8p"})


@dataclass(frozen=True)
class AudioStreamInfo:
    """The audio stream being decoded, as the container declares it."""

    audio_index: int  # N: position among the file's audio streams
    stream_index: int  # index among all the container's streams
    codec: str
    sample_rate: int
    channels: int
    layout: str
    sample_format: str


@dataclass(frozen=True, repr=False)
class AudioChunk:
    """Consecutive mono samples (float32 in [-1, 1)) starting at ``start_us``.

    ``start_us`` is the presentation time of the first sample in microseconds, counted
    in samples from the stream's first frame as the reference does.
    """

    samples: npt.NDArray[np.float32]
    sample_rate: int
    start_us: int

    def __post_init__(self) -> None:
        if not isinstance(self.samples, np.ndarray) or self.samples.dtype != np.float32 \
                or self.samples.ndim != 1:
            got = (f"{self.samples.dtype} array of shape {self.samples.shape}"
                   if isinstance(self.samples, np.ndarray) else type(self.samples).__name__)
            raise ValueError(f"AudioChunk samples must be a 1-D float32 array, got {got}")
        if self.sample_rate <= 0:
            raise ValueError(f"AudioChunk sample_rate must be positive, got {self.sample_rate}")

    @property
    def start_s(self) -> float:
        return self.start_us / 1e6

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def __repr__(self) -> str:
        return (f"AudioChunk(samples=<{self.num_samples} float32>, sample_rate={self.sample_rate}, "
                f"start_us={self.start_us})")


def rescale_rounded(value: int, source: Fraction, target: Fraction) -> int:
    """``value * source / target`` rounded to nearest, halves away from zero (av_rescale_q)."""
    numerator = source.numerator * target.denominator
    denominator = source.denominator * target.numerator
    half = denominator // 2
    if value >= 0:
        return (value * numerator + half) // denominator
    return -((-value * numerator + half) // denominator)


def frame_to_mono(frame: av.AudioFrame) -> npt.NDArray[np.float32]:
    """One decoded frame as mono float32: scaled to [-1, 1), channels averaged."""
    channels = frame.layout.nb_channels
    data = frame.to_ndarray()
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    name = frame.format.name
    if name in _INT_SCALE:
        scaled = data.astype(np.float32) * np.float32(_INT_SCALE[name])
    elif name in _FLOAT_FORMATS:
        scaled = data.astype(np.float32, copy=False)
    elif name in _U8_FORMATS:
        scaled = (data.astype(np.float32) - np.float32(128.0)) * np.float32(2.0 ** -7)
    else:
        raise ValueError(f"unsupported audio sample format {name!r}")
    if channels == 1:
        return np.ascontiguousarray(scaled[0], dtype=np.float32)
    return scaled.sum(axis=0, dtype=np.float32) / np.float32(channels)


def _select_stream(container: av.container.InputContainer, path: Path,
                   audio_stream: int) -> av.audio.stream.AudioStream:
    streams = list(container.streams.audio)
    if not streams:
        raise InputError(f"{path}: has no audio stream")
    if not 0 <= audio_stream < len(streams):
        valid = "0" if len(streams) == 1 else f"0 to {len(streams) - 1}"
        raise InputError(f"{path}: audio stream {audio_stream} requested, but the file has "
                         f"{len(streams)} audio stream{'s' if len(streams) > 1 else ''} (valid: {valid})")
    return streams[audio_stream]


class _SampleClock:
    """The reference's sample-counting timestamps for one audio stream."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._per_sample = Fraction(1, sample_rate)
        self._expected: int = 0  # sample number of the next frame's first sample
        self._frames = 0
        self._last_us: int | None = None

    def stamp(self, frame: av.AudioFrame) -> tuple[int, int] | None:
        """Return ``(time_us, sample_number)`` of ``frame``, or None if it must be dropped."""
        per_sample = self._per_sample
        if frame.pts is not None and frame.time_base is not None:
            pts_samples = rescale_rounded(frame.pts, frame.time_base, per_sample)
            if self._frames == 0:
                self._expected = pts_samples
            else:
                expected_us = rescale_rounded(self._expected, per_sample, _MICROSECOND)
                actual_us = rescale_rounded(frame.pts, frame.time_base, _MICROSECOND)
                if abs(expected_us - actual_us) > AUDIO_GAP_MERGE_US:
                    self._expected = pts_samples
        self._frames += 1
        sample_number = self._expected
        time_us = rescale_rounded(sample_number, per_sample, _MICROSECOND)
        self._expected += frame.samples
        if self._last_us is not None and time_us <= self._last_us:
            return None
        self._last_us = time_us
        return time_us, sample_number


class AudioReader:
    """Decode audio stream ``audio_stream`` (N-th audio stream) of a media file.

    Iterating yields :class:`AudioChunk` objects of at least ``chunk_s`` seconds (the last
    may be shorter), so memory stays bounded however long the file is. ``start_us`` and
    ``end_us`` optionally keep only decoded frames stamped in ``[start_us, end_us)``
    (whole frames, never cut). After the first chunk, :attr:`first_frame_us` is the
    presentation time of the first kept frame: the reference's ``audio_start``.
    """

    def __init__(self, path: str | os.PathLike[str], *, audio_stream: int = 0,
                 start_us: int | None = None, end_us: int | None = None,
                 chunk_s: float = DEFAULT_CHUNK_S) -> None:
        self.path = Path(path)
        if start_us is not None and end_us is not None and end_us <= start_us:
            raise InputError(f"{self.path}: empty clip window [{start_us}, {end_us}) microseconds")
        if chunk_s <= 0:
            raise ValueError(f"chunk_s must be positive, got {chunk_s}")
        self.start_us, self.end_us, self.chunk_s = start_us, end_us, chunk_s
        self._container = open_container(self.path)
        try:
            self._stream = _select_stream(self._container, self.path, audio_stream)
        except InputError:
            self._container.close()
            raise
        ctx = self._stream.codec_context
        self.info = AudioStreamInfo(
            audio_index=audio_stream, stream_index=self._stream.index, codec=ctx.name,
            sample_rate=int(ctx.sample_rate), channels=ctx.layout.nb_channels, layout=ctx.layout.name,
            sample_format=ctx.format.name if ctx.format is not None else "unknown")
        self.first_frame_us: int | None = None
        self._started = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[AudioChunk]:
        return self.chunks()

    def chunks(self) -> Iterator[AudioChunk]:
        """Decode the stream (once) and yield mono chunks in presentation order."""
        if self._started:
            raise RuntimeError(f"{self.path}: AudioReader.chunks() can only be iterated once")
        self._started = True
        clock: _SampleClock | None = None
        parts: list[npt.NDArray[np.float32]] = []
        part_start_us = 0
        next_sample: int | None = None
        buffered = 0
        for frame in self._frames():
            if clock is None:
                clock = _SampleClock(frame.sample_rate)
            elif frame.sample_rate != clock.sample_rate:
                raise InputError(f"{self.path}: audio stream {self.info.audio_index} changes sample rate "
                                 f"from {clock.sample_rate} to {frame.sample_rate} Hz; not supported")
            stamp = clock.stamp(frame)
            if stamp is None or frame.samples == 0:
                continue
            time_us, sample_number = stamp
            if self.start_us is not None and time_us < self.start_us:
                continue
            if self.end_us is not None and time_us >= self.end_us:
                break
            if self.first_frame_us is None:
                self.first_frame_us = time_us
            if parts and (sample_number != next_sample or buffered >= self.chunk_s * clock.sample_rate):
                yield AudioChunk(_join(parts), clock.sample_rate, part_start_us)
                parts, buffered = [], 0
            if not parts:
                part_start_us = time_us
            parts.append(frame_to_mono(frame))
            buffered += frame.samples
            next_sample = sample_number + frame.samples
        if parts:
            yield AudioChunk(_join(parts), clock.sample_rate, part_start_us)

    def _frames(self) -> Iterator[av.AudioFrame]:
        try:
            yield from self._container.decode(self._stream)
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.path}: audio stream {self.info.audio_index}: decoding failed "
                             f"({exc.strerror or exc})") from exc


def _join(parts: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def iter_audio_chunks(path: str | os.PathLike[str], *, audio_stream: int = 0, start_us: int | None = None,
                      end_us: int | None = None, chunk_s: float = DEFAULT_CHUNK_S) -> Iterator[AudioChunk]:
    """Yield the mono chunks of audio stream ``audio_stream`` of ``path`` (see :class:`AudioReader`)."""
    with AudioReader(path, audio_stream=audio_stream, start_us=start_us, end_us=end_us,
                     chunk_s=chunk_s) as reader:
        yield from reader


def decode_audio(path: str | os.PathLike[str], *, audio_stream: int = 0, start_us: int | None = None,
                 end_us: int | None = None) -> AudioChunk:
    """Decode a whole audio stream into one mono chunk (for short files and tests).

    ``start_us`` of the result is the first kept frame's time; a stream with no samples
    gives an empty chunk at the stream's declared sample rate and time 0.
    """
    with AudioReader(path, audio_stream=audio_stream, start_us=start_us, end_us=end_us) as reader:
        chunks = list(reader)
        if not chunks:
            return AudioChunk(np.zeros(0, dtype=np.float32), reader.info.sample_rate, 0)
        return AudioChunk(_join([c.samples for c in chunks]), chunks[0].sample_rate, chunks[0].start_us)
