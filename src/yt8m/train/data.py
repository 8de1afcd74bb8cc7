"""Streaming training data over YouTube-8M TFRecord shards.

:class:`ShardDataset` is a torch ``IterableDataset``: each reader (a DataLoader worker of one
training process; with several processes, ``rank * num_workers + worker`` of
``world_size * num_workers`` readers) reads its own share of the shards (every
``readers``-th file; with fewer files than readers, every ``readers``-th record of each
file), record by record with checksums verified,
and passes examples through a shuffle buffer of bounded size, so memory holds at most
``shuffle_buffer`` videos per worker whatever the dataset's size. The order depends only
on ``seed``, the epoch and the number of readers, so a run is repeatable and a resumed
run can skip exactly the batches it had already used.

An example is ``(rows, labels, scores)``: ``rows`` float32 [seconds, D] of the chosen features
(frame level: dequantized ``rgb`` then ``audio`` per second, at most ``max_frames``;
video level: one row, ``mean_rgb`` then ``mean_audio``), the label ids, and ``scores``
None. With ``segment_labels`` (2019 segment-rated records) every rated segment is an
example of its own: the rows of its 5 seconds ``[start, start + 5)`` (video level: their
mean), the rated class as its one label, and its rating (1 or 0) as ``scores``; records
without ratings are skipped.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from yt8m.errors import InputError
from yt8m.formats.quantize import dequantize
from yt8m.formats.tfrecord import iter_records
from yt8m.formats.yt8m_records import AUDIO_DIM, RGB_DIM, DatasetRecord, parse_record

log = logging.getLogger(__name__)

Level = Literal["frame", "video"]
FEATURES = ("rgb", "audio", "rgb,audio")
#: The starter code's frame-level reader keeps at most this many seconds (``max_frames``).
MAX_FRAMES = 300

#: Seconds of a 2019 rated segment.
SEGMENT_SECONDS = 5

Example = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], "npt.NDArray[np.float32] | None"]


def expand_shards(patterns: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files named by ``patterns`` (paths or globs, ``**`` allowed), sorted per pattern, no repeats.

    A pattern that matches nothing, a directory, or an empty file is an :class:`InputError`.
    """
    if not patterns:
        raise InputError("no shard given")
    out: list[Path] = []
    seen: set[Path] = set()
    for pattern in patterns:
        text = str(pattern)
        if glob.has_magic(text):
            matched = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matched:
                raise InputError(f"{text}: no file matches this pattern")
        else:
            path = Path(text)
            if path.is_dir():
                raise InputError(f"{path}: is a directory, expected a TFRecord shard (or a glob such as "
                                 f"'{path}/*.tfrecord')")
            if not path.is_file():
                raise InputError(f"{path}: no such file")
            matched = [path]
        for path in matched:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                out.append(path)
    return out


def record_rows(record: DatasetRecord, *, level: Level, features: str, max_frames: int, where: str
                ) -> npt.NDArray[np.float32]:
    """The chosen features of one parsed record as float32 [seconds, D] (video level: [1, D])."""
    want_rgb, want_audio = "rgb" in features, "audio" in features
    if level == "video":
        parts = []
        for wanted, name, value, dim, frames in ((want_rgb, "mean_rgb", record.mean_rgb, RGB_DIM, record.rgb),
                                                 (want_audio, "mean_audio", record.mean_audio, AUDIO_DIM,
                                                  record.audio)):
            if not wanted:
                continue
            if value is None and frames is not None and len(frames):
                value = dequantize(frames).mean(0)  # frame-level record: the mean of its seconds
            if value is None:
                raise InputError(f"{where}: no {name} (nor frames to average) for video-level training")
            if value.shape != (dim,):
                raise InputError(f"{where}: {name} has {value.shape[0]} values, expected {dim}")
            parts.append(np.asarray(value, np.float32))
        return np.concatenate(parts)[None, :]
    parts, lengths = [], []
    for wanted, name, value in ((want_rgb, "rgb", record.rgb), (want_audio, "audio", record.audio)):
        if not wanted:
            continue
        if value is None:
            raise InputError(f"{where}: no {name} frame features (frame-level training needs them; a "
                             f"video-level shard needs --level video)")
        parts.append(value)
        lengths.append(len(value))
    seconds = min(min(lengths), max_frames)
    return np.concatenate([dequantize(p[:seconds]) for p in parts], axis=1)


class ShardDataset(IterableDataset):
    """Examples of YouTube-8M shards, streamed (see the module docstring)."""

    def __init__(self, files: Sequence[str | os.PathLike[str]], *, level: Level, features: str = "rgb,audio",
                 num_classes: int, max_frames: int = MAX_FRAMES, shuffle_buffer: int = 0, seed: int = 0,
                 rank: int = 0, world_size: int = 1, segment_labels: bool = False) -> None:
        if level not in ("frame", "video"):
            raise ValueError(f"Invalid level ({level!r}). Supported values are 'frame', 'video'.")
        if features not in FEATURES:
            raise InputError(f"Invalid features ({features!r}). Supported values are {', '.join(FEATURES)}.")
        self.files = [Path(f) for f in files]
        self.level: Level = level
        self.features = features
        self.num_classes = num_classes
        self.max_frames = max_frames
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.segment_labels = segment_labels
        self.epoch = 0

    @property
    def feature_size(self) -> int:
        return ("rgb" in self.features) * RGB_DIM + ("audio" in self.features) * AUDIO_DIM

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration follows."""
        self.epoch = epoch

    def _check_labels(self, labels: npt.NDArray[np.int64], where: str, what: str = "label") -> None:
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            bad = int(labels.max()) if labels.max() >= self.num_classes else int(labels.min())
            raise InputError(f"{where}: {what} {bad} is out of range for {self.num_classes} classes "
                             f"(see --num-classes)")

    def _segment_examples(self, record: DatasetRecord, where: str) -> Iterator[Example]:
        segments = record.segments
        if segments is None:
            return
        self._check_labels(segments.labels, where, "segment label")
        if record.rgb is None and record.audio is None:
            raise InputError(f"{where}: segment-rated training needs frame features (rgb/audio per second)")
        for label, start, score in zip(segments.labels.tolist(), segments.start_times.tolist(),
                                       segments.scores.tolist(), strict=True):
            cut = slice(max(int(start), 0), max(int(start), 0) + SEGMENT_SECONDS)
            part = DatasetRecord(video_id=record.video_id,
                                 rgb=record.rgb[cut] if record.rgb is not None else None,
                                 audio=record.audio[cut] if record.audio is not None else None)
            if start < 0 or min(len(a) for a in (part.rgb, part.audio) if a is not None) == 0:
                log.warning("%s: segment at %ss lies outside the video's frames; skipped", where, start)
                continue
            rows = record_rows(part, level=self.level, features=self.features, max_frames=self.max_frames,
                               where=f"{where} segment at {start}s")
            yield rows, np.asarray([label], np.int64), np.asarray([score], np.float32)

    def _examples(self, reader: int, readers: int) -> Iterator[Example]:
        files = list(self.files)
        if self.shuffle_buffer > 1:
            np.random.default_rng([self.seed, self.epoch]).shuffle(files)  # type: ignore[arg-type]
        by_file = len(files) >= readers
        mine = files[reader::readers] if by_file else files
        for path in mine:
            for i, (_, data) in enumerate(iter_records(path)):
                if not by_file and i % readers != reader:
                    continue
                where = f"{path} record {i}"
                record = parse_record(data, where=where)
                if self.segment_labels:
                    yield from self._segment_examples(record, f"{where} ({record.video_id!r})")
                    continue
                labels = record.labels
                self._check_labels(labels, f"{where} ({record.video_id!r})")
                rows = record_rows(record, level=self.level, features=self.features,
                                   max_frames=self.max_frames,
                                   where=f"{where} ({record.video_id!r})")
                if rows.shape[0] == 0:
                    log.warning("%s (%r): no frames; skipped", where, record.video_id)
                    continue
                yield rows, labels, None

    def __iter__(self) -> Iterator[Example]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        reader, readers = self.rank * workers + worker, self.world_size * workers
        examples = self._examples(reader, readers)
        if self.shuffle_buffer <= 1:
            yield from examples
            return
        rng = np.random.default_rng([self.seed, self.epoch, reader])
        buffer: list[Example] = []
        for example in examples:
            if len(buffer) < self.shuffle_buffer:
                buffer.append(example)
                continue
            j = int(rng.integers(len(buffer)))
            yield buffer[j]
            buffer[j] = example
        rng.shuffle(buffer)  # type: ignore[arg-type]
        yield from buffer


class Batch:
    """A padded batch: ``features`` [B, T, D], ``num_frames`` [B], 0/1 ``labels`` [B, classes].

    ``label_weights`` [B, classes] (segment-rated batches only) is 1 where a label counts in
    the loss (the rated class of each segment) and 0 elsewhere; None: every class counts.
    """

    def __init__(self, features: torch.Tensor, num_frames: torch.Tensor, labels: torch.Tensor,
                 label_weights: torch.Tensor | None = None) -> None:
        self.features = features
        self.num_frames = num_frames
        self.labels = labels
        self.label_weights = label_weights

    def __len__(self) -> int:
        return int(self.num_frames.shape[0])

    def to(self, device: torch.device) -> Batch:
        nb = device.type == "cuda"
        weights = self.label_weights.to(device, non_blocking=nb) if self.label_weights is not None else None
        return Batch(self.features.to(device, non_blocking=nb), self.num_frames.to(device, non_blocking=nb),
                     self.labels.to(device, non_blocking=nb), weights)

    def pin_memory(self) -> Batch:
        weights = self.label_weights.pin_memory() if self.label_weights is not None else None
        return Batch(self.features.pin_memory(), self.num_frames.pin_memory(), self.labels.pin_memory(),
                     weights)


class Collate:
    """Pads rows to the batch's longest video and makes dense 0/1 labels."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes

    def __call__(self, examples: list[Example]) -> Batch:
        lengths = [rows.shape[0] for rows, _, _ in examples]
        width = max(lengths)
        features = np.zeros((len(examples), width, examples[0][0].shape[1]), np.float32)
        labels = np.zeros((len(examples), self.num_classes), np.float32)
        rated = examples[0][2] is not None
        weights = np.zeros((len(examples), self.num_classes), np.float32) if rated else None
        for i, (rows, ids, scores) in enumerate(examples):
            features[i, :rows.shape[0]] = rows
            if scores is None:
                labels[i, ids] = 1.0
            else:
                assert weights is not None
                labels[i, ids] = scores
                weights[i, ids] = 1.0
        return Batch(torch.from_numpy(features), torch.tensor(lengths, dtype=torch.int64),
                     torch.from_numpy(labels),
                     torch.from_numpy(weights) if weights is not None else None)


def make_loader(dataset: ShardDataset, *, batch_size: int, workers: int,
                device: torch.device) -> DataLoader[Any]:
    """A DataLoader of :class:`Batch` es; ``workers`` reader processes (0: read in this process)."""
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                      collate_fn=Collate(dataset.num_classes),
                      pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None,
                      generator=torch.Generator().manual_seed(dataset.seed))


def check_first_record(files: Sequence[Path]) -> None:
    """Raise :class:`InputError` naming the first file that holds no record (read errors name themselves)."""
    for path in files:
        if next(iter_records(path), None) is None:
            raise InputError(f"{path}: empty shard (it holds no records)")
