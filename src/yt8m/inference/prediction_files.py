"""``yt8m predict-dataset``: dataset windows and submission files from shards.

Per record, the dataset windows (see docs/inference.md, 'Dataset windows'; top 9 labels
each) as one JSON object per line; optionally the starter code's video-level and
segment-level submission files (:mod:`yt8m.inference.submissions`; see docs/inference.md,
'Submissions'). Outputs appear whole or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from yt8m._files import AtomicFile
from yt8m.errors import InputError
from yt8m.inference import submissions
from yt8m.inference.classifiers.base import Classifier
from yt8m.inference.shard_scoring import DatasetOptions, RecordPrediction, iter_dataset_predictions
from yt8m.inference.labels import LabelMap
from yt8m.inference.video_predictions import label_entries, top_k_rows

log = logging.getLogger(__name__)

#: Labels kept per dataset window (the reference's dataset graph keeps 9).
DATASET_TOP_K = 9


def record_windows_json(prediction: RecordPrediction, *, top_k: int,
                        labels: LabelMap | None) -> dict[str, Any]:
    """One record's windows: ``{"time_s", "start_s", "end_s", "labels"}`` each, stamped at their last
    second."""
    record, windows, scores = prediction.record, prediction.windows, prediction.window_scores
    entries = []
    if windows is not None and scores is not None:
        best = top_k_rows(scores, top_k)
        entries = [{"time_s": int(t), "start_s": int(s), "end_s": int(e),
                    "labels": label_entries(row, idx, labels)}
                   for t, s, e, row, idx in zip(windows.stamps.tolist(), windows.starts.tolist(),
                                                windows.ends.tolist(), scores, best, strict=True)]
    return {"shard": record.shard, "record_index": record.index, "video_id": record.video_id,
            "labels": record.labels.tolist(), "num_seconds": record.num_seconds,
            "segment_size": int(windows.lengths[0]) if windows is not None and len(windows) else None,
            "windows": entries, "notes": record.notes}


@dataclass
class DatasetRun:
    """What a run did: records and windows predicted, and the wall time."""

    records: int = 0
    seconds: int = 0
    windows: int = 0
    elapsed_s: float = 0.0

    @property
    def records_per_s(self) -> float:
        return self.records / self.elapsed_s if self.elapsed_s > 0 else float("inf")


class _TextOut:
    """A text stream that is either a caller's (stdout) or an atomic file committed at the end."""

    def __init__(self, stack: ExitStack, target: str | os.PathLike[str] | TextIO) -> None:
        if isinstance(target, (str, os.PathLike)):
            self.file: AtomicFile | None = AtomicFile(Path(target))
            stack.callback(self._discard)
            self.write = lambda text: self.file.handle.write(text.encode("utf-8"))  # type: ignore[union-attr]
        else:
            self.file = None
            self.write = target.write

    def _discard(self) -> None:
        if self.file is not None:
            self.file.discard()

    def commit(self) -> None:
        if self.file is not None:
            self.file.commit()
            self.file = None


def check_outputs(*, top_k: int, windows_out: object, submission: object, segment_submission: object,
                  whitelist: Sequence[int] | None) -> None:
    """Refuse a ``predict-dataset`` call that asks for nothing, a bad top-k, or a segment
    submission without its class whitelist (before any shard is read)."""
    if top_k < 1:
        raise InputError(f"top-k ({top_k}) must be >= 1")
    if windows_out is None and submission is None and segment_submission is None:
        raise InputError("nothing to write: give a windows output, --submission or --segment-submission")
    if segment_submission is not None and not whitelist:
        raise InputError("--segment-submission needs --whitelist FILE (class ids, one per line; the 2019 "
                         "challenge's is segment_label_ids.csv: `yt8m models download segment-label-ids`)")


def predict_dataset(shards: Sequence[str | os.PathLike[str]], classifier: Classifier, *,
                    record_index: int | None = None, segment_size: int = 5, top_k: int = DATASET_TOP_K,
                    labels: LabelMap | None = None,
                    windows_out: str | os.PathLike[str] | TextIO | None = None,
                    submission: str | os.PathLike[str] | None = None,
                    segment_submission: str | os.PathLike[str] | None = None,
                    whitelist: Sequence[int] | None = None, segment_cap: int = submissions.SEGMENT_CAP,
                    batch_frames: int = 8192) -> DatasetRun:
    """Predict every record of ``shards`` (or record ``record_index``) and write the asked outputs.

    ``windows_out`` (a path or a text stream) gets one JSON object per record (see
    :func:`record_windows_json`); ``submission`` the video-level file (top 20 per video);
    ``segment_submission`` the segment-level file over the ``whitelist`` classes (required
    with it), at most ``segment_cap`` segments per class. Files are written atomically;
    on an error none appears.
    """
    check_outputs(top_k=top_k, windows_out=windows_out, submission=submission,
                  segment_submission=segment_submission, whitelist=whitelist)
    ranking = (submissions.SegmentRanking(whitelist or [], classifier.num_classes, cap=segment_cap)
               if segment_submission is not None else None)
    options = DatasetOptions(segment_size=segment_size, windows=windows_out is not None,
                             video=submission is not None, chunks=ranking is not None,
                             batch_frames=batch_frames)
    run = DatasetRun()
    started = time.perf_counter()
    with ExitStack() as stack:
        windows = _TextOut(stack, windows_out) if windows_out is not None else None
        video = _TextOut(stack, submission) if submission is not None else None
        if video is not None:
            video.write(submissions.VIDEO_HEADER + "\n")
        for prediction in iter_dataset_predictions(shards, classifier, options, record_index=record_index):
            run.records += 1
            run.seconds += prediction.record.num_seconds
            if windows is not None:
                entry = record_windows_json(prediction, top_k=top_k, labels=labels)
                run.windows += len(entry["windows"])
                windows.write(json.dumps(entry, ensure_ascii=False) + "\n")
            if video is not None and prediction.video_scores is not None:
                video.write(submissions.video_line(prediction.record.video_id, prediction.video_scores))
            if ranking is not None and prediction.chunks is not None and prediction.chunk_scores is not None:
                ranking.add(prediction.record.video_id, prediction.chunks.starts.tolist(),
                            prediction.chunk_scores)
        if ranking is not None and segment_submission is not None:
            segments = _TextOut(stack, segment_submission)
            ranking.write(segments)  # type: ignore[arg-type]
            segments.commit()
        for out in (windows, video):
            if out is not None:
                out.commit()
    run.elapsed_s = time.perf_counter() - started
    log.info("predicted %d records (%d windows) in %.1f s", run.records, run.windows, run.elapsed_s)
    return run
