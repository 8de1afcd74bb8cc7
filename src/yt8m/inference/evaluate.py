"""``yt8m eval``: the starter code's metrics of a model, or of a submission file, on labelled shards.

With a model, every record is scored whole (the video-level metrics: Hit@1, PERR,
GAP@20, mAP; see :mod:`yt8m.inference.metrics`) and, for 2019-style records with segment
ratings, every 5 s segment (the segment MAP of a ``Class,Segments`` ranking built as
``predict-dataset --segment-submission`` builds it). With a submission file, the file is
scored instead. Videos are accumulated in batches of 1024, as in the starter code's eval.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from yt8m.errors import InputError
from yt8m.inference import submissions
from yt8m.inference.classifiers.base import Classifier
from yt8m.inference.shard_scoring import (
    DatasetOptions,
    RecordFeatures,
    iter_dataset_predictions,
    iter_dataset_records,
)
from yt8m.inference.labels import read_class_ids
from yt8m.inference.metrics import SEGMENT_TOP_N, TOP_K, SegmentRatings, VideoMetrics, segment_map

log = logging.getLogger(__name__)

#: Videos per metrics batch (eval.py's default --batch_size).
EVAL_BATCH = 1024


def dense_labels(labels: npt.NDArray[np.int64], num_classes: int, *, where: str) -> npt.NDArray[np.float32]:
    """0/1 row of ``num_classes`` with the record's labels set; out-of-range labels raise."""
    row = np.zeros(num_classes, np.float32)
    if labels.size:
        if labels.min() < 0 or labels.max() >= num_classes:
            raise InputError(f"{where}: label {int(labels.max())} is out of range for {num_classes} classes")
        row[labels] = 1.0
    return row


class _Batcher:
    """Collects (scores, labels) rows and feeds :class:`VideoMetrics` in batches of ``EVAL_BATCH``."""

    def __init__(self, num_classes: int, top_k: int) -> None:
        self.metrics = VideoMetrics(num_classes, top_k=top_k)
        self.scores: list[npt.NDArray[np.float32]] = []
        self.labels: list[npt.NDArray[np.float32]] = []

    def add(self, scores: npt.NDArray[np.float32], labels: npt.NDArray[np.float32]) -> None:
        self.scores.append(scores)
        self.labels.append(labels)
        if len(self.scores) >= EVAL_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.scores:
            self.metrics.accumulate(np.stack(self.scores), np.stack(self.labels))
            self.scores, self.labels = [], []

    def results(self) -> dict[str, Any] | None:
        self.flush()
        return self.metrics.results() if self.metrics.num_videos else None


def _add_ratings(ratings: SegmentRatings, record: RecordFeatures) -> None:
    if record.segments is not None:
        s = record.segments
        ratings.add(record.video_id, s.labels.tolist(), s.start_times.tolist(), s.scores.tolist())


def _rated_classes(shards: Sequence[str | os.PathLike[str]]) -> list[int]:
    """Every class with a segment rating in ``shards`` (a pass that parses records, no model)."""
    classes: set[int] = set()
    for record in iter_dataset_records(shards):
        if record.segments is not None:
            classes.update(record.segments.labels.tolist())
    return sorted(classes)


def evaluate_model(shards: Sequence[str | os.PathLike[str]], classifier: Classifier, *,
                   whitelist: str | os.PathLike[str] | None = None, segment_top_n: int | None = SEGMENT_TOP_N,
                   top_k: int = TOP_K, batch_frames: int = 8192) -> dict[str, Any]:
    """Metrics of ``classifier`` on ``shards``: ``{"video": {...}, "segments": {...} or None}``.

    The segment ranking offers the ``whitelist`` classes (default: every class with a
    segment rating in the shards, found by a first pass that parses every record; a
    whitelist saves that pass).
    """
    batcher = _Batcher(classifier.num_classes, top_k)
    ratings = SegmentRatings()
    classes = read_class_ids(whitelist) if whitelist else _rated_classes(shards)
    ranking = submissions.SegmentRanking(classes, classifier.num_classes) if classes else None
    options = DatasetOptions(windows=False, video=True, chunks="rated" if ranking else False,
                             batch_frames=batch_frames)
    for prediction in iter_dataset_predictions(shards, classifier, options):
        record = prediction.record
        assert prediction.video_scores is not None
        labels = dense_labels(record.labels, classifier.num_classes, where=record.where)
        batcher.add(prediction.video_scores, labels)
        if ranking is not None and prediction.chunks is not None and prediction.chunk_scores is not None:
            _add_ratings(ratings, record)
            ranking.add(record.video_id, prediction.chunks.starts.tolist(), prediction.chunk_scores)
    segments = None
    if ranking is not None and len(ratings):
        segments = {**segment_map(ranking.ranked(), ratings, top_n=segment_top_n),
                    "rated_segments": len(ratings)}
    return {"shards": [str(s) for s in shards], "model": classifier.describe(), "video": batcher.results(),
            "segments": segments}


def _records(shards: Sequence[str | os.PathLike[str]]) -> Iterable[RecordFeatures]:
    return iter_dataset_records(shards)


def evaluate_submission(shards: Sequence[str | os.PathLike[str]], path: str | os.PathLike[str], *,
                        segment_top_n: int | None = SEGMENT_TOP_N, top_k: int = TOP_K) -> dict[str, Any]:
    """Metrics of a submission file (video- or segment-level, told by its header) on ``shards``."""
    p = Path(path)
    kind = submissions.submission_kind(p)
    result: dict[str, Any] = {"shards": [str(s) for s in shards], "predictions": str(p), "video": None,
                              "segments": None}
    if kind == "segment":
        ranking = submissions.read_segment_submission(p)
        ratings = SegmentRatings()
        for record in _records(shards):
            _add_ratings(ratings, record)
        if not len(ratings):
            raise InputError(f"{p} is a segment submission, but the shards hold no segment ratings "
                             f"(2019-style segment_labels)")
        result["segments"] = {**segment_map(ranking, ratings, top_n=segment_top_n),
                              "rated_segments": len(ratings)}
        return result
    predicted = submissions.read_video_submission(p)
    videos = [(r.video_id, r.labels, r.where) for r in _records(shards)]
    num_classes = 1 + max([max(c, default=-1) for c, _ in predicted.values()]
                          + [int(labels.max()) for _, labels, _ in videos if labels.size] + [0])
    batcher = _Batcher(num_classes, top_k)
    missing = 0
    for video_id, labels, where in videos:
        scores = np.zeros(num_classes, np.float32)
        if video_id in predicted:
            classes, values = predicted[video_id]
            scores[classes] = values
        else:
            missing += 1
        batcher.add(scores, dense_labels(labels, num_classes, where=where))
    if missing:
        log.warning("%s: %d of %d videos of the shards have no line; they count as predicting nothing",
                    p, missing, len(videos))
    result["video"] = batcher.results()
    result["videos_without_predictions"] = missing
    return result
