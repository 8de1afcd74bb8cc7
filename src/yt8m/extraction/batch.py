"""``yt8m extract`` over many videos: outputs, reruns and failures.

Outputs, for videos expanded by :mod:`yt8m.extraction.inputs`:

* ``mediapipe``: one ``features.pb`` per video (``OUT/<id>.pb``, or ``OUT`` itself for a
  single video whose ``-o`` ends in ``.pb``);
* ``npz``: one ``.npz`` per video, likewise;
* ``yt8m``: TFRecord shards ``OUT/<prefix>-NNNNN-of-NNNNN.tfrecord`` of ``shard_size``
  videos each, shard k holding the videos at input positions [k*S, (k+1)*S). Each
  finished video is first kept as one record in ``OUT/.yt8m-parts/<key>.rec`` (a failed
  one as ``<key>.failed``); a shard is written, atomically, once all its videos are done.

Reruns never give wrong data. Every part, output and shard is known by the key of what it
was made from (:mod:`yt8m.extraction.identity`: the video file's identity, its id and
labels, the clip window, the feature settings and model versions); the keys of finished
outputs are kept in ``.yt8m-manifest.jsonl`` beside them. A rerun reuses an output or a
part only when its key matches, takes the records of videos that moved to another shard
out of the old shard, redoes everything else, and at the end removes what no longer
belongs: shards of an earlier layout (another shard count or set of videos), parts of
videos no longer among the inputs, and an empty parts folder. ``overwrite`` redoes every
video. One run at a time writes into a folder (a lock file, ``.yt8m.lock``, refuses a
second). A video that fails is listed with its reason in ``failures.csv`` (which names
exactly the current inputs that failed) and reported through ``on_failure``; the others go on.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from yt8m._files import atomic_write, sha256_of, write_bytes_atomic
from yt8m.errors import InputError, Yt8mError
from yt8m.extraction.identity import IDENTITY_CACHE, IdentityCache, file_identity, is_key, work_key
from yt8m.extraction.inputs import (PARTS_DIR, IdFrom, OutputFormat, VideoInput, assign_ids,
                                    check_shard_prefix, collect_inputs, default_output)
from yt8m.extraction.output_lock import output_lock
from yt8m.extraction.scheduler import Extractor, Job, Result
from yt8m.formats.mediasequence import write_message
from yt8m.formats.tfrecord import TFRecordWriter, count_records, read_records

log = logging.getLogger(__name__)

FAILURES_FILE = "failures.csv"
MANIFEST_FILE = ".yt8m-manifest.jsonl"
SWAP_FILE = "swap.json"  #: in the parts folder while a new set of shards replaces the old one
#: Manifest lines of shards waiting in the staging folder are kept under this prefix, apart from
#: the line of the shard of the same name in place.
STAGED = "staged/"
_ANY_SHARD_RE = re.compile(r"(?P<prefix>[A-Za-z0-9][A-Za-z0-9_.=+-]*)-\d{5}-of-\d{5}\.tfrecord")


@dataclass
class BatchReport:
    """What a batch run did. Paths are input videos unless said otherwise."""

    done: list[Path] = field(default_factory=list)  #: extracted by this run
    #: an output or part of the same video and settings existed
    reused: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  #: failed in this run
    #: the same video and settings failed before
    failed_earlier: list[tuple[Path, str]] = field(default_factory=list)
    duplicates: list[Path] = field(default_factory=list)  #: given more than once; extracted once
    outputs: list[Path] = field(default_factory=list)  #: files written by this run
    removed: list[Path] = field(default_factory=list)  #: files of an earlier run that no longer belong
    #: outputs of an earlier run left as they were because every input of this one failed
    kept: list[Path] = field(default_factory=list)
    video_seconds: int = 0
    notes: list[str] = field(default_factory=list)  #: what the videos' extraction noted (logged)
    #: what the user should hear about the run as a whole (inputs given twice, shards of another run)
    warnings: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> list[Path]:
        """Videos not extracted by this run: outputs reused, or failures of the same video and
        settings remembered from an earlier run."""
        return self.reused + [path for path, _ in self.failed_earlier]


@dataclass(frozen=True)
class _Work:
    """One video of this run and the key of its extraction."""

    video: VideoInput
    key: str


class _Manifest:
    """The keys of the finished outputs in one folder: a JSON-lines log, last entry wins.

    An entry is appended after its output is in place, so an output without an entry (a
    run killed in between, or an older yt8m) is never trusted, only redone. Lines a
    killed run left unfinished are ignored. :meth:`compact` rewrites the log atomically.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: cannot read ({exc})") from None
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("output"), str):
                self.entries[entry["output"]] = entry

    def add(self, entry: dict[str, Any]) -> None:
        self.entries[entry["output"]] = entry
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def drop(self, output: str) -> None:
        self.entries.pop(output, None)

    def compact(self) -> None:
        if not self.entries:
            self.path.unlink(missing_ok=True)
            return
        with atomic_write(self.path) as handle:
            handle.write("".join(json.dumps(e, separators=(",", ":")) + "\n"
                                 for e in self.entries.values()).encode("utf-8"))


@dataclass
class _Plan:
    fmt: OutputFormat
    out: Path
    single_file: bool
    shard_size: int
    shard_prefix: str

    @property
    def folder(self) -> Path:
        """The folder the outputs, the manifest, the lock and failures.csv live in."""
        return self.out.parent if self.single_file else self.out

    def video_output(self, video: VideoInput) -> Path:
        suffix = ".pb" if self.fmt == "mediapipe" else ".npz"
        return self.out if self.single_file else self.out / f"{_safe_name(video.video_id)}{suffix}"

    def shard_name(self, shard: int, shards: int) -> str:
        return f"{self.shard_prefix}-{shard:05d}-of-{shards:05d}.tfrecord"

    def is_shard_name(self, name: str) -> bool:
        return re.fullmatch(re.escape(self.shard_prefix) + r"-\d{5}-of-\d{5}\.tfrecord", name) is not None

    @property
    def parts(self) -> Path:
        return self.out / PARTS_DIR

    def part_path(self, key: str) -> Path:
        return self.parts / f"{key}.rec"

    def failure_path(self, key: str) -> Path:
        return self.parts / f"{key}.failed"

    @property
    def staged(self) -> Path:
        """Where new shards wait while shards of an earlier layout are still in place."""
        return self.parts / "staged"

    @property
    def failures_file(self) -> Path:
        return self.folder / FAILURES_FILE


def _safe_name(video_id: str) -> str:
    """A file name for an id: path separators and other awkward characters replaced."""
    name = "".join(c if c.isalnum() or c in "-_.=+" else "_" for c in video_id).strip(".")
    return name or "video"


def is_single_file(fmt: str, videos: int, out: Path) -> bool:
    """True when ``out`` is the one output file of a one-video run (else a folder of outputs)."""
    return fmt != "yt8m" and videos == 1 and out.suffix in (".pb", ".npz")


def prepare_output(out: Path, *, single_file: bool, videos: int, fmt: str) -> None:
    """Check, before any long work, that outputs can be written at ``out``; one-line errors."""
    folder = out.parent if single_file else out
    if single_file and out.is_dir():
        raise InputError(f"{out}: is a directory; give a file name (or a folder without a .pb/.npz suffix)")
    if not single_file and out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory (needed for {videos} videos in {fmt} format)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".yt8m-write-check."):
            pass
    except OSError as exc:
        raise InputError(f"{folder}: cannot write outputs here ({exc.strerror or exc})") from None


@dataclass(frozen=True)
class BatchTarget:
    """What a run extracts and where: the videos with their ids, the format, the output path."""

    videos: list[VideoInput]
    fmt: OutputFormat
    out: Path
    single_file: bool


def plan_batch(inputs: list[Path], *, fmt: OutputFormat | None = None, output: Path | None = None,
               id_from: IdFrom = "stem", shard_prefix: str = "features") -> BatchTarget:
    """Expand ``inputs`` (videos, folders, manifests), give each video its id, choose the
    defaults (``mediapipe`` into ``features.pb`` for one video, ``yt8m`` shards into
    ``features/`` for many) and check, before any weights are loaded or any video decoded,
    everything that can be checked cheaply: the shard prefix, that the output can be
    written, and that a lone video holds a video stream. Raises :class:`InputError`.
    """
    videos = collect_inputs(inputs)
    chosen: OutputFormat = fmt or ("mediapipe" if len(videos) == 1 else "yt8m")
    videos = assign_ids(videos, id_from)
    out = output if output is not None else default_output(videos, chosen)
    single_file = is_single_file(chosen, len(videos), out)
    check_shard_prefix(shard_prefix)
    prepare_output(out, single_file=single_file, videos=len(videos), fmt=chosen)
    if len(videos) == 1:  # many videos: a bad one is listed in failures.csv, the others go on
        from yt8m.media.probe import probe

        if not probe(videos[0].path).video_streams:
            raise InputError(f"{videos[0].path}: holds no video stream")
    return BatchTarget(videos, chosen, out, single_file)


def run_batch(
    extractor: Extractor, videos: list[VideoInput], *, fmt: OutputFormat, out: Path,
    workers: int | None = None,
    overwrite: bool = False, shard_size: int = 100, shard_prefix: str = "features",
    start_s: float = 0.0, end_s: float | None = None, progress: bool | None = None,
    on_failure: Callable[[Path, str], None] | None = None,
) -> BatchReport:
    """Extract ``videos`` into ``out`` in format ``fmt``; see the module docstring.

    ``on_failure(path, reason)`` is called for each video that fails in this run.
    """
    if shard_size < 1:
        raise InputError(f"--shard-size must be >= 1, got {shard_size}")
    check_shard_prefix(shard_prefix)
    single_file = is_single_file(fmt, len(videos), out)
    plan = _Plan(fmt, out, single_file, shard_size, shard_prefix)
    prepare_output(out, single_file=single_file, videos=len(videos), fmt=fmt)
    if fmt != "yt8m":
        _check_distinct_outputs(plan, videos)
    start_us = int(round(start_s * 1e6))
    end_us = None if end_s is None else int(round(end_s * 1e6))
    report = BatchReport()
    with output_lock(plan.folder, file=out if single_file else None):
        settings = extractor.feature_settings()
        # Many videos: their head hashes are kept for the next run (one video: reading it is cheap).
        identities = None if single_file else IdentityCache(plan.folder / IDENTITY_CACHE, trust=not overwrite)
        works = _unique_works(videos, start_us, end_us, settings, report, identities)
        manifest = _Manifest(plan.folder)
        if fmt == "yt8m":
            finish_interrupted_swap(plan, manifest, report)
        _remove_stale_temporaries(plan, works)
        run = _ShardRun(plan, works, manifest, report) if fmt == "yt8m" else _FileRun(plan, works,
                                                                                      manifest, report)
        todo = run.plan_work(overwrite)
        jobs = (Job(w.video.path, start_us, end_us, key=w) for w in todo)
        show = sys.stderr.isatty() if progress is None else progress
        with tqdm(total=len(todo), unit="video", disable=not show, desc="extract",
                  dynamic_ncols=True) as bar, \
                tqdm(unit="video-s", disable=not show, position=1, leave=False, desc="frames") as seconds:
            for result in extractor.run(jobs, workers=workers, on_frames=seconds.update):
                work: _Work = result.job.key  # type: ignore[assignment]
                reason = None if result.features is not None else str(result.error)
                if reason is None:
                    try:  # features that cannot be written as they are (NaN, none) fail this video only
                        result.features.check_finite(str(work.video.path))  # type: ignore[union-attr]
                        run.done(work, result)
                    except Yt8mError as exc:
                        reason = str(exc)
                    else:
                        _note(report, work, result)
                if reason is not None:
                    report.failed.append((work.video.path, reason))
                    if on_failure is not None:
                        on_failure(work.video.path, reason)
                    run.failed(work, reason)
                bar.update(1)
        run.finish()
        _write_failures(plan, report)
        if not single_file:  # one-video runs may share the folder's manifest: they only append
            manifest.compact()
        if identities is not None:
            try:
                identities.save()
            except OSError as exc:  # only a cache: the next run reads the heads again
                log.warning("%s: not saved (%s)", identities.path, exc)
    return report


def _unique_works(videos: list[VideoInput], start_us: int, end_us: int | None, settings: dict[str, Any],
                  report: BatchReport, identities: IdentityCache | None = None) -> list[_Work]:
    """Each video with its key; a video given twice (same file, id and labels) is kept once."""
    works: list[_Work] = []
    seen: set[str] = set()
    for video in videos:
        key = work_key(video=file_identity(video.path, identities), video_id=video.video_id,
                       labels=video.labels, start_us=start_us, end_us=end_us, settings=settings)
        if key in seen:
            report.duplicates.append(video.path)
            continue
        seen.add(key)
        works.append(_Work(video, key))
    if report.duplicates:
        report.warnings.append(f"{len(report.duplicates)} inputs were given more than once and are extracted "
                            "once: "
                            + ", ".join(str(p) for p in report.duplicates[:5])
                            + (" ..." if len(report.duplicates) > 5 else ""))
    return works


def _check_distinct_outputs(plan: _Plan, videos: list[VideoInput]) -> None:
    """One output file per video: two ids that become one file name (``a b`` and ``a_b``) are refused."""
    seen: dict[Path, VideoInput] = {}
    for video in videos:
        path = plan.video_output(video)
        first = seen.setdefault(path, video)
        if first.video_id != video.video_id:
            raise InputError(f"{first.path} and {video.path} would both be written to {path} (ids "
                             f"{first.video_id!r} and {video.video_id!r}); use --id-from hash")


def _note(report: BatchReport, work: _Work, result: Result) -> None:
    features = result.features
    assert features is not None
    for note in features.notes:
        log.warning("%s: %s", work.video.path, note)
    report.notes += [f"{work.video.path}: {n}" for n in features.notes]
    report.video_seconds += features.num_seconds
    report.done.append(work.video.path)


class _FileRun:
    """One output file per video (mediapipe, npz)."""

    def __init__(self, plan: _Plan, works: list[_Work], manifest: _Manifest, report: BatchReport) -> None:
        self.plan, self.works, self.manifest, self.report = plan, works, manifest, report

    def plan_work(self, overwrite: bool) -> list[_Work]:
        """The videos to extract: all with ``overwrite``, else those whose output is missing or
        was made from something else (another video, other settings, or unknown)."""
        todo = []
        for work in self.works:
            path = self.plan.video_output(work.video)
            entry = self.manifest.entries.get(path.name)
            verified = None
            if not overwrite and entry is not None and entry.get("key") == work.key and "size" in entry:
                verified = _verified(path, entry)  # (an entry without a size: its file is redone)
            if verified is not None:
                if verified is not entry:
                    self.manifest.add(verified)
                self.report.reused.append(work.video.path)
            else:
                todo.append(work)
        return todo

    def failed(self, work: _Work, reason: str) -> None:
        pass  # nothing is written for a failed video: an existing output stays as it was

    def done(self, work: _Work, result: Result) -> None:
        features = result.features
        assert features is not None
        path = self.plan.video_output(work.video)
        if self.plan.fmt == "mediapipe":
            write_message(path, features.to_mediapipe())
        else:
            features.save_npz(path)
        self.manifest.add({"output": path.name, "key": work.key, **_stamp(path)})
        self.report.outputs.append(path)

    def finish(self) -> None:
        pass


class _ShardRun:
    """Shards of ``shard_size`` videos, in input order, through parts."""

    def __init__(self, plan: _Plan, works: list[_Work], manifest: _Manifest, report: BatchReport) -> None:
        self.plan, self.works, self.manifest, self.report = plan, works, manifest, report
        self.shards = (len(works) + plan.shard_size - 1) // plan.shard_size
        self.complete: set[int] = set()
        self.shard_of = {w.key: i // plan.shard_size for i, w in enumerate(works)}
        self.failures: dict[str, str] = {}  # key -> reason, for the current videos
        self.staging = False  # new shards go to plan.staged until the whole set can replace the old one
        self.entry_of: dict[int, str] = {}  # complete shard -> its manifest key (name, or STAGED + name)
        self.others = self._other_layouts()

    def members(self, shard: int) -> list[_Work]:
        return self.works[shard * self.plan.shard_size:(shard + 1) * self.plan.shard_size]

    def plan_work(self, overwrite: bool) -> list[_Work]:
        plan = self.plan
        current = {w.key for w in self.works}
        if overwrite:
            self._clear_parts()
        else:
            for shard in range(self.shards):
                name = plan.shard_name(shard, self.shards)
                keys = [w.key for w in self.members(shard)]
                for manifest_key in (name, STAGED + name):  # the shard in place, else one staged
                    entry = self.manifest.entries.get(manifest_key)
                    if entry is None or [m[0] for m in entry.get("members", [])] != keys:
                        continue
                    verified = entry if entry.get("empty") else _verified(self._file_of(manifest_key), entry)
                    if verified is None:
                        continue
                    if verified is not entry:
                        self.manifest.add(verified)
                    self.complete.add(shard)
                    self.entry_of[shard] = manifest_key
                    for key, reason in entry["members"]:
                        if reason is not None:
                            self.failures[key] = reason
                    break
            self._recover_moved_records(current)
        # Existing shard files that this run replaces or removes: while they are there, new shards
        # are staged, so that the folder never shows a mix of the two layouts, even after a kill.
        keep = {self.entry_of[s] for s in self.complete if not self.entry_of[s].startswith(STAGED)}
        self.staging = any(plan.is_shard_name(p.name) and p.name not in keep
                           for p in plan.out.iterdir() if p.is_file()) \
            or any((plan.out / name).is_file() for name in self.others)
        todo = []
        for shard in range(self.shards):
            for work in self.members(shard):
                if shard in self.complete or plan.part_path(work.key).is_file():
                    self._reused(work)
                elif plan.failure_path(work.key).is_file():
                    reason = _read_failure(plan.failure_path(work.key))
                    self.failures[work.key] = reason
                    self.report.failed_earlier.append((work.video.path, reason))
                else:
                    todo.append(work)
        for shard in range(self.shards):
            self._write_shard_if_ready(shard)
        return todo

    def _other_layouts(self) -> list[str]:
        """Shards an earlier run wrote under another ``--shard-prefix`` that are an earlier layout
        of these videos: known from the manifest (a file yt8m did not write is never touched),
        and every record in that prefix's shards is of a video id among this run's (the same
        videos, renamed; with other settings too). A prefix holding records of other ids
        (another split: ``train`` beside ``validate``) is left alone; one holding some of
        these ids too is said in a warning (a glob over the folder would read those twice)."""
        current_ids = {w.video.video_id for w in self.works}
        current_keys = {w.key for w in self.works}
        groups: dict[str, list[str]] = {}
        held: dict[str, set[str]] = {}  # prefix -> ids (or, in older manifests, keys) of its records
        for name, entry in self.manifest.entries.items():
            match = _ANY_SHARD_RE.fullmatch(name)
            if match is None or "members" not in entry or self.plan.is_shard_name(name):
                continue
            groups.setdefault(match["prefix"], []).append(name)
            records = held.setdefault(match["prefix"], set())
            if entry.get("empty") or not (self.plan.out / name).is_file():
                continue  # no records there
            ids = entry.get("ids")
            for i, (key, reason) in enumerate(entry["members"]):
                if reason is None:
                    records.add(f"id:{ids[i]}" if isinstance(ids, list) and i < len(ids) else f"key:{key}")
        current = {f"id:{i}" for i in current_ids} | {f"key:{k}" for k in current_keys}
        earlier = []
        for prefix, names in sorted(groups.items()):
            if held[prefix] <= current:
                earlier += sorted(names)
            elif held[prefix] & current:
                self.report.warnings.append(
                    f"{len(held[prefix] & current)} of these videos are also in the shards {prefix}-* of an "
                    f"earlier run in {self.plan.out}, with other videos; a glob over both reads them twice")
        return earlier

    def _file_of(self, manifest_key: str) -> Path:
        if manifest_key.startswith(STAGED):
            return self.plan.staged / manifest_key[len(STAGED):]
        return self.plan.out / manifest_key

    def _reused(self, work: _Work) -> None:
        reason = self.failures.get(work.key)
        if reason is None:
            self.report.reused.append(work.video.path)
        else:
            self.report.failed_earlier.append((work.video.path, reason))

    def _clear_parts(self) -> None:
        if self.plan.parts.is_dir():
            for path in self.plan.parts.iterdir():
                if path.suffix in (".rec", ".failed"):
                    path.unlink(missing_ok=True)

    def _recover_moved_records(self, current: set[str]) -> None:
        """Turn the records (and failures) of current videos held by shards that will be
        rewritten back into parts, so that moving in the input order costs no extraction."""
        plan = self.plan
        kept = {self.entry_of[s] for s in self.complete}
        for name, entry in list(self.manifest.entries.items()):
            if name in kept or "members" not in entry:
                continue
            members = entry.get("members", [])
            wanted = {key for key, _ in members if key in current and not plan.part_path(key).is_file()}
            if not wanted:
                continue
            for key, reason in members:
                if key in wanted and reason is not None:
                    write_bytes_atomic(plan.failure_path(key), reason.encode("utf-8"))
            records = [key for key, reason in members if reason is None]
            path = self._file_of(name)
            if entry.get("empty") or _verified(path, entry) is None:
                continue
            try:
                for key, record in zip(records, read_records(path), strict=True):
                    if key in wanted:
                        write_bytes_atomic(plan.part_path(key), record)
            except (InputError, ValueError) as exc:  # a damaged old shard: its videos are simply redone
                log.warning("%s: not reused (%s)", path, exc)

    def failed(self, work: _Work, reason: str) -> None:
        self.failures[work.key] = reason
        write_bytes_atomic(self.plan.failure_path(work.key), reason.encode("utf-8"))
        self._write_shard_if_ready(self.shard_of[work.key])

    def done(self, work: _Work, result: Result) -> None:
        features = result.features
        assert features is not None
        alignment_notes = features.aligned_audio()[1]
        for note in alignment_notes:
            log.info("%s: %s", work.video.path, note)
        self.report.notes += [f"{work.video.path}: {n}" for n in alignment_notes]
        video = work.video
        record = features.to_frame_record(video.video_id, list(video.labels))
        write_bytes_atomic(self.plan.part_path(work.key), record.SerializeToString(deterministic=True))
        self._write_shard_if_ready(self.shard_of[work.key])

    def _write_shard_if_ready(self, shard: int) -> None:
        plan = self.plan
        if shard in self.complete:
            return
        members = self.members(shard)
        if not all(plan.part_path(w.key).is_file() or plan.failure_path(w.key).is_file() for w in members):
            return
        entry_members = []
        for w in members:
            reason = None if plan.part_path(w.key).is_file() else self.failures.get(w.key)
            if reason is None and not plan.part_path(w.key).is_file():
                reason = _read_failure(plan.failure_path(w.key))
            entry_members.append([w.key, reason])
        name = plan.shard_name(shard, self.shards)
        parts = [plan.part_path(key) for key, reason in entry_members if reason is None]
        target = (plan.staged if self.staging else plan.out) / name
        if parts:
            with TFRecordWriter(target) as writer:
                for part in parts:
                    writer.write(part.read_bytes())
            self.report.outputs.append(plan.out / name)
        elif not self.staging and target.is_file():  # every video failed: no empty shard file
            target.unlink()
            self.report.removed.append(target)
        manifest_key = STAGED + name if self.staging else name
        entry: dict[str, Any] = {"output": manifest_key, "members": entry_members,
                                 "ids": [w.video.video_id for w in members]}
        if parts:
            entry.update(_stamp(target))
        else:
            entry["empty"] = True
        self.manifest.add(entry)
        self.entry_of[shard] = manifest_key
        for key, _ in entry_members:
            plan.part_path(key).unlink(missing_ok=True)
            plan.failure_path(key).unlink(missing_ok=True)
        self.complete.add(shard)

    def finish(self) -> None:
        """Once every shard is written, put the new set in place of the old one and remove what
        belongs to no current shard (see :func:`_swap`)."""
        plan = self.plan
        if len(self.complete) < self.shards:
            return  # interrupted: the next run completes the set, then cleans up
        current = {plan.shard_name(s, self.shards) for s in range(self.shards)}
        entries = [self.manifest.entries[self.entry_of[s]] for s in range(self.shards)]
        if self.staging and not any(reason is None for e in entries for _, reason in e["members"]):
            self._keep_earlier()
            return
        others = set(self.others)
        swap = {
            "remove": sorted(p.name for p in plan.out.iterdir() if p.is_file() and p.name not in current
                             and (plan.is_shard_name(p.name) or p.name in others)),
            "drop": sorted(n for n in self.manifest.entries if n.startswith(STAGED) or (
                n not in current and (plan.is_shard_name(n) or n in others))),
            "install": [{**e, "output": e["output"][len(STAGED):]} for e in entries
                        if e["output"].startswith(STAGED)],
        }
        journal = plan.parts / SWAP_FILE
        if swap["remove"] or swap["install"]:
            write_bytes_atomic(journal, json.dumps(swap).encode("utf-8"))
        _swap(plan, swap, self.manifest, self.report)
        journal.unlink(missing_ok=True)
        self._clean_parts()

    def _keep_earlier(self) -> None:
        """Every input of this run failed: the shards already there stay as they were, with their
        manifest lines (a run replaces outputs only by complete, valid ones); failures.csv says
        what failed."""
        plan = self.plan
        for key in [k for k in self.manifest.entries if k.startswith(STAGED)]:
            self._file_of(key).unlink(missing_ok=True)
            self.manifest.drop(key)
        self.report.kept = sorted(p for p in plan.out.iterdir() if p.is_file()
                                  and (plan.is_shard_name(p.name) or p.name in self.others))
        self._clean_parts()

    def _clean_parts(self) -> None:
        """Once the set in place is whole: remove the parts and what is left in the staging folder
        (a shard a killed run staged but never recorded is of no use now)."""
        plan = self.plan
        if plan.staged.is_dir():
            for path in plan.staged.iterdir():
                if path.is_file():
                    path.unlink()
            with contextlib.suppress(OSError):
                plan.staged.rmdir()
        if plan.parts.is_dir():
            for path in plan.parts.iterdir():
                if path.suffix in (".rec", ".failed") and is_key(path.stem):
                    path.unlink(missing_ok=True)
                    self.report.removed.append(path)
            with contextlib.suppress(OSError):
                plan.parts.rmdir()  # only when empty


def _swap(plan: _Plan, swap: dict[str, Any], manifest: _Manifest, report: BatchReport) -> None:
    """Put a new set of shards in place of the old one: remove the old set's files, move the
    staged ones in, and record it in the manifest.

    Every step can be done again, so a run killed in the middle leaves the journal
    (``.yt8m-parts/swap.json``, written before the first step) and the next run in the
    folder finishes the swap before anything else: once it has, the folder holds the whole
    old set or the whole new one. (Between the kill and that run, and for a reader listing
    the folder during the few renames of a swap, part of each; readers must not run beside
    a writer.)
    """
    for name in swap["remove"]:
        path = plan.out / name
        if path.is_file():
            path.unlink()
            report.removed.append(path)
    for name in swap["drop"]:
        manifest.drop(name)
    for entry in swap["install"]:
        name = entry["output"]
        if entry.get("empty"):
            if (plan.out / name).is_file():
                (plan.out / name).unlink()
                report.removed.append(plan.out / name)
        elif (plan.staged / name).is_file():
            os.replace(plan.staged / name, plan.out / name)
        manifest.add(entry)


def _is_swap(swap: object) -> bool:
    """True for a journal :func:`_swap` can carry out: shard file names only (no path)."""
    if not isinstance(swap, dict) or not all(isinstance(swap.get(k), list)
                                             for k in ("remove", "drop", "install")):
        return False
    if not all(isinstance(e, dict) and isinstance(e.get("members"), list)
               and all(isinstance(m, list) and len(m) == 2 and isinstance(m[0], str)
                       and isinstance(m[1], (str, type(None))) for m in e["members"])
               for e in swap["install"]):
        return False
    drops = [n[len(STAGED):] if isinstance(n, str) and n.startswith(STAGED) else n for n in swap["drop"]]
    names = swap["remove"] + drops + [e.get("output") for e in swap["install"]]
    return all(isinstance(n, str) and _ANY_SHARD_RE.fullmatch(n) for n in names)


def finish_interrupted_swap(plan: _Plan, manifest: _Manifest, report: BatchReport) -> None:
    """Finish the swap a killed run left half done (see :func:`_swap`); nothing when there is none."""
    journal = plan.parts / SWAP_FILE
    try:
        swap = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        swap = f"{exc}"
    if not _is_swap(swap):
        raise InputError(f"{journal}: the record of an earlier run's unfinished shard swap is damaged "
                         f"({swap if isinstance(swap, str) else 'not a swap'}); which shards belong to which "
                         "set is unknown: delete that file, then rerun (each shard is checked against "
                         "the manifest; --overwrite redoes everything)") from None
    log.warning("%s: finishing the shard swap an earlier run left unfinished", plan.out)
    _swap(plan, swap, manifest, report)
    manifest.compact()
    journal.unlink()


def _stamp(path: Path) -> dict[str, Any]:
    """What a manifest entry remembers of its output file, to know it is the one written: its
    size and modification time (checked on every run) and its SHA-256 (read only when the
    first two differ: a folder copied or moved without keeping modification times)."""
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_of(path)}


def _verified(path: Path, entry: dict[str, Any]) -> dict[str, Any] | None:
    """``entry`` (with the file's current size and modification time) when ``path`` is the file
    it was written for, else None: an output replaced, truncated or scribbled on since is
    redone, never reused. Entries of yt8m versions that kept no size: a shard is taken when
    its every record's checksum holds and it holds as many records as good members."""
    try:
        stat = path.stat()
    except OSError:
        return None
    if entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
        return entry
    try:
        if "size" in entry:
            if entry.get("size") != stat.st_size or entry.get("sha256") != sha256_of(path):
                return None
            return {**entry, "mtime_ns": stat.st_mtime_ns}
        good = [key for key, reason in entry.get("members", []) if reason is None]
        if not good or count_records(path) != len(good):
            return None
        return {**entry, **_stamp(path)}
    except (OSError, Yt8mError, ValueError):
        return None


def _read_failure(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "failed in an earlier run"


def _remove_stale_temporaries(plan: _Plan, works: list[_Work]) -> None:
    """Delete temporary files a killed run left behind (its unfinished atomic writes).

    Only files this run would write are touched: temporaries in ``.yt8m-parts/``,
    unfinished shards of this run's prefix, ``.<output name>.*.part`` beside this run's
    own outputs, and unfinished rewrites of the manifest and failures.csv.
    """
    stale = list(plan.parts.glob(".*.part")) if plan.parts.is_dir() else []
    stale += plan.staged.glob(".*.part") if plan.staged.is_dir() else []
    folder = plan.folder
    if not plan.single_file:  # (one-video runs may share the folder: another's would be in use)
        for name in (MANIFEST_FILE, FAILURES_FILE, IDENTITY_CACHE):
            stale += folder.glob(f".{name}.*.part")
    if plan.fmt == "yt8m" and plan.out.is_dir():
        stale += plan.out.glob(".*-?????-of-?????.tfrecord.*.part")
    else:
        for work in works:
            target = plan.video_output(work.video)
            stale += target.parent.glob(f".{target.name}.*.part")
    for path in stale:
        path.unlink(missing_ok=True)


def _write_failures(plan: _Plan, report: BatchReport) -> None:
    """Rewrite failures.csv: exactly the current inputs that failed, in this run or an earlier one."""
    failures = {str(p): r for p, r in report.failed_earlier}
    failures.update((str(p), r) for p, r in report.failed)
    path = plan.failures_file
    if not failures:
        path.unlink(missing_ok=True)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "reason"])
    writer.writerows(sorted(failures.items()))
    with atomic_write(path) as handle:
        handle.write(buffer.getvalue().encode("utf-8"))


def iter_shard_records(out: Path) -> Iterator[bytes]:
    """Every record of the shards in ``out``, in shard order (for checks and tests)."""
    for shard in sorted(out.glob("*.tfrecord")):
        yield from read_records(shard)


def relative_to_cwd(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
