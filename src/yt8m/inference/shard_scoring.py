"""Predictions over YouTube-8M dataset shards, streamed and batched across records.

Records are read one at a time (:func:`~yt8m.formats.tfrecord.read_records`), parsed and
dequantized; records are grouped until a batch holds ``batch_frames`` seconds, and each
kind of span (dataset windows, whole videos, 5 s segments) of the whole batch goes to
the classifier together. Predictions come back per record, in shard order.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from yt8m.errors import InputError
from yt8m.formats.quantize import dequantize
from yt8m.formats.tfrecord import iter_records
from yt8m.formats.yt8m_records import AUDIO_DIM, RGB_DIM, DatasetRecord, Segments, parse_record
from yt8m.inference.classifiers.base import Classifier
from yt8m.inference.windows import Windows, dataset_windows, segment_chunks

log = logging.getLogger(__name__)

#: Seconds per 2019 segment.
SEGMENT_SECONDS = 5


@dataclass
class RecordFeatures:
    """One record's model rows: [seconds, 1152] (video-level records: one row of means)."""

    shard: str
    index: int
    video_id: str
    labels: npt.NDArray[np.int64]
    level: str
    frames: npt.NDArray[np.float32]
    segments: Segments | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def num_seconds(self) -> int:
        return int(self.frames.shape[0]) if self.level == "frame" else 0

    @property
    def where(self) -> str:
        return f"{self.shard} record {self.index} ({self.video_id!r})"


@dataclass
class RecordPrediction:
    """What the classifier said about one record. Scores are [spans, classes]."""

    record: RecordFeatures
    windows: Windows | None = None
    window_scores: npt.NDArray[np.float32] | None = None
    video_scores: npt.NDArray[np.float32] | None = None
    chunks: Windows | None = None
    chunk_scores: npt.NDArray[np.float32] | None = None


def record_features(record: DatasetRecord, *, shard: str, index: int) -> RecordFeatures:
    """Dequantize and concatenate a parsed record's features (audio aligned on rgb seconds)."""
    where = f"{shard} record {index} ({record.video_id!r})"
    notes: list[str] = []
    if record.level == "video":
        if record.mean_rgb is None or record.mean_rgb.shape != (RGB_DIM,):
            raise InputError(f"{where}: a video-level record needs mean_rgb of {RGB_DIM} values")
        mean_audio = record.mean_audio
        if mean_audio is None:
            notes.append("no mean_audio: assumed zeros")
            mean_audio = np.zeros(AUDIO_DIM, np.float32)
        elif mean_audio.shape != (AUDIO_DIM,):
            raise InputError(f"{where}: mean_audio has {mean_audio.shape[0]} values, expected {AUDIO_DIM}")
        frames = np.concatenate([record.mean_rgb, mean_audio])[None, :].astype(np.float32)
    else:
        if record.rgb is None:
            raise InputError(f"{where}: holds audio but no rgb features")
        rgb = dequantize(record.rgb)
        audio = np.zeros((rgb.shape[0], AUDIO_DIM), np.float32)
        if record.audio is None:
            notes.append("no audio features: assumed zeros (the mean audio embedding)")
        else:
            have = min(rgb.shape[0], record.audio.shape[0])
            audio[:have] = dequantize(record.audio[:have])
            if record.audio.shape[0] != rgb.shape[0]:
                notes.append(f"{record.audio.shape[0]} audio seconds for {rgb.shape[0]} rgb seconds: aligned "
                             f"on the rgb seconds (extra audio dropped, missing audio zeros)")
        frames = np.concatenate([rgb, audio], axis=1)
    for note in notes:
        log.warning("%s: %s", where, note)
    return RecordFeatures(shard, index, record.video_id, record.labels, record.level, frames, record.segments,
                          notes)


def check_shards(shards: Sequence[str | os.PathLike[str]], *, record_index: int | None = None) -> list[Path]:
    """Raise :class:`InputError` unless every shard exists and holds at least one record."""
    if not shards:
        raise InputError("no shard given")
    if record_index is not None and len(shards) != 1:
        raise InputError(f"--record-index picks a record of one shard; {len(shards)} shards were given")
    paths = [Path(s) for s in shards]
    for path in paths:
        if path.is_dir():
            raise InputError(f"{path}: is a directory, expected a TFRecord shard")
        if next(iter_records(path), None) is None:
            raise InputError(f"{path}: empty shard (it holds no records)")
    return paths


def iter_dataset_records(shards: Sequence[str | os.PathLike[str]], *, record_index: int | None = None
                         ) -> Iterator[RecordFeatures]:
    """Yield every record of ``shards`` in order (or only record ``record_index`` of the one shard)."""
    paths = check_shards(shards, record_index=record_index)
    if record_index is not None and record_index < 0:
        raise InputError(f"--record-index ({record_index}) must be >= 0")
    for path in paths:
        count = 0
        for i, (_, data) in enumerate(iter_records(path)):
            count = i + 1
            if record_index is not None and i != record_index:
                continue
            yield record_features(parse_record(data, where=f"{path} record {i}"), shard=str(path), index=i)
            if record_index is not None:
                return
        if record_index is not None:
            raise InputError(f"{path}: --record-index {record_index} is out of range; the shard holds "
                             f"{count} records (0 .. {count - 1})")


def _check_level(record: RecordFeatures, classifier: Classifier, *, spans: bool) -> None:
    if record.level == "video":
        if spans:
            raise InputError(f"{record.where}: a video-level record (mean features only) has no seconds to "
                             f"cut into windows or segments; use frame-level shards")
        if classifier.input_level == "frame":
            raise InputError(f"{record.where}: a video-level record, and the model is frame-level; use "
                             f"frame-level shards or a video-level model (logistic, moe)")


@dataclass(frozen=True)
class DatasetOptions:
    """What to predict for each record.

    ``windows``: the dataset rule (see docs/inference.md, 'Dataset windows') with
    ``segment_size``; ``video``: the whole record; ``chunks``: consecutive 5 s segments
    ("rated": only records with segment ratings; see docs/inference.md, 'Segment chunks').
    ``batch_frames`` bounds the seconds of features per batch.
    """

    segment_size: int = 5
    windows: bool = True
    video: bool = False
    chunks: bool | str = False
    batch_frames: int = 8192

    def __post_init__(self) -> None:
        if self.segment_size < 1:
            raise InputError(f"segment size ({self.segment_size}) must be at least 1 second")
        if self.chunks not in (True, False, "rated"):
            raise ValueError(f"Invalid chunks ({self.chunks!r}). Supported values are True, False, 'rated'.")
        if self.batch_frames < 1:
            raise ValueError(f"batch_frames ({self.batch_frames}) must be >= 1")


def _wants_chunks(record: RecordFeatures, options: DatasetOptions) -> bool:
    return options.chunks is True or (options.chunks == "rated" and record.segments is not None)


def _spans_scores(classifier: Classifier, frames: npt.NDArray[np.float32], spans: list[tuple[int, Windows]],
                  offsets: list[int], batch_frames: int, *, width: int | None = None
                  ) -> list[npt.NDArray[np.float32]]:
    """Score the spans of several records at once; split back per record.

    Spans are padded to ``width`` rows, or, when None, to their own record's longest
    span (spans of equal width go to the classifier together).
    """
    if not spans:
        return []
    starts = np.concatenate([w.starts + offsets[i] for i, w in spans])
    lengths = np.concatenate([w.lengths for _, w in spans])
    widths = np.concatenate([np.full(len(w), width or (w.lengths.max() if len(w) else 0)) for _, w in spans])
    scores = np.zeros((starts.shape[0], classifier.num_classes), np.float32)
    for padded in np.unique(widths).tolist():
        pick = np.flatnonzero(widths == padded)
        scores[pick] = classifier.predict_spans(frames, starts[pick], lengths[pick], width=int(padded),
                                                batch_frames=batch_frames)
    bounds = np.cumsum([0] + [len(w) for _, w in spans])
    return [scores[bounds[k]:bounds[k + 1]] for k in range(len(spans))]


def _predict_batch(batch: list[RecordFeatures], classifier: Classifier, options: DatasetOptions
                   ) -> list[RecordPrediction]:
    out = [RecordPrediction(r) for r in batch]
    frames = np.concatenate([r.frames for r in batch]) if batch else np.zeros((0, 1152), np.float32)
    offsets = np.cumsum([0] + [r.frames.shape[0] for r in batch]).tolist()
    if options.windows:
        spans = [(i, dataset_windows(r.num_seconds, segment_size=options.segment_size))
                 for i, r in enumerate(batch)]
        for (i, w), s in zip(spans, _spans_scores(classifier, frames, spans, offsets,
                                                  options.batch_frames), strict=True):
            out[i].windows, out[i].window_scores = w, s
    if options.video:
        zero = np.zeros(1, np.int64)
        whole = [(i, Windows(zero, np.full(1, r.frames.shape[0], np.int64), zero))
                 for i, r in enumerate(batch) if r.frames.shape[0] > 0]
        longest = max((r.frames.shape[0] for r in batch), default=0)
        for (i, _), s in zip(whole, _spans_scores(classifier, frames, whole, offsets, options.batch_frames,
                                                  width=longest), strict=True):
            out[i].video_scores = s[0]
        for i, r in enumerate(batch):
            if r.frames.shape[0] == 0:
                log.warning("%s: no seconds of features: its video-level scores are all zero", r.where)
                out[i].video_scores = np.zeros(classifier.num_classes, np.float32)
    wanted = [(i, segment_chunks(r.num_seconds, segment_size=SEGMENT_SECONDS))
              for i, r in enumerate(batch) if _wants_chunks(r, options)]
    for (i, c), s in zip(wanted, _spans_scores(classifier, frames, wanted, offsets, options.batch_frames,
                                               width=SEGMENT_SECONDS), strict=True):
        out[i].chunks, out[i].chunk_scores = c, s
    return out


def iter_dataset_predictions(shards: Sequence[str | os.PathLike[str]], classifier: Classifier,
                             options: DatasetOptions = DatasetOptions(), *, record_index: int | None = None
                             ) -> Iterator[RecordPrediction]:
    """Yield the predictions of every record of ``shards`` (or of record ``record_index``), in order.

    Chunks (2019 segments) are padded to 5 rows with ``num_frames`` the rows they hold,
    as the starter code's inference.py feeds them.
    """
    spans = options.windows or options.chunks is True
    batch: list[RecordFeatures] = []
    seconds = 0
    for record in iter_dataset_records(shards, record_index=record_index):
        _check_level(record, classifier, spans=spans or _wants_chunks(record, options))
        batch.append(record)
        seconds += record.frames.shape[0]
        if seconds >= options.batch_frames:
            yield from _predict_batch(batch, classifier, options)
            batch, seconds = [], 0
    if batch:
        yield from _predict_batch(batch, classifier, options)
