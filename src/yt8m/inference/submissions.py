"""The starter code's submission files: writing and reading them.

* Video level (``inference.py``): header ``VideoId,LabelConfidencePairs``, then one line
  per video, ``id,label score label score ...``: its top 20 classes by descending score,
  scores written with ``%g``.
* Segment level (2019, ``inference.py --segment_labels``): header ``Class,Segments``,
  then one line per class, ``class,vid:start vid:start ...``, best first. Every 5 s
  segment contributes its top 20 whitelisted classes; each class keeps at most
  100,000 segments. Ties in score keep the order segments were seen in.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from yt8m.errors import InputError
from yt8m.inference.metrics import segment_id

VIDEO_HEADER = "VideoId,LabelConfidencePairs"
SEGMENT_HEADER = "Class,Segments"
VIDEO_TOP_K = 20
SEGMENT_TOP_K = 20
SEGMENT_CAP = 100_000


def top_classes(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    """Indices of the ``k`` highest scores, best first (ties: lower index first)."""
    k = min(k, scores.shape[0])
    return np.lexsort((np.arange(scores.shape[0]), -scores))[:k]


def video_line(video_id: str, scores: npt.NDArray[np.float32], *, top_k: int = VIDEO_TOP_K) -> str:
    """One line of a video-level submission (with its newline)."""
    pairs = " ".join(f"{int(c)} {float(scores[c]):g}" for c in top_classes(scores, top_k))
    return f"{video_id},{pairs}\n"


@dataclass
class SegmentRanking:
    """Per class, the best segments seen so far (at most ``cap``), for a ``Class,Segments`` file.

    :meth:`add` takes each segment's scores over all classes; only the ``whitelist``
    classes count, and each segment offers its ``per_segment`` best of them.
    """

    whitelist: Sequence[int]
    num_classes: int
    per_segment: int = SEGMENT_TOP_K
    cap: int = SEGMENT_CAP
    _ids: list[str] = field(default_factory=list)
    _parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int64]]] = field(
        default_factory=list)
    _pending: int = 0

    def __post_init__(self) -> None:
        wl = np.asarray(list(self.whitelist), np.int64)
        if wl.size == 0:
            raise InputError("the whitelist holds no classes")
        if wl.min() < 0 or wl.max() >= self.num_classes:
            bad = wl[(wl < 0) | (wl >= self.num_classes)][0]
            raise InputError(f"whitelisted class {bad} is out of range for a model of {self.num_classes} "
                             "classes")
        self._whitelist = np.unique(wl)

    def add(self, video_id: str, starts_s: Iterable[int], scores: npt.NDArray[np.float32]) -> None:
        """Offer the segments of one video: their start seconds and scores [segments, classes]."""
        starts = list(starts_s)
        if scores.shape != (len(starts), self.num_classes):
            raise ValueError(f"scores {scores.shape} must be [{len(starts)}, {self.num_classes}]")
        self.add_top(video_id, starts, *self.top_segments(scores))

    def top_segments(self, scores: npt.NDArray[np.float32]
                     ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Each segment's ``per_segment`` best whitelisted classes and their scores, [segments, k] each.

        What :meth:`add` keeps of a segment's scores; a worker can send only these
        (:meth:`add_top`) instead of the scores over all classes.
        """
        allowed = scores[:, self._whitelist]
        k = min(self.per_segment, self._whitelist.size)
        if scores.shape[0] == 0:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        best = np.argpartition(-allowed, k - 1, axis=1)[:, :k]
        return self._whitelist[best], np.take_along_axis(allowed, best, 1).astype(np.float32)

    def add_top(self, video_id: str, starts_s: Iterable[int], classes: npt.NDArray[np.int64],
                scores: npt.NDArray[np.float32]) -> None:
        """Offer the segments of one video by what :meth:`top_segments` kept of them."""
        starts = list(starts_s)
        if classes.shape != scores.shape or classes.shape[0] != len(starts):
            raise ValueError(f"classes {classes.shape} and scores {scores.shape} must be [{len(starts)}, k]")
        if not starts:
            return
        first = len(self._ids)
        self._ids.extend(segment_id(video_id, int(s)) for s in starts)
        rows = np.repeat(np.arange(len(starts)), classes.shape[1])
        self._parts.append((np.asarray(classes, np.int64).reshape(-1), np.asarray(scores,
                                                                                  np.float32).reshape(-1),
                            rows + first))
        self._pending += rows.size
        if self._pending > 4 * self.cap + 1_000_000:
            self._prune()

    def _prune(self) -> None:
        """Keep each class's ``cap`` best (score descending, then first seen)."""
        if not self._parts:
            return
        classes = np.concatenate([p[0] for p in self._parts])
        scores = np.concatenate([p[1] for p in self._parts])
        serials = np.concatenate([p[2] for p in self._parts])
        order = np.lexsort((serials, -scores, classes))
        classes, scores, serials = classes[order], scores[order], serials[order]
        starts = np.searchsorted(classes, classes, side="left")
        keep = (np.arange(classes.size) - starts) < self.cap
        self._parts = [(classes[keep], scores[keep], serials[keep])]
        self._pending = 0

    def ranked(self) -> dict[int, list[str]]:
        """Class -> its segment ids, best first (only classes that got a segment)."""
        self._prune()
        if not self._parts:
            return {}
        classes, _, serials = self._parts[0]
        out: dict[int, list[str]] = {}
        bounds = np.flatnonzero(np.diff(classes)) + 1
        for chunk_classes, chunk_serials in zip(np.split(classes, bounds), np.split(serials, bounds),
                                                strict=True):
            if chunk_classes.size:
                out[int(chunk_classes[0])] = [self._ids[i] for i in chunk_serials.tolist()]
        return out

    def write(self, handle: TextIO) -> None:
        """Write the ``Class,Segments`` file, classes in ascending order."""
        handle.write(SEGMENT_HEADER + "\n")
        for label, ids in sorted(self.ranked().items()):  # noqa: FURB122 - any object with write() will do
            handle.write(f"{label},{' '.join(ids)}\n")


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    return text.removeprefix("\ufeff").splitlines()


def submission_kind(path: str | os.PathLike[str]) -> str:
    """``"video"`` or ``"segment"`` from the header line; :class:`InputError` for anything else."""
    p = Path(path)
    lines = _lines(p)
    header = lines[0].strip() if lines else ""
    if header == VIDEO_HEADER:
        return "video"
    if header == SEGMENT_HEADER:
        return "segment"
    raise InputError(f"{p}: not a submission file: the first line is {header[:60]!r}, expected "
                     f"{VIDEO_HEADER!r} or {SEGMENT_HEADER!r}")


def read_video_submission(path: str | os.PathLike[str]) -> dict[str, tuple[list[int], list[float]]]:
    """Video id -> (classes, scores) of a ``VideoId,LabelConfidencePairs`` file."""
    p = Path(path)
    out: dict[str, tuple[list[int], list[float]]] = {}
    for number, line in enumerate(_lines(p)[1:], 2):
        if not line.strip():
            continue
        video_id, sep, pairs = line.rpartition(",")
        fields = pairs.split()
        if not sep or len(fields) % 2:
            raise InputError(f"{p}: line {number}: expected 'id,label score label score ...'")
        try:
            classes = [int(f) for f in fields[0::2]]
            scores = [float(f) for f in fields[1::2]]
        except ValueError:
            raise InputError(f"{p}: line {number}: labels must be integers and scores numbers") from None
        if any(c < 0 for c in classes):
            raise InputError(f"{p}: line {number}: negative class id")
        if video_id in out:
            raise InputError(f"{p}: line {number}: video {video_id!r} appears twice")
        out[video_id] = (classes, scores)
    return out


def read_segment_submission(path: str | os.PathLike[str]) -> dict[int, list[str]]:
    """Class -> segment ids (best first) of a ``Class,Segments`` file."""
    p = Path(path)
    out: dict[int, list[str]] = {}
    for number, line in enumerate(_lines(p)[1:], 2):
        if not line.strip():
            continue
        label, sep, segments = line.partition(",")
        try:
            value = int(label)
        except ValueError:
            raise InputError(f"{p}: line {number}: class {label!r} is not an integer") from None
        if not sep:
            raise InputError(f"{p}: line {number}: expected 'class,vid:start vid:start ...'")
        if value in out:
            raise InputError(f"{p}: line {number}: class {value} appears twice")
        out[value] = segments.split()
    return out
