"""What a media file holds: streams, codecs and duration, without decoding it all."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from yt8m.errors import InputError


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a media file."""

    index: int
    kind: str  # "video", "audio", ...
    codec: str
    duration_s: float | None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class MediaInfo:
    """A media file's container format, duration and streams."""

    path: Path
    format_name: str
    duration_s: float
    streams: tuple[StreamInfo, ...]

    @property
    def video_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == "video"]

    @property
    def audio_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.kind == "audio"]


#: File name suffixes treated as media when searching directories and reporting errors.
MEDIA_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".flv", ".wmv", ".mpg", ".mpeg", ".ts",
    ".m2ts", ".3gp", ".ogv", ".m4a", ".mp3", ".wav", ".flac", ".ogg", ".opus", ".aac",
})

# FFmpeg formats that accept any file (plain text is shown as an ANSI "video").
_NOT_MEDIA_FORMATS = frozenset({"tty"})


def check_readable_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path if it is an existing, non-empty regular file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a media file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file")
    return p


def open_container(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """Open ``path`` with FFmpeg, turning its failures into :class:`InputError`."""
    p = check_readable_file(path)
    try:
        container = av.open(str(p), mode="r")
    except av.error.FFmpegError as exc:
        raise InputError(f"{p}: not a readable media file ({exc.strerror or exc})") from exc
    if container.format.name in _NOT_MEDIA_FORMATS:
        container.close()
        raise InputError(f"{p}: not a media file (FFmpeg reads it as {container.format.name!r}, i.e. text)")
    return container


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe the media file at ``path``.

    The duration is the container's when it declares one, else the longest stream's;
    a file that declares neither is read packet by packet (no decoding) to find its end.
    """
    with open_container(path) as container:
        streams = []
        for s in container.streams:
            codec = s.codec_context.name if s.codec_context is not None else "unknown"
            info = StreamInfo(index=s.index, kind=s.type, codec=codec,
                              duration_s=_seconds(s.duration, s.time_base))
            if s.type == "video":
                rate = s.average_rate or s.guessed_rate
                info = StreamInfo(**{**info.__dict__, "width": s.codec_context.width,
                                     "height": s.codec_context.height,
                                     "frame_rate": float(rate) if rate else None})
            elif s.type == "audio":
                info = StreamInfo(**{**info.__dict__, "sample_rate": s.codec_context.sample_rate,
                                     "channels": s.codec_context.layout.nb_channels})
            streams.append(info)
        if not any(s.kind in ("video", "audio") for s in streams):
            raise InputError(f"{path}: holds no video or audio stream")
        duration = None
        if container.duration is not None and container.duration > 0:
            duration = container.duration / av.time_base
        else:
            known = [s.duration_s for s in streams if s.duration_s]
            duration = max(known) if known else _scan_duration(container)
        return MediaInfo(Path(path), container.format.name, float(duration), tuple(streams))


def _scan_duration(container: av.container.InputContainer) -> float:
    end = 0.0
    for packet in container.demux():
        if packet.pts is None or packet.time_base is None:
            continue
        stop = packet.pts + (packet.duration or 0)
        end = max(end, float(stop * packet.time_base))
    return end
