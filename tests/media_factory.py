"""Small, deterministic test media made with PyAV (FFmpeg), plus broken inputs.

Every video frame carries its index as 12 black/white 8x8 blocks along the top edge
(most significant bit first), so tests can tell which source frame a decoder chose.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

INDEX_BITS = 12
BLOCK = 8


def frame_image(index: int, width: int, height: int) -> np.ndarray:
    """Return the RGB uint8 picture of frame ``index``: a gradient, a moving square, index bits."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x * 255 // max(width - 1, 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // max(height - 1, 1)).astype(np.uint8)
    img[..., 2] = (index * 7) % 256
    side = max(4, min(width, height) // 5)
    cx = (index * 3) % max(width - side, 1)
    img[height // 2 - side // 2: height // 2 + side // 2, cx: cx + side] = (250, 250, 30)
    if width >= INDEX_BITS * BLOCK and height >= 2 * BLOCK:
        for bit in range(INDEX_BITS):
            on = (index >> (INDEX_BITS - 1 - bit)) & 1
            img[0:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = 255 if on else 0
    return img


def read_frame_index(rgb: np.ndarray) -> int:
    """Recover the index that :func:`frame_image` drew into a decoded frame."""
    value = 0
    for bit in range(INDEX_BITS):
        block = rgb[2:BLOCK - 2, bit * BLOCK + 2:(bit + 1) * BLOCK - 2]
        value = (value << 1) | int(block.mean() > 127)
    return value


@dataclass(frozen=True)
class AudioSpec:
    sample_rate: int = 44100
    layout: str = "stereo"
    codec: str = "aac"
    duration_s: float | None = None  # default: the video's duration
    frequencies_hz: tuple[float, ...] = (440.0, 880.0)
    amplitude: float = 0.5


def _audio_samples(spec: AudioSpec, duration_s: float) -> np.ndarray:
    channels = av.AudioLayout(spec.layout).nb_channels
    n = int(round(duration_s * spec.sample_rate))
    t = np.arange(n) / spec.sample_rate
    rows = [spec.amplitude * np.sin(2 * np.pi * spec.frequencies_hz[c % len(spec.frequencies_hz)] * t)
            for c in range(channels)]
    return np.stack(rows).astype(np.float32)


def _encode_audio(container: av.container.OutputContainer, spec: AudioSpec, duration_s: float) -> None:
    stream = container.add_stream(spec.codec, rate=spec.sample_rate, layout=spec.layout)
    samples = _audio_samples(spec, spec.duration_s if spec.duration_s is not None else duration_s)
    frame_size = stream.codec_context.frame_size or 1024
    fmt = stream.codec_context.format.name
    pts = 0
    packets = []
    for start in range(0, samples.shape[1], frame_size):
        chunk = samples[:, start:start + frame_size]
        if chunk.shape[1] < frame_size and stream.codec_context.frame_size:
            chunk = np.pad(chunk, ((0, 0), (0, frame_size - chunk.shape[1])))
        if fmt.endswith("p"):
            data = chunk if fmt == "fltp" else (chunk * 32767).astype(np.int16)
        else:
            data = (chunk.T.reshape(1, -1) if fmt == "flt"
                    else (chunk.T * 32767).astype(np.int16).reshape(1, -1))
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=spec.layout)
        frame.sample_rate = spec.sample_rate
        frame.pts = pts
        frame.time_base = Fraction(1, spec.sample_rate)
        pts += chunk.shape[1]
        packets += stream.encode(frame)
    packets += stream.encode(None)
    return stream, packets


def make_video(
    path: Path, *, duration_s: float = 3.0, fps: float = 30.0, width: int = 160, height: int = 120,
    codec: str = "libx264", pix_fmt: str = "yuv420p", audio: AudioSpec | None = AudioSpec(),
    frame_times_s: list[float] | None = None, start_s: float = 0.0,
) -> Path:
    """Write a test video; ``frame_times_s`` gives explicit (variable) frame times.

    Frames are numbered from 0 in presentation order; frame ``i`` is shown at
    ``start_s + i / fps`` unless ``frame_times_s`` says otherwise.
    """
    if frame_times_s is None:
        count = int(round(duration_s * fps))
        frame_times_s = [start_s + i / fps for i in range(count)]
    with av.open(str(path), mode="w") as container:
        time_base = Fraction(1, 90000)
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
        if codec == "libx264":
            stream.options = {"threads": "1", "preset": "veryfast", "crf": "18", "bf": "0"}
        elif codec == "libvpx-vp9":
            stream.options = {"threads": "1", "deadline": "realtime", "crf": "20", "b:v": "0",
                              "cpu-used": "8"}
        audio_packets: list = []
        audio_stream = None
        if audio is not None:
            audio_stream, audio_packets = _encode_audio(container, audio, duration_s)
        for i, t in enumerate(frame_times_s):
            frame = av.VideoFrame.from_ndarray(frame_image(i, width, height), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = int(round(t * 90000))
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            container.mux(audio_packets)
    return path


def make_audio_only(path: Path, *, duration_s: float = 2.0, spec: AudioSpec = AudioSpec()) -> Path:
    """Write an audio-only file (the codec and container come from ``spec`` and the suffix)."""
    with av.open(str(path), mode="w") as container:
        _, packets = _encode_audio(container, spec, duration_s)
        container.mux(packets)
    return path


def set_mp4_rotation(path: Path, degrees: int) -> Path:
    """Patch the video track's tkhd display matrix of an mp4 to rotate by ``degrees``."""
    data = bytearray(path.read_bytes())
    pos = data.find(b"tkhd")
    if pos < 0:
        raise ValueError(f"{path}: no tkhd box")
    version = data[pos + 4]
    matrix_at = pos + 4 + (4 + 20 + 8 + 8 if version == 0 else 4 + 32 + 8 + 8)
    one, minus_one = 0x00010000, 0xFFFF0000
    a, b, c, d = {90: (0, one, minus_one, 0), 180: (minus_one, 0, 0, minus_one),
                  270: (0, minus_one, one, 0), 0: (one, 0, 0, one)}[degrees % 360]
    data[matrix_at:matrix_at + 36] = struct.pack(">9I", a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
    return path


def make_broken_inputs(directory: Path, valid_mp4: Path) -> dict[str, Path]:
    """Write the broken inputs: truncated mp4, random bytes .mp4, empty file, text file."""
    directory.mkdir(parents=True, exist_ok=True)
    data = valid_mp4.read_bytes()
    out = {
        "truncated": directory / "truncated.mp4",
        "random": directory / "random.mp4",
        "empty": directory / "empty.mp4",
        "text": directory / "notes.txt",
    }
    out["truncated"].write_bytes(data[: len(data) // 3])
    out["random"].write_bytes(np.random.default_rng(1234).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    out["empty"].write_bytes(b"")
    out["text"].write_text("This is not a video.\nIt is a text file with a few lines.\n")
    return out
