"""``FeatureSequence``: the features of one video, and their conversion to each output format.

RGB features come one per sampled video second, audio features one per 0.96 s example
stamped ``audio_start + k s`` (see docs/audio.md, 'Examples'). The two streams need not line up: the audio
may start a little earlier or later, be shorter or longer, or be missing. The MediaPipe
output keeps them as they are (as the reference does); the YouTube-8M record format
needs one audio row per video second, so :meth:`FeatureSequence.aligned_audio` aligns on
video seconds: each second takes the free audio example whose stamp is nearest to its
own (within half a second; each example serves one second, the earlier on a tie); seconds
without one get zeros, which in PCA space is the mean
audio embedding; audio examples matching no video second are dropped. What was padded
or dropped is reported in plain words (see docs/alignment.md, 'The rule' and 'Reporting').
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from yt8m._files import atomic_write
from yt8m.errors import InputError
from yt8m.formats.quantize import quantize
from yt8m.formats import mediasequence as ms
from yt8m.formats import protos
from yt8m.formats.yt8m_records import make_frame_record, make_video_record

RGB_DIM = 1024
AUDIO_DIM = 128
_SECOND_US = 1_000_000


@dataclass
class FeatureSequence:
    """The features of one clip: ``rgb`` [T, 1024] and ``audio`` [A, 128] with their times."""

    rgb: npt.NDArray[np.float32]
    rgb_timestamps_us: npt.NDArray[np.int64]
    audio: npt.NDArray[np.float32] | None
    audio_timestamps_us: npt.NDArray[np.int64] | None
    metadata: ms.ClipMetadata | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rgb = np.asarray(self.rgb, np.float32).reshape(-1, RGB_DIM)
        self.rgb_timestamps_us = np.asarray(self.rgb_timestamps_us, np.int64)
        if self.rgb_timestamps_us.shape != (self.rgb.shape[0],):
            raise ValueError(f"{self.rgb.shape[0]} rgb rows but {self.rgb_timestamps_us.shape[0]} timestamps")
        if (self.audio is None) != (self.audio_timestamps_us is None):
            raise ValueError("audio and audio_timestamps_us must both be given or both be None")
        if self.audio is not None:
            self.audio = np.asarray(self.audio, np.float32).reshape(-1, AUDIO_DIM)
            self.audio_timestamps_us = np.asarray(self.audio_timestamps_us, np.int64)
            if self.audio_timestamps_us.shape != (self.audio.shape[0],):
                raise ValueError(f"{self.audio.shape[0]} audio rows but "
                                 f"{self.audio_timestamps_us.shape[0]} timestamps")

    @property
    def num_seconds(self) -> int:
        """Video seconds (RGB rows)."""
        return int(self.rgb.shape[0])

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    def __repr__(self) -> str:
        audio = None if self.audio is None else self.audio.shape
        return f"FeatureSequence(rgb={self.rgb.shape}, audio={audio}, notes={len(self.notes)})"

    # --- alignment -----------------------------------------------------------------------

    def aligned_audio(self) -> tuple[npt.NDArray[np.float32], list[str]]:
        """Audio as one row per video second [T, 128], and what was padded or dropped."""
        t = self.num_seconds
        out = np.zeros((t, AUDIO_DIM), np.float32)
        if self.audio is None or self.audio_timestamps_us is None:
            return out, [f"no audio: all {t} seconds have zero (mean) audio features"] if t else []
        half = _SECOND_US // 2
        order = np.argsort(self.audio_timestamps_us, kind="stable")
        stamps = self.audio_timestamps_us[order]  # ascending
        used = np.zeros(len(self.audio), bool)  # by position in ``order``
        padded = []
        for k, stamp in enumerate(self.rgb_timestamps_us.tolist()):
            # Candidates: the examples stamped within half a second, not taken by an earlier
            # second; the nearest wins, the earlier on a tie. (An audio track starting exactly
            # half a second late then maps every second to the example after it; taking the
            # nearest regardless of use left second 1 without audio and shifted the rest.)
            lo = int(np.searchsorted(stamps, stamp - half, side="left"))
            hi = int(np.searchsorted(stamps, stamp + half, side="right"))
            free = [i for i in range(lo, hi) if not used[i]]
            if not free:
                padded.append(k)
                continue
            i = min(free, key=lambda i: (abs(int(stamps[i]) - stamp), i))
            out[k] = self.audio[order[i]]
            used[i] = True
        notes = []
        if padded:
            notes.append(f"audio padded with zeros (the mean audio embedding) for {len(padded)} of {t} "
                         f"seconds ({_ranges(padded)})")
        dropped = sorted(order[~used].tolist())
        if dropped:
            notes.append(f"dropped {len(dropped)} audio example(s) that no video second took "
                         f"(examples {_ranges(dropped)})")
        return out, notes

    # --- conversions -----------------------------------------------------------------------

    def to_mediapipe(self) -> protos.SequenceExample:
        """The reference ``features.pb`` (see docs/formats.md, 'features.pb'): float features and
        timestamps as extracted."""
        tracks = [ms.FeatureTrack(ms.RGB, self.rgb, self.rgb_timestamps_us)]
        if self.audio is not None and self.audio_timestamps_us is not None:
            tracks.append(ms.FeatureTrack(ms.AUDIO, self.audio, self.audio_timestamps_us))
        return ms.make_features(self.metadata, tracks)

    def to_frame_record(self, video_id: str,
                        labels: list[int] | npt.NDArray[np.int64] = ()) -> protos.SequenceExample:
        """A YouTube-8M frame-level record: quantized, audio aligned on video seconds.

        Its context also holds ``mean_rgb``/``mean_audio`` of the unquantized features,
        so the same record serves the starter code's frame- and video-level readers.
        """
        audio, _ = self.aligned_audio()
        if self.num_seconds == 0:
            raise InputError(f"{self.source}: no video seconds to write")
        self.check_finite()
        return make_frame_record(video_id, list(labels), quantize(self.rgb), quantize(audio),
                                 mean_rgb=self.rgb.mean(0), mean_audio=audio.mean(0))

    def to_video_record(self, video_id: str,
                        labels: list[int] | npt.NDArray[np.int64] = ()) -> protos.Example:
        """A YouTube-8M video-level record: ``mean_rgb``/``mean_audio`` of the unquantized features."""
        audio, _ = self.aligned_audio()
        if self.num_seconds == 0:
            raise InputError(f"{self.source}: no video seconds to average")
        self.check_finite()
        return make_video_record(video_id, list(labels), self.rgb.mean(0), audio.mean(0))

    def check_finite(self, where: str | None = None) -> None:
        """Raise :class:`InputError` naming ``where`` (default: the source video) when a feature
        is NaN or infinite: quantizing would turn those into valid-looking bytes."""
        for name, values in (("rgb", self.rgb), ("audio", self.audio)):
            bad = None if values is None else nonfinite(values)
            if bad is not None:
                raise InputError(f"{where or self.source}: the {name} features hold {bad}")

    @property
    def source(self) -> str:
        return self.metadata.data_path if self.metadata else "features"

    def save_npz(self, path: str | os.PathLike[str]) -> None:
        """Write numpy arrays (``rgb``, ``audio``, timestamps) plus JSON ``metadata``, atomically."""
        meta: dict[str, Any] = {"notes": self.notes, "has_audio": self.has_audio}
        if self.metadata is not None:
            meta.update(data_path=self.metadata.data_path, start_us=self.metadata.start_us,
                        end_us=self.metadata.end_us)
        audio = self.audio if self.audio is not None else np.zeros((0, AUDIO_DIM), np.float32)
        audio_ts = self.audio_timestamps_us if self.audio_timestamps_us is not None else np.zeros(0, np.int64)
        with atomic_write(path) as handle:
            np.savez(handle, rgb=self.rgb, rgb_timestamps_us=self.rgb_timestamps_us, audio=audio,
                     audio_timestamps_us=audio_ts, metadata=np.array(json.dumps(meta)))

    @classmethod
    def load_npz(cls, path: str | os.PathLike[str]) -> FeatureSequence:
        """Read what :meth:`save_npz` wrote."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = json.loads(str(npz["metadata"]))
                if not isinstance(meta, dict):
                    raise ValueError(f"its metadata is a JSON {type(meta).__name__}, not an object")
                clip = (ms.ClipMetadata(meta["data_path"], meta["start_us"], meta["end_us"])
                        if "data_path" in meta else None)
                has_audio = meta.get("has_audio", True)
                return cls(npz["rgb"], npz["rgb_timestamps_us"], npz["audio"] if has_audio else None,
                           npz["audio_timestamps_us"] if has_audio else None, clip,
                           list(meta.get("notes", [])))
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"{path}: not a yt8m features .npz ({type(exc).__name__}: {exc})") from None

    @classmethod
    def from_mediapipe(cls, sequence: protos.SequenceExample, *, where: str) -> FeatureSequence:
        """Read a ``features.pb`` message (as written by the reference or by yt8m)."""
        rgb = ms.get_feature_track(sequence, ms.RGB, where=where)
        if rgb is None:
            raise InputError(f"{where}: no RGB/feature/floats: not a features.pb")
        audio = ms.get_feature_track(sequence, ms.AUDIO, where=where)
        clip = (ms.get_clip_metadata(sequence, where=where)
                if ms.CLIP_DATA_PATH in sequence.context.feature else None)
        notes = [] if audio is not None else [f"{where}: holds no audio features"]
        return cls(rgb.values, rgb.timestamps_us, None if audio is None else audio.values,
                   None if audio is None else audio.timestamps_us, clip, notes)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> FeatureSequence:
        """Read a features.pb or a .npz written by yt8m."""
        p = Path(path)
        if p.suffix == ".npz":
            return cls.load_npz(p)
        return cls.from_mediapipe(ms.read_sequence_example(p), where=str(p))


def nonfinite(values: npt.NDArray[np.floating]) -> str | None:
    """None when every value of ``values`` ([rows, dims]) is finite, else what is not, as
    "N NaN or infinite values (in K rows, the first at row R)"."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    rows = np.flatnonzero(bad.any(axis=1))
    return f"{int(bad.sum())} NaN or infinite values (in {len(rows)} rows, the first at row {int(rows[0])})"


def _ranges(indices: list[int]) -> str:
    """Compact text for sorted indices: [0, 1, 2, 5] -> "0-2, 5"."""
    parts = []
    start = prev = indices[0]
    for i in indices[1:] + [None]:  # type: ignore[list-item]
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts)
