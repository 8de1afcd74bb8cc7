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
from yt8m.formats.yt8m_records import Segments, make_frame_record

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


def make_segment_videos(videos: int, classes: int, *, seed: int, rated_classes: int | None = None,
                        segments: int = 4, amplitude: float = 0.5, noise: float = 0.5,
                        prototype_seed: int = 1234
                        ) -> list[tuple[str, np.ndarray, np.ndarray, Segments]]:
    """2019-style videos (id, labels, quantized frames, segment ratings) where the video label misleads.

    A video of class ``c`` (one of the first ``rated_classes``) has ``segments`` 5 s
    segments, each showing either ``c``'s prototype (rated 1 for ``c``), ``c``'s *decoy* (a
    second fixed random pattern that only ever appears in videos of ``c``; rated 0), or
    nothing but noise (not rated); every video has at least one of each of the first two.
    A model trained on video labels learns the decoy as evidence for ``c`` too; only the
    segment ratings tell them apart.
    """
    rng = np.random.default_rng(seed)
    protos = prototypes(classes, prototype_seed)
    decoys = prototypes(classes, prototype_seed + 1)
    out = []
    for v in range(videos):
        c = int(rng.integers(rated_classes or classes))
        kinds = ["positive", "decoy", *rng.choice(["positive", "decoy", "background"], size=segments - 2)]
        kinds = [kinds[i] for i in rng.permutation(segments)]
        x = noise * rng.normal(size=(5 * segments, FEATURES)).astype(np.float32)
        starts, scores = [], []
        for s, kind in enumerate(kinds):
            if kind == "background":
                continue
            x[5 * s:5 * s + 5] += amplitude * (protos[c] if kind == "positive" else decoys[c])
            starts.append(5 * s)
            scores.append(1.0 if kind == "positive" else 0.0)
        rated = Segments(np.full(len(starts), c, np.int64), np.asarray(starts, np.int64),
                         np.asarray(scores, np.float32))
        out.append((f"s{seed}_{v:05d}", np.asarray([c], np.int64), quantize(np.clip(x, -2.0, 2.0)), rated))
    return out


def write_segment_shards(directory: Path, videos: list[tuple[str, np.ndarray, np.ndarray, Segments]],
                         shards: int,
                         prefix: str = "train") -> list[Path]:
    """Write segment-rated ``videos`` round-robin into ``shards`` TFRecord files; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{prefix}{i:04d}.tfrecord" for i in range(shards)]
    for i, path in enumerate(paths):
        records = []
        for vid, labels, q, rated in videos[i::shards]:
            x = dequantize(q)
            records.append(make_frame_record(vid, labels, q[:, :1024], q[:, 1024:], segments=rated,
                                             mean_rgb=x[:, :1024].mean(0), mean_audio=x[:, 1024:].mean(0)
                                             ).SerializeToString())
        write_records(path, records)
    return paths
