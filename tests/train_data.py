"""Small synthetic YouTube-8M shards whose labels depend on the features in a known way.

Every class ``c`` has a fixed random prototype ``P_c`` (1152 values, rgb then audio,
unit-variance entries). A video gets 1 to ``max_labels`` distinct classes drawn with
Zipf-like frequencies (some classes are common, others rare, as in YouTube-8M), and
each of its seconds is ``amplitude * sum(P_l for l in labels) / sqrt(len(labels)) +
noise * N(0, 1)``, with half the seconds showing only one of its labels (so the frames
differ), clipped to the quantization range and quantized. Records hold both the
quantized frames and the float means, so the same shards serve frame- and video-level
training. The same ``prototype_seed`` gives the same classes, so a validation set drawn
with another ``seed`` follows the same rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from yt8m.formats.quantize import dequantize, quantize
from yt8m.formats.tfrecord import write_records
from yt8m.formats.yt8m_records import make_frame_record

FEATURES = 1152


def prototypes(classes: int, prototype_seed: int = 1234) -> np.ndarray:
    return np.random.default_rng(prototype_seed).normal(size=(classes, FEATURES)).astype(np.float32)


def make_videos(videos: int, classes: int, *, seed: int, amplitude: float = 0.35, noise: float = 0.5,
                frames: tuple[int, int] = (4, 10), max_labels: int = 4, prototype_seed: int = 1234
                ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``videos`` (id, labels, quantized frames [T, 1152] uint8)."""
    rng = np.random.default_rng(seed)
    protos = prototypes(classes, prototype_seed)
    weights = 1.0 / np.arange(1, classes + 1) ** 0.5
    weights /= weights.sum()
    out = []
    for v in range(videos):
        k = int(rng.integers(1, max_labels + 1))
        labels = np.sort(rng.choice(classes, size=k, replace=False, p=weights))
        t = int(rng.integers(frames[0], frames[1] + 1))
        signal = np.repeat((protos[labels].sum(0) / np.sqrt(k))[None], t, axis=0)
        single = rng.random(t) < 0.5
        picks = rng.choice(labels, size=t)
        signal[single] = protos[picks[single]]
        x = amplitude * signal + noise * rng.normal(size=(t, FEATURES)).astype(np.float32)
        out.append((f"v{seed}_{v:05d}", labels.astype(np.int64), quantize(np.clip(x, -2.0, 2.0))))
    return out


def write_shards(directory: Path, videos: list[tuple[str, np.ndarray, np.ndarray]], shards: int,
                 prefix: str = "train") -> list[Path]:
    """Write ``videos`` round-robin into ``shards`` TFRecord files; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{prefix}{i:04d}.tfrecord" for i in range(shards)]
    for i, path in enumerate(paths):
        records = []
        for vid, labels, q in videos[i::shards]:
            x = dequantize(q)
            records.append(make_frame_record(vid, labels, q[:, :1024], q[:, 1024:],
                                             mean_rgb=x[:, :1024].mean(0),
                                             mean_audio=x[:, 1024:].mean(0)).SerializeToString())
        write_records(path, records)
    return paths


def mean_features(videos: list[tuple[str, np.ndarray, np.ndarray]]) -> np.ndarray:
    return np.stack([dequantize(q).mean(0) for _, _, q in videos])


def dense_labels(videos: list[tuple[str, np.ndarray, np.ndarray]], classes: int) -> np.ndarray:
    y = np.zeros((len(videos), classes), np.float32)
    for i, (_, labels, _) in enumerate(videos):
        y[i, labels] = 1
    return y
