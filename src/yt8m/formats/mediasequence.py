"""MediaPipe MediaSequence files: the input ``metadata.pb`` and the output ``features.pb``.

Both are raw serialized ``tf.train.SequenceExample`` messages (not TFRecords), with
the keys of MediaPipe's ``media_sequence`` library:

* metadata (context only): ``clip/data_path`` (bytes), ``clip/start/timestamp`` and
  ``clip/end/timestamp`` (int64, microseconds);
* features: the metadata context plus, per feature stream ``RGB`` and ``AUDIO``, context
  ``<name>/feature/dimensions`` (int64) and ``<name>/feature/rate`` (float), and
  feature lists ``<name>/feature/floats`` (one float list per step) and
  ``<name>/feature/timestamp`` (one int64, microseconds, per step).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from yt8m._files import read_input_bytes, write_bytes_atomic
from yt8m.errors import InputError
from yt8m.formats import example as ex
from yt8m.formats import protos
from yt8m.formats.messages import parse_strict

CLIP_DATA_PATH = "clip/data_path"
CLIP_START_TIMESTAMP = "clip/start/timestamp"
CLIP_END_TIMESTAMP = "clip/end/timestamp"

RGB = "RGB"
AUDIO = "AUDIO"


def dimensions_key(name: str) -> str:
    return f"{name}/feature/dimensions"


def rate_key(name: str) -> str:
    return f"{name}/feature/rate"


def floats_key(name: str) -> str:
    return f"{name}/feature/floats"


def timestamp_key(name: str) -> str:
    return f"{name}/feature/timestamp"


@dataclass(frozen=True)
class ClipMetadata:
    """What to extract: a video file and the half-open window ``[start_us, end_us)``."""

    data_path: str
    start_us: int
    end_us: int

    def __post_init__(self) -> None:
        if not self.data_path:
            raise InputError("clip metadata: the video path is empty")
        if self.start_us < 0:
            raise InputError(f"clip metadata: start ({self.start_us} us) is negative")
        if self.start_us >= self.end_us:
            raise InputError(
                f"clip metadata: start ({self.start_us / 1e6:g} s) must be before end "
                f"({self.end_us / 1e6:g} s)"
            )


@dataclass(frozen=True)
class FeatureTrack:
    """One MediaSequence feature stream: ``values`` [steps, dims] and their times."""

    name: str
    values: npt.NDArray[np.float32]
    timestamps_us: npt.NDArray[np.int64]
    rate_hz: float = 1.0

    def __post_init__(self) -> None:
        if self.values.ndim != 2:
            raise ValueError(f"{self.name}: values must be [steps, dims], got shape {self.values.shape}")
        if self.timestamps_us.shape != (self.values.shape[0],):
            raise ValueError(
                f"{self.name}: {self.values.shape[0]} steps but {self.timestamps_us.shape[0]} timestamps"
            )

    def __repr__(self) -> str:
        return f"FeatureTrack(name={self.name!r}, values={self.values.shape}, rate_hz={self.rate_hz})"


def set_clip_metadata(sequence: protos.SequenceExample, metadata: ClipMetadata) -> None:
    """Write the three clip keys into ``sequence.context``."""
    ex.set_bytes(sequence.context, CLIP_DATA_PATH, [metadata.data_path])
    ex.set_int64(sequence.context, CLIP_START_TIMESTAMP, [metadata.start_us])
    ex.set_int64(sequence.context, CLIP_END_TIMESTAMP, [metadata.end_us])


def make_metadata(metadata: ClipMetadata) -> protos.SequenceExample:
    """Return the ``metadata.pb`` message for ``metadata``."""
    sequence = protos.SequenceExample()
    set_clip_metadata(sequence, metadata)
    return sequence


def get_clip_metadata(sequence: protos.SequenceExample, *, where: str) -> ClipMetadata:
    """Read the clip keys of ``sequence.context``."""
    ctx = sequence.context
    path = ex.get_bytes(ctx, CLIP_DATA_PATH, where=where)
    start = ex.get_int64(ctx, CLIP_START_TIMESTAMP, where=where)
    end = ex.get_int64(ctx, CLIP_END_TIMESTAMP, where=where)
    if len(path) != 1 or len(start) != 1 or len(end) != 1:
        raise InputError(f"{where}: clip keys must hold exactly one value each")
    return ClipMetadata(path[0].decode("utf-8", "surrogateescape"), int(start[0]), int(end[0]))


def add_feature_track(sequence: protos.SequenceExample, track: FeatureTrack) -> None:
    """Add ``track``'s context keys and feature lists to ``sequence``."""
    ex.set_int64(sequence.context, dimensions_key(track.name), [track.values.shape[1]])
    ex.set_float(sequence.context, rate_key(track.name), [track.rate_hz])
    floats = sequence.feature_lists.feature_list[floats_key(track.name)]
    stamps = sequence.feature_lists.feature_list[timestamp_key(track.name)]
    del floats.feature[:]
    del stamps.feature[:]
    for row, stamp in zip(np.asarray(track.values, np.float32), track.timestamps_us, strict=True):
        floats.feature.add().float_list.value[:] = row.tolist()
        stamps.feature.add().int64_list.value[:] = [int(stamp)]


def get_feature_track(sequence: protos.SequenceExample, name: str, *, where: str) -> FeatureTrack | None:
    """Return the feature stream ``name`` of ``sequence``, or None when it has none."""
    lists = sequence.feature_lists.feature_list
    if floats_key(name) not in lists:
        return None
    rows = [np.asarray(f.float_list.value, np.float32) for f in lists[floats_key(name)].feature]
    dims = {r.shape[0] for r in rows}
    declared = sequence.context.feature.get(dimensions_key(name))
    if declared is not None and declared.int64_list.value:
        dims.add(int(np.prod(declared.int64_list.value)))
    if len(dims) > 1:
        raise InputError(f"{where}: {name} rows have inconsistent dimensions {sorted(dims)}")
    dim = dims.pop() if dims else 0
    values = np.stack(rows) if rows else np.zeros((0, dim), np.float32)
    stamp_list = lists[timestamp_key(name)].feature if timestamp_key(name) in lists else []
    stamps = np.asarray([f.int64_list.value[0] if f.int64_list.value else -1 for f in stamp_list], np.int64)
    if stamps.shape[0] != values.shape[0]:
        raise InputError(f"{where}: {name} has {values.shape[0]} feature rows but {stamps.shape[0]} "
                         "timestamps")
    rate = sequence.context.feature.get(rate_key(name))
    rate_hz = float(rate.float_list.value[0]) if rate is not None and rate.float_list.value else 1.0
    return FeatureTrack(name, values, stamps, rate_hz)


def make_features(
    metadata: ClipMetadata | None, tracks: list[FeatureTrack]
) -> protos.SequenceExample:
    """Return the ``features.pb`` message: clip context (if given) and each track."""
    sequence = protos.SequenceExample()
    if metadata is not None:
        set_clip_metadata(sequence, metadata)
    for track in tracks:
        add_feature_track(sequence, track)
    return sequence


def read_sequence_example(path: str | os.PathLike[str]) -> protos.SequenceExample:
    """Read a raw serialized SequenceExample file (metadata.pb or features.pb)."""
    data = read_input_bytes(path, expected="a SequenceExample file")
    return parse_strict(protos.SequenceExample, data, where=str(path), what="a SequenceExample")


def write_message(path: str | os.PathLike[str], message: object) -> None:
    """Write ``message`` serialized deterministically, atomically, to ``path``."""
    write_bytes_atomic(path, message.SerializeToString(deterministic=True))  # type: ignore[attr-defined]
