"""``yt8m extract`` over many videos: inputs, outputs, resume and failures.

Inputs are video files, directories (searched recursively for media file names) and
manifest CSVs in the starter-code convention (``path,label;label;...``, labels
optional, paths relative to the CSV). Outputs:

* ``mediapipe``: one ``features.pb`` per video (``OUT/<id>.pb``, or ``OUT`` itself for a
  single video whose ``-o`` ends in ``.pb``);
* ``npz``: one ``.npz`` per video, likewise;
* ``yt8m``: TFRecord shards ``OUT/<prefix>-NNNNN.tfrecord`` of ``shard_size`` videos each,
  in input order. Each finished video is first kept as one record in ``OUT/.yt8m-parts/``;
  a shard is written (atomically) once all its videos are done, and its parts deleted.

Every output appears atomically; a rerun skips what is finished (so a run killed
midway resumes and ends with the same files). A video that fails is listed with its
reason on stderr and in ``OUT/failures.csv``; the others go on.
"""

from __future__ import annotations

import csv
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from yt8m._files import atomic_write, write_bytes_atomic
from yt8m.errors import InputError
from yt8m.extraction.scheduler import Extractor, Job, Result
from yt8m.formats.mediasequence import write_message
from yt8m.formats.tfrecord import TFRecordWriter, read_records
from yt8m.extraction.inputs import PARTS_DIR, OutputFormat, VideoInput

log = logging.getLogger(__name__)

FAILURES_FILE = "failures.csv"


@dataclass
class BatchReport:
    """What a batch run did."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    failed_earlier: list[tuple[Path, str]] = field(default_factory=list)  # remembered from a killed run
    outputs: list[Path] = field(default_factory=list)
    video_seconds: int = 0
    notes: list[str] = field(default_factory=list)


# --- outputs ------------------------------------------------------------------------------

def _safe_name(video_id: str) -> str:
    """A file name for an id: path separators and other awkward characters replaced."""
    name = "".join(c if c.isalnum() or c in "-_.=+" else "_" for c in video_id).strip(".")
    return name or "video"


@dataclass
class _Plan:
    fmt: OutputFormat
    out: Path
    single_file: bool
    shard_size: int
    shard_prefix: str

    def video_output(self, video: VideoInput) -> Path:
        suffix = ".pb" if self.fmt == "mediapipe" else ".npz"
        return self.out if self.single_file else self.out / f"{_safe_name(video.video_id)}{suffix}"

    def shard_path(self, shard: int, shards: int) -> Path:
        return self.out / f"{self.shard_prefix}-{shard:05d}-of-{shards:05d}.tfrecord"

    def part_path(self, video: VideoInput) -> Path:
        return self.out / PARTS_DIR / f"{video.index:09d}.rec"

    def failure_path(self, video: VideoInput) -> Path:
        return self.out / PARTS_DIR / f"{video.index:09d}.failed"

    @property
    def failures_file(self) -> Path:
        return (self.out.parent if self.single_file else self.out) / FAILURES_FILE


def run_batch(
    extractor: Extractor, videos: list[VideoInput], *, fmt: OutputFormat, out: Path, workers: int | None = None,
    overwrite: bool = False, shard_size: int = 100, shard_prefix: str = "features",
    start_s: float = 0.0, end_s: float | None = None, progress: bool | None = None,
) -> BatchReport:
    """Extract ``videos`` into ``out`` in format ``fmt``; see the module docstring."""
    if shard_size < 1:
        raise InputError(f"--shard-size must be >= 1, got {shard_size}")
    single_file = fmt != "yt8m" and len(videos) == 1 and out.suffix in (".pb", ".npz")
    plan = _Plan(fmt, out, single_file, shard_size, shard_prefix)
    if not single_file:
        if out.exists() and not out.is_dir():
            raise InputError(f"{out}: exists and is not a directory (needed for {len(videos)} videos "
                             f"in {fmt} format)")
        out.mkdir(parents=True, exist_ok=True)
    report = BatchReport()
    _remove_stale_temporaries(plan, videos)
    shards = (len(videos) + shard_size - 1) // shard_size
    todo = []
    for v in videos:
        if not overwrite and _finished(plan, v, shards):
            report.skipped.append(v.path)
        else:
            todo.append(v)
    start_us = int(round(start_s * 1e6))
    end_us = None if end_s is None else int(round(end_s * 1e6))
    jobs = (Job(v.path, start_us, end_us, key=v) for v in todo)
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(todo), unit="video", disable=not show, desc="extract", dynamic_ncols=True) as bar:
        seconds = tqdm(unit="video-s", disable=not show, position=1, leave=False, desc="frames")

        def on_frames(n: int) -> None:
            seconds.update(n)

        try:
            for result in extractor.run(jobs, workers=workers, on_frames=on_frames):
                _handle(plan, result, report)
                bar.update(1)
                if fmt == "yt8m":
                    report.outputs += _write_complete_shards(plan, videos, shards)
        finally:
            seconds.close()
    if fmt == "yt8m":
        report.outputs += _write_complete_shards(plan, videos, shards)
    _write_failures(plan, videos, report)
    return report


def _remove_stale_temporaries(plan: _Plan, videos: list[VideoInput]) -> None:
    """Delete temporary files a killed run left behind (its unfinished atomic writes).

    Only files this run would write are touched: everything in ``.yt8m-parts/`` that is a
    temporary, unfinished shards of this run's prefix, and ``.<output name>.*.part``
    beside this run's own outputs.
    """
    parts = plan.out / PARTS_DIR
    stale = list(parts.glob(".*.part")) if parts.is_dir() else []
    if plan.fmt == "yt8m" and plan.out.is_dir():
        stale += plan.out.glob(f".{plan.shard_prefix}-*.tfrecord.*.part")
    else:
        for video in videos:
            target = plan.video_output(video)
            stale += target.parent.glob(f".{target.name}.*.part")
    for path in stale:
        path.unlink(missing_ok=True)


def _finished(plan: _Plan, video: VideoInput, shards: int) -> bool:
    if plan.fmt != "yt8m":
        return plan.video_output(video).is_file()
    shard = video.index // plan.shard_size
    return (plan.shard_path(shard, shards).is_file() or plan.part_path(video).is_file()
            or plan.failure_path(video).is_file())


def _handle(plan: _Plan, result: Result, report: BatchReport) -> None:
    video: VideoInput = result.job.key  # type: ignore[assignment]
    if result.error is not None or result.features is None:
        reason = str(result.error)
        report.failed.append((video.path, reason))
        print(f"yt8m: failed: {reason}", file=sys.stderr)
        if plan.fmt == "yt8m":
            write_bytes_atomic(plan.failure_path(video), reason.encode())
        return
    features = result.features
    for note in features.notes:
        log.warning("%s: %s", video.path, note)
    report.notes += [f"{video.path}: {n}" for n in features.notes]
    report.video_seconds += features.num_seconds
    report.done.append(video.path)
    if plan.fmt == "mediapipe":
        path = plan.video_output(video)
        write_message(path, features.to_mediapipe())
        report.outputs.append(path)
    elif plan.fmt == "npz":
        path = plan.video_output(video)
        features.save_npz(path)
        report.outputs.append(path)
    else:
        alignment_notes = features.aligned_audio()[1]
        for note in alignment_notes:
            log.info("%s: %s", video.path, note)
        report.notes += [f"{video.path}: {n}" for n in alignment_notes]
        record = features.to_frame_record(video.video_id, list(video.labels))
        write_bytes_atomic(plan.part_path(video), record.SerializeToString(deterministic=True))


def _write_complete_shards(plan: _Plan, videos: list[VideoInput], shards: int) -> list[Path]:
    written = []
    for shard in range(shards):
        path = plan.shard_path(shard, shards)
        if path.is_file():
            continue
        members = videos[shard * plan.shard_size:(shard + 1) * plan.shard_size]
        if not all(plan.part_path(v).is_file() or plan.failure_path(v).is_file() for v in members):
            continue
        parts = [plan.part_path(v) for v in members if plan.part_path(v).is_file()]
        if not parts:
            continue  # every video of this shard failed: no empty shard (failures.csv says why)
        with TFRecordWriter(path) as writer:
            for part in parts:
                writer.write(part.read_bytes())
        for v in members:
            plan.part_path(v).unlink(missing_ok=True)
        written.append(path)
    return written


def _write_failures(plan: _Plan, videos: list[VideoInput], report: BatchReport) -> None:
    """Rewrite failures.csv with every failure known (this run's and, for shards, earlier ones)."""
    failures = dict((str(p), r) for p, r in report.failed)
    if plan.fmt == "yt8m":
        for v in videos:
            f = plan.failure_path(v)
            if f.is_file() and str(v.path) not in failures:
                failures[str(v.path)] = f.read_text()
                report.failed_earlier.append((v.path, failures[str(v.path)]))
    path = plan.failures_file
    if not failures:
        if path.is_file():
            path.unlink()
        return
    with atomic_write(path) as handle:
        text = "path,reason\n" + "".join(
            _csv_line(p, r) for p, r in sorted(failures.items()))
        handle.write(text.encode("utf-8"))


def _csv_line(path: str, reason: str) -> str:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([path, reason])
    return buffer.getvalue()


def iter_shard_records(out: Path) -> Iterator[bytes]:
    """Every record of the shards in ``out``, in shard order (for checks and tests)."""
    for shard in sorted(out.glob("*.tfrecord")):
        yield from read_records(shard)


def relative_to_cwd(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
