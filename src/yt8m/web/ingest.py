"""Uploaded and picked videos: received into a private file, hashed, sniffed, stored by content.

An upload streams into a new temporary file of its own (``mkstemp`` in the data
directory), hashed on the way; FFmpeg then says what it really is (the file name's
suffix is never trusted): it must hold a video stream and not be a still image. The
file is stored as ``videos/<job id><suffix>``, where the job id is the first 32 hex
digits of its sha256 and the suffix comes from the probed container, so identical
uploads share one file and different uploads never share any.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from yt8m.errors import InputError
from yt8m.web.errors import TooLarge, UnsupportedType

_CHUNK = 1 << 20
#: Characters of a sha256 hex digest used as job id.
ID_LENGTH = 32
#: FFmpeg demuxers of still images (and text), refused even though they show a "video" stream.
_IMAGE_FORMATS = frozenset({"image2", "gif", "tty", "apng", "webp_pipe"})
#: Container (FFmpeg demuxer name) -> (suffix, MIME type) for the files we store and serve.
_CONTAINERS: dict[str, tuple[str, str]] = {
    "mov,mp4,m4a,3gp,3g2,mj2": (".mp4", "video/mp4"),
    "ogg": (".ogv", "video/ogg"),
    "avi": (".avi", "video/x-msvideo"),
    "mpegts": (".ts", "video/mp2t"),
    "flv": (".flv", "video/x-flv"),
    "asf": (".wmv", "video/x-ms-asf"),
    "mpeg": (".mpg", "video/mpeg"),
}
_WEBM_CODECS = frozenset({"vp8", "vp9", "av1"})


class UnsupportedMedia(UnsupportedType):
    """The bytes are not a video FFmpeg can read."""


class FrameTooLarge(TooLarge):
    """The video's frames hold more pixels than the server's limit (``--max-video-pixels``)."""


class EmptyUpload(InputError):
    """The request carried no bytes."""


@dataclass(frozen=True)
class Staged:
    """A received file waiting to be checked: its temporary path, sha256 and size."""

    path: Path
    sha256: str
    size_bytes: int

    @property
    def job_id(self) -> str:
        return self.sha256[:ID_LENGTH]


@dataclass(frozen=True)
class VideoInfo:
    """What FFmpeg found in a video file, and how we store and serve it."""

    format_name: str
    suffix: str
    media_type: str
    duration_s: float
    has_audio: bool
    width: int | None
    height: int | None


async def receive(chunks: AsyncIterator[bytes], tmp_dir: Path) -> Staged:
    """Write ``chunks`` to a new private file under ``tmp_dir``, hashing them; raise on an empty body.

    The caller removes the file (``Staged.path``) when done with it.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload.", suffix=".part", dir=tmp_dir)
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in chunks:
                if chunk:
                    handle.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        if size == 0:
            raise EmptyUpload("the upload is empty: send the video's bytes as the request body, or as the "
                              "form field 'file'")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Staged(path, digest.hexdigest(), size)


def hash_file(path: Path) -> Staged:
    """Hash an existing file (a pick from the media folder) without copying it."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    if size == 0:
        raise EmptyUpload(f"{path.name}: empty file")
    return Staged(path, digest.hexdigest(), size)


def sniff(path: Path, *, name: str, max_pixels: int | None = None) -> VideoInfo:
    """Probe ``path`` with FFmpeg; raise :class:`UnsupportedMedia` unless it holds a (moving) video,
    and :class:`FrameTooLarge` when its frames hold more than ``max_pixels`` pixels (a small file can
    hold huge frames, and decoding cost grows with them)."""
    from yt8m.media.probe import probe

    try:
        info = probe(path)
    except InputError as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        inner = re.fullmatch(r"not a (?:readable )?media file \((.*)\)", reason)
        reason = inner.group(1) if inner else reason
        raise UnsupportedMedia(f"{name}: not a video FFmpeg can read ({reason})") from None
    fmt = info.format_name
    if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe"):
        raise UnsupportedMedia(f"{name}: a still image ({fmt}), not a video")
    if not info.video_streams:
        raise UnsupportedMedia(f"{name}: holds no video stream (streams: "
                               f"{', '.join(s.kind for s in info.streams) or 'none'})")
    video = info.video_streams[0]
    if max_pixels is not None and video.width and video.height and video.width * video.height > max_pixels:
        raise FrameTooLarge(f"{name}: its frames are {video.width}x{video.height} "
                            f"({video.width * video.height:,} pixels); this server takes at most "
                            f"{max_pixels:,} pixels per frame (--max-video-pixels)")
    if fmt == "matroska,webm":
        suffix, media_type = ((".webm", "video/webm") if video.codec in _WEBM_CODECS
                              else (".mkv", "video/x-matroska"))
    else:
        suffix, media_type = _CONTAINERS.get(fmt, (".video", "application/octet-stream"))
    return VideoInfo(fmt, suffix, media_type, float(info.duration_s), bool(info.audio_streams), video.width,
                     video.height)


def store(staged: Staged, info: VideoInfo, videos_dir: Path) -> Path:
    """Move a staged upload to ``videos/<id><suffix>`` (kept as is when that file already exists)."""
    videos_dir.mkdir(parents=True, exist_ok=True)
    target = videos_dir / f"{staged.job_id}{info.suffix}"
    if target.is_file() and target.stat().st_size == staged.size_bytes:
        staged.path.unlink(missing_ok=True)
    else:
        os.chmod(staged.path, 0o644)
        os.replace(staged.path, target)
    return target


def display_name(name: str | None, *, fallback: str = "video") -> str:
    """A file name fit for showing: base name only, printable, at most 120 characters."""
    if not name:
        return fallback
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C").strip()
    return base[:120] or fallback
