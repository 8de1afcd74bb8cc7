"""The one classifier interface every backend implements.

A classifier maps ``features`` [batch, frames, 1152] float32 (dequantized rgb then
audio, one row per second, unnormalised) and ``num_frames`` [batch] (rows that count;
rows at or beyond it are padding and are ignored) to ``scores`` [batch, classes] float32
in [0, 1]. :meth:`Classifier.predict_spans` runs it over spans of one long feature
array, which lets backends share per-frame work between overlapping windows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

FEATURE_SIZE = 1152
InputLevel = Literal["frame", "video"]


def check_batch(features: npt.ArrayLike, num_frames: npt.ArrayLike, *, feature_size: int = FEATURE_SIZE
                ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Return ``features`` as float32 [B, T, D] and ``num_frames`` as int64 [B], validated.

    Raises ``ValueError`` naming the bad shape or count (a programming error, not a
    user's: the pipelines build these arrays).
    """
    x = np.asarray(features, dtype=np.float32)
    n = np.asarray(num_frames).reshape(-1).astype(np.int64)
    if x.ndim != 3 or x.shape[2] != feature_size:
        raise ValueError(f"features must be [batch, frames, {feature_size}], got {x.shape}")
    if n.shape[0] != x.shape[0]:
        raise ValueError(f"num_frames has {n.shape[0]} entries for a batch of {x.shape[0]}")
    if n.size and (n.min() < 1 or n.max() > x.shape[1]):
        raise ValueError(f"num_frames must be in [1, {x.shape[1]}], got {n.min()} .. {n.max()}")
    return x, n


def span_batch(frames: npt.NDArray[np.float32], starts: npt.NDArray[np.int64],
               lengths: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.float32]:
    """Rows ``frames[start : start + length]`` of each span, zero-padded to ``width``: [S, width, D]."""
    offsets = np.arange(width, dtype=np.int64)
    index = np.minimum(starts[:, None] + offsets[None, :], frames.shape[0] - 1)
    batch = frames[index]
    batch[offsets[None, :] >= lengths[:, None]] = 0.0
    return batch


class Classifier(ABC):
    """features [batch, frames, 1152] + num_frames [batch] -> scores [batch, classes]."""

    #: Number of classes scored.
    num_classes: int
    #: "video" for models trained on video-level (mean) features, "frame" for frame-level
    #: ones, None when the backend cannot tell (a SavedModel).
    input_level: InputLevel | None = None

    @abstractmethod
    def predict(self, features: npt.ArrayLike, num_frames: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Scores [batch, classes] for ``features`` [batch, frames, 1152] and ``num_frames`` [batch]."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-ready facts about the model: kind, path, classes (and family for native models)."""

    def predict_spans(self, frames: npt.ArrayLike, starts: npt.ArrayLike, lengths: npt.ArrayLike, *,
                      width: int | None = None, batch_frames: int = 16384) -> npt.NDArray[np.float32]:
        """Scores [spans, classes] of the spans ``frames[start : start + length]``.

        ``frames`` is [rows, 1152]; each span must lie inside it (spans of several videos
        may share one array as long as none crosses a video's end). Spans are padded to
        ``width`` rows (default: the longest) and scored ``batch_frames`` rows at a time.
        """
        rows = np.asarray(frames, dtype=np.float32)
        s = np.asarray(starts, dtype=np.int64).reshape(-1)
        n = np.asarray(lengths, dtype=np.int64).reshape(-1)
        check_spans(rows, s, n)
        if s.size == 0:
            return np.zeros((0, self.num_classes), np.float32)
        width = int(n.max()) if width is None else width
        if width < n.max():
            raise ValueError(f"width {width} is shorter than the longest span ({n.max()})")
        step = max(1, batch_frames // width)
        out = [self.predict(span_batch(rows, s[i:i + step], n[i:i + step], width), n[i:i + step])
               for i in range(0, s.size, step)]
        return np.concatenate(out, axis=0)

    def close(self) -> None:
        """Release what the backend holds (a worker process, device memory)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_spans(frames: npt.NDArray[np.float32], starts: npt.NDArray[np.int64],
                lengths: npt.NDArray[np.int64]) -> None:
    """Raise ``ValueError`` unless every span is non-empty and inside ``frames`` [rows, D]."""
    if frames.ndim != 2:
        raise ValueError(f"frames must be [rows, features], got {frames.shape}")
    if starts.shape != lengths.shape:
        raise ValueError(f"{starts.shape[0]} starts but {lengths.shape[0]} lengths")
    if starts.size and (lengths.min() < 1 or starts.min() < 0 or (starts + lengths).max() > frames.shape[0]):
        raise ValueError(f"spans must be non-empty and inside the {frames.shape[0]} rows")
