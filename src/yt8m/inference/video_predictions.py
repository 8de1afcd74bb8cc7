"""Predictions for one local video's features: windows and the whole video.

The windows follow docs/inference.md, 'Local windows'; the input, 'Model input' there.

Input is a ``features.pb`` (MediaPipe MediaSequence) or a ``.npz`` written by yt8m, read
as a :class:`~yt8m.features.sequence.FeatureSequence`. Rows are rgb (1024) then audio
(128) per video second; audio is aligned on the video seconds, and where it is missing
zeros (the mean audio embedding in PCA space) are assumed and said so in ``notes``.
A video file must go through extraction first (:func:`load_local_features`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from yt8m.errors import InputError
from yt8m.extraction.options import ExtractOptions
from yt8m.features.sequence import FeatureSequence, nonfinite
from yt8m.inference.classifiers.base import Classifier
from yt8m.inference.labels import LabelMap
from yt8m.inference.windows import local_windows

log = logging.getLogger(__name__)

#: Labels kept per window (the reference keeps 3) and for the whole video (the submission's 20).
WINDOW_TOP_K = 3
VIDEO_TOP_K = 20
_FEATURE_SUFFIXES = (".pb", ".npz")


@dataclass
class LocalFeatures:
    """One video's model input: ``frames`` [seconds, 1152] and each row's time in seconds."""

    frames: npt.NDArray[np.float32]
    times_s: npt.NDArray[np.float64]
    source: str
    has_audio: bool
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.frames.ndim != 2 or self.frames.shape[1] != 1152:
            raise ValueError(f"frames must be [seconds, 1152], got {self.frames.shape}")
        if self.times_s.shape != (self.frames.shape[0],):
            raise ValueError(f"{self.frames.shape[0]} rows but {self.times_s.shape[0]} times")
        bad = nonfinite(self.frames)
        if bad is not None:
            raise InputError(f"{self.source}: the features hold {bad}; they cannot be scored")

    @property
    def num_seconds(self) -> int:
        return int(self.frames.shape[0])

    def __repr__(self) -> str:
        return f"LocalFeatures({self.source!r}, frames={self.frames.shape}, has_audio={self.has_audio})"


def _row_times(stamps_us: npt.NDArray[np.int64], notes: list[str]) -> npt.NDArray[np.float64]:
    count = stamps_us.shape[0]
    if count and (stamps_us.min() < 0 or np.any(np.diff(stamps_us) <= 0)):
        notes.append("the RGB timestamps are missing or not increasing: windows are timed by row index (1 s "
                     "each)")
        return np.arange(count, dtype=np.float64)
    return stamps_us.astype(np.float64) / 1e6


def features_from_sequence(sequence: FeatureSequence, *, source: str) -> LocalFeatures:
    """Turn extracted features into model rows, audio aligned on video seconds."""
    audio, aligned = sequence.aligned_audio()
    notes = list(sequence.notes)
    if sequence.has_audio:
        notes += [n for n in aligned if n not in notes]
    else:
        notes.append("the features hold no audio: audio features were assumed to be zeros (the mean audio "
                     "embedding) for every second")
    frames = np.concatenate([sequence.rgb, audio], axis=1).astype(np.float32)
    return LocalFeatures(frames, _row_times(sequence.rgb_timestamps_us, notes), source,
                         sequence.has_audio, notes)


def _is_video_file(path: Path) -> bool:
    """True for a media file: by its name, or, for names that are not features files, by FFmpeg."""
    from yt8m.media.probe import MEDIA_SUFFIXES

    suffix = path.suffix.lower()
    if suffix in MEDIA_SUFFIXES:
        return True
    if suffix in _FEATURE_SUFFIXES:
        return False
    from yt8m.media.probe import probe

    try:
        return bool(probe(path).video_streams)
    except InputError:
        return False


def check_local_input(path: str | os.PathLike[str]) -> bool:
    """Check that ``path`` can be predicted on, cheaply (before any model is loaded).

    Returns True for a video (to be extracted), False for a features file; a missing
    file, a folder or a video without a video stream is an :class:`InputError`.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a features.pb, a .npz or a video")
    if not _is_video_file(p):
        return False
    from yt8m.media.probe import probe

    if not probe(p).video_streams:
        raise InputError(f"{p}: holds no video stream")
    return True


def load_local_features(path: str | os.PathLike[str], *, extract_options: ExtractOptions | None = None,
                        mirror: str | None = None) -> LocalFeatures:
    """Read ``path`` into model rows: a features.pb or .npz as written, a video extracted first.

    ``extract_options`` says how to extract a video (default options otherwise); missing
    weights are fetched from ``mirror`` when given.
    """
    p = Path(path)
    if check_local_input(p):  # a broken input is said before any weights are fetched
        from yt8m.extraction import extract

        sequence = extract(p, options=extract_options or ExtractOptions(), mirror=mirror)
    else:
        sequence = FeatureSequence.read(p)
    features = features_from_sequence(sequence, source=str(p))
    for note in features.notes:
        log.warning("%s", note if note.startswith(str(p)) else f"{p}: {note}")
    return features


def top_k_rows(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    """Per row of ``scores`` [rows, classes], the ``k`` best classes, best first (ties: lower index first)."""
    k = min(k, scores.shape[1])
    if scores.shape[0] == 0 or k == 0:
        return np.zeros((scores.shape[0], k), np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(scores, part, 1)
    out = np.take_along_axis(part, np.lexsort((part, -values), axis=1), 1)
    # Rows where a class outside the partition ties with the k-th best: pick the lower indices.
    kth = values.min(1)
    for r in np.flatnonzero((scores >= kth[:, None]).sum(1) > k).tolist():
        row = scores[r]
        candidates = np.flatnonzero(row >= kth[r])
        out[r] = candidates[np.lexsort((candidates, -row[candidates]))[:k]]
    return out


def label_entries(scores: npt.NDArray[np.float32], indices: npt.NDArray[np.int64],
                  labels: LabelMap | None) -> list[dict[str, Any]]:
    """``[{"index", "name", "score"}]`` for ``indices`` of one row of scores."""
    return [{"index": int(i), "name": labels.name(int(i)) if labels else None, "score": float(scores[i])}
            for i in indices.tolist()]


def top_labels(scores: npt.NDArray[np.float32], k: int, labels: LabelMap | None) -> list[dict[str, Any]]:
    """The ``k`` best classes of ``scores`` [classes], best first (ties: lower index first)."""
    return label_entries(scores, top_k_rows(scores[None, :], k)[0], labels)


def predict_local(features: LocalFeatures, classifier: Classifier, *, segment_size: int = 5, overlap: int = 4,
                  top_k: int = WINDOW_TOP_K, video_top_k: int = VIDEO_TOP_K, labels: LabelMap | None = None,
                  batch_frames: int = 16384) -> dict[str, Any]:
    """Window and whole-video predictions of one video, JSON-ready.

    Windows follow the local rule (see docs/inference.md, 'Local windows';
    :func:`~yt8m.inference.windows.local_windows`):
    each is ``{"start_s", "end_s", "labels"}`` with ``end_s`` one second past its last
    row; the model sees ``segment_size`` rows and ``num_frames = segment_size``. The
    whole video is one input of every row. Labels are ``{"index", "name", "score"}``.
    """
    if top_k < 1 or video_top_k < 1:
        raise InputError(f"top-k values must be >= 1, got {top_k} and {video_top_k}")
    n = features.num_seconds
    if n == 0:
        raise InputError(f"{features.source}: the features hold no video seconds")
    windows = local_windows(n, segment_size=segment_size, overlap=overlap)
    notes = list(features.notes)
    if len(windows) == 0:
        notes.append(f"the video has {n} seconds, fewer than the segment size ({segment_size}): no windows")
        log.warning("%s: %s", features.source, notes[-1])
    scores = classifier.predict_spans(features.frames, windows.starts, windows.lengths, width=segment_size,
                                      batch_frames=batch_frames)
    whole = classifier.predict_spans(features.frames, [0], [n], batch_frames=batch_frames)[0]
    t = features.times_s
    best = top_k_rows(scores, top_k)
    out_windows = [{"start_s": float(t[s]), "end_s": float(t[s + segment_size - 1]) + 1.0,
                    "labels": label_entries(row, idx, labels)}
                   for s, row, idx in zip(windows.starts.tolist(), scores, best, strict=True)]
    return {
        "input": features.source,
        "model": classifier.describe(),
        "labels_file": labels.source if labels else None,
        "num_seconds": n,
        "audio": "present" if features.has_audio else "missing: assumed zeros (the mean audio embedding)",
        "segment_size": segment_size,
        "overlap": overlap,
        "windows": out_windows,
        "video": {"start_s": float(t[0]), "end_s": float(t[-1]) + 1.0,
                  "labels": top_labels(whole, video_top_k, labels)},
        "notes": notes,
    }


CSV_COLUMNS = ("scope", "start_s", "end_s", "rank", "index", "name", "score")


def predictions_csv(result: dict[str, Any]) -> str:
    """The result of :func:`predict_local` as CSV (one row per label; scope "window" or "video")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    scoped = [("window", w) for w in result["windows"]] + [("video", result["video"])]
    for scope, entry in scoped:
        for rank, label in enumerate(entry["labels"], 1):
            writer.writerow([scope, f"{entry['start_s']:g}", f"{entry['end_s']:g}", rank, label["index"],
                             label["name"] if label["name"] is not None else "", repr(label["score"])])
    return buffer.getvalue()
