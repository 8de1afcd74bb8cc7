"""YouTube-8M dataset records, as the released TFRecord shards hold them.

Frame-level records are ``SequenceExample`` messages: context ``id`` (bytes; ``video_id``
in the first release, read too) and
``labels`` (int64), feature lists ``rgb`` (one 1024-byte bytes feature per second)
and ``audio`` (128 bytes per second), quantized (see :mod:`yt8m.formats.quantize`).
Video-level records are ``Example`` messages with ``id``, ``labels`` and float lists
``mean_rgb`` (1024) and ``mean_audio`` (128). The 2019 segment-rated records add
``segment_labels`` (int64), ``segment_start_times`` (int64 seconds) and
``segment_scores`` (float, 0 or 1) to the context.

An ``Example`` parses as a ``SequenceExample`` whose context is its features (same
field number, same type), so one parser reads both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from yt8m.errors import InputError
from yt8m.formats.quantize import dequantize
from yt8m.formats import example as ex
from yt8m.formats import protos
from yt8m.formats.messages import parse_strict

RGB_DIM = 1024
AUDIO_DIM = 128

ID = "id"
#: The id key of the first (2016) release's records.
OLD_ID = "video_id"
LABELS = "labels"
RGB = "rgb"
AUDIO = "audio"
MEAN_RGB = "mean_rgb"
MEAN_AUDIO = "mean_audio"
SEGMENT_LABELS = "segment_labels"
SEGMENT_START_TIMES = "segment_start_times"
SEGMENT_SCORES = "segment_scores"


@dataclass(frozen=True)
class Segments:
    """Segment ratings of a 2019-style record: one entry per rated 5 s segment."""

    labels: npt.NDArray[np.int64]
    start_times: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        n = {len(self.labels), len(self.start_times), len(self.scores)}
        if len(n) != 1:
            raise InputError(
                f"segment fields differ in length: {len(self.labels)} labels, "
                f"{len(self.start_times)} start times, {len(self.scores)} scores"
            )


@dataclass
class DatasetRecord:
    """One video of a YouTube-8M shard (frame-level or video-level)."""

    video_id: str
    labels: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    rgb: npt.NDArray[np.uint8] | None = None
    audio: npt.NDArray[np.uint8] | None = None
    mean_rgb: npt.NDArray[np.float32] | None = None
    mean_audio: npt.NDArray[np.float32] | None = None
    segments: Segments | None = None

    @property
    def level(self) -> Literal["frame", "video"]:
        return "frame" if self.rgb is not None or self.audio is not None else "video"

    @property
    def num_seconds(self) -> int:
        """Number of seconds of frame-level features (0 for video-level records)."""
        return max(len(a) for a in (self.rgb, self.audio) if a is not None) if self.level == "frame" else 0

    def frame_features(self) -> npt.NDArray[np.float32]:
        """Dequantized ``[seconds, 1152]`` features (rgb then audio), as the models take them."""
        if self.rgb is None or self.audio is None:
            raise InputError(f"record {self.video_id!r}: not a frame-level record with rgb and audio")
        return np.concatenate([dequantize(self.rgb), dequantize(self.audio)], axis=1)

    def __repr__(self) -> str:
        shapes = {k: getattr(self, k).shape for k in ("rgb", "audio", "mean_rgb", "mean_audio")
                  if getattr(self, k) is not None}
        return f"DatasetRecord(video_id={self.video_id!r}, labels={self.labels.tolist()}, {shapes})"


def _set_segments(features: protos.Features, segments: Segments | None) -> None:
    if segments is None:
        return
    ex.set_int64(features, SEGMENT_LABELS, segments.labels)
    ex.set_int64(features, SEGMENT_START_TIMES, segments.start_times)
    ex.set_float(features, SEGMENT_SCORES, segments.scores)


def _check_quantized(name: str, values: npt.ArrayLike, dim: int) -> npt.NDArray[np.uint8]:
    arr = np.asarray(values)
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{name} must be uint8 [seconds, {dim}], got {arr.dtype} {arr.shape}")
    return arr


def make_frame_record(
    video_id: str, labels: npt.ArrayLike, rgb: npt.ArrayLike, audio: npt.ArrayLike,
    *, segments: Segments | None = None, mean_rgb: npt.ArrayLike | None = None,
    mean_audio: npt.ArrayLike | None = None,
) -> protos.SequenceExample:
    """Return a frame-level record from quantized ``rgb`` [T, 1024] and ``audio`` [T, 128].

    With ``mean_rgb`` and ``mean_audio`` (float, of the unquantized features) in its
    context too, the record also reads as a video-level ``Example``.
    """
    rgb_q = _check_quantized("rgb", rgb, RGB_DIM)
    audio_q = _check_quantized("audio", audio, AUDIO_DIM)
    record = protos.SequenceExample()
    ex.set_bytes(record.context, ID, [video_id])
    ex.set_int64(record.context, LABELS, labels)
    if mean_rgb is not None:
        ex.set_float(record.context, MEAN_RGB, mean_rgb)
    if mean_audio is not None:
        ex.set_float(record.context, MEAN_AUDIO, mean_audio)
    _set_segments(record.context, segments)
    for name, values in ((RGB, rgb_q), (AUDIO, audio_q)):
        feature_list = record.feature_lists.feature_list[name]
        for row in values:
            feature_list.feature.add().bytes_list.value.append(row.tobytes())
    return record


def make_video_record(
    video_id: str, labels: npt.ArrayLike, mean_rgb: npt.ArrayLike, mean_audio: npt.ArrayLike,
    *, segments: Segments | None = None,
) -> protos.Example:
    """Return a video-level record from float ``mean_rgb`` (1024) and ``mean_audio`` (128)."""
    record = protos.Example()
    ex.set_bytes(record.features, ID, [video_id])
    ex.set_int64(record.features, LABELS, labels)
    ex.set_float(record.features, MEAN_RGB, mean_rgb)
    ex.set_float(record.features, MEAN_AUDIO, mean_audio)
    _set_segments(record.features, segments)
    return record


def _bytes_rows(sequence: protos.SequenceExample, key: str,
                dim: int, where: str) -> npt.NDArray[np.uint8] | None:
    lists = sequence.feature_lists.feature_list
    if key not in lists:
        return None
    rows = []
    for i, feature in enumerate(lists[key].feature):
        values = feature.bytes_list.value
        if len(values) != 1 or len(values[0]) != dim:
            got = [len(v) for v in values]
            raise InputError(f"{where}: {key} second {i} holds byte strings of lengths {got}, expected one "
                             f"of {dim}")
        rows.append(values[0])
    return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), dim)


def parse_record(data: bytes, *, where: str = "record") -> DatasetRecord:
    """Parse one serialized dataset record (frame- or video-level)."""
    sequence = parse_strict(protos.SequenceExample, data, where=where, what="a YouTube-8M record")
    ctx = sequence.context
    id_key = OLD_ID if ID not in ctx.feature and OLD_ID in ctx.feature else ID
    ids = ex.get_bytes(ctx, id_key, where=where)
    if len(ids) != 1:
        raise InputError(f"{where}: {id_key!r} holds {len(ids)} values, expected 1")
    labels = ex.get_int64(ctx, LABELS, where=where) if LABELS in ctx.feature else np.zeros(0, np.int64)
    record = DatasetRecord(video_id=ids[0].decode("utf-8", "replace"), labels=labels)
    record.rgb = _bytes_rows(sequence, RGB, RGB_DIM, where)
    record.audio = _bytes_rows(sequence, AUDIO, AUDIO_DIM, where)
    if MEAN_RGB in ctx.feature:
        record.mean_rgb = ex.get_float(ctx, MEAN_RGB, where=where)
    if MEAN_AUDIO in ctx.feature:
        record.mean_audio = ex.get_float(ctx, MEAN_AUDIO, where=where)
    if SEGMENT_LABELS in ctx.feature:
        record.segments = Segments(
            ex.get_int64(ctx, SEGMENT_LABELS, where=where),
            ex.get_int64(ctx, SEGMENT_START_TIMES, where=where),
            ex.get_float(ctx, SEGMENT_SCORES, where=where),
        )
    return record
