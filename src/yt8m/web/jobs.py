"""Jobs: one video's extraction and first predictions, run in the background, cached by content.

A job's id is the first 32 hex digits of its video's sha256, so a video submitted
twice is one job: a finished job is answered from its cached features, a queued or
running one is simply returned. Each job owns ``jobs/<id>/`` (``job.json`` and
``features.npz``, both written atomically) and, for uploads, ``videos/<id><suffix>``;
no two jobs share a file.

:class:`JobRunner` runs jobs one at a time in a background thread (extraction uses
every core already), reporting progress in video seconds. A failing job is marked
``failed`` with its error; the runner goes on with the next one. Jobs still queued or
running when the server stopped are marked failed at the next start; submitting the
video again runs it again.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from yt8m._files import write_bytes_atomic
from yt8m.errors import Yt8mError
from yt8m.web.errors import Conflict, NotFound, Unavailable
from yt8m.web.ingest import Staged, VideoInfo
from yt8m.web.security import is_job_id

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "done", "failed"]
Origin = Literal["upload", "media"]
JOB_FILE = "job.json"
FEATURES_FILE = "features.npz"


class JobNotFound(NotFound):
    """No job has this id."""


class JobBusy(Conflict):
    """The job is queued or running, so it cannot be deleted or read yet."""


class ExtractionUnavailable(Unavailable):
    """The server cannot extract features (its weights could not be loaded)."""


@dataclass
class JobRecord:
    """What the API says about a job. ``video`` is a file name in ``videos/`` (uploads) or a
    path relative to the media folder (picks)."""

    id: str
    name: str
    origin: Origin
    video: str
    media_type: str
    size_bytes: int
    duration_s: float
    has_audio: bool
    status: Status = "queued"
    stage: str = "waiting for the extractor"
    progress: float = 0.0
    seconds_done: int = 0
    seconds_expected: int = 0
    num_seconds: int | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["video_url"] = f"/api/videos/{self.id}"
        data["predictions_url"] = f"/api/jobs/{self.id}/predictions"
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class JobStore:
    """Jobs on disk under ``data_dir`` and in memory, guarded by one lock."""

    def __init__(self, data_dir: Path, *, media_root: Path | None = None) -> None:
        self.data_dir = data_dir
        self.jobs_dir = data_dir / "jobs"
        self.videos_dir = data_dir / "videos"
        self.tmp_dir = data_dir / "tmp"
        self.media_root = media_root
        for d in (self.jobs_dir, self.videos_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._jobs: dict[str, JobRecord] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._load()

    def _load(self) -> None:
        """Read every job.json; jobs the previous server left unfinished are marked failed."""
        for path in sorted(self.jobs_dir.glob(f"*/{JOB_FILE}")):
            if not is_job_id(path.parent.name):
                continue
            try:
                record = JobRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("%s: unreadable job file, ignored (%s)", path, exc)
                continue
            if record.id != path.parent.name:
                continue
            if record.status in ("queued", "running"):
                record.status, record.stage = "failed", "interrupted"
                record.error = "the server stopped before this job finished; submit the video again"
                self._save(record)
            elif record.status == "done" and not self.features_path(record.id).is_file():
                record.status, record.stage, record.error = "failed", "failed", "its features file is missing"
            self._jobs[record.id] = record

    # --- paths -----------------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise JobNotFound(f"{job_id!r} is not a job id")
        return self.jobs_dir / job_id

    def features_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / FEATURES_FILE

    def video_path(self, record: JobRecord) -> Path:
        """The real path of a job's video, checked to lie inside its root."""
        from yt8m.web.security import resolve_inside

        if record.origin == "media":
            if self.media_root is None:
                raise JobNotFound(f"job {record.id}: its video is in a media folder this server does not "
                                  "serve")
            return resolve_inside(self.media_root, record.video)
        return resolve_inside(self.videos_dir, record.video)

    def _save(self, record: JobRecord) -> None:
        directory = self.job_dir(record.id)
        directory.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(directory / JOB_FILE, json.dumps(asdict(record), indent=2).encode())

    # --- queries -----------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        """A copy of the job ``job_id``; :class:`JobNotFound` if there is none."""
        with self._lock:
            record = self._jobs.get(job_id) if is_job_id(job_id) else None
            if record is None:
                raise JobNotFound(f"no job {job_id!r}")
            return JobRecord.from_json(asdict(record))

    def list(self) -> list[JobRecord]:
        """Every job, newest first."""
        with self._lock:
            return sorted((JobRecord.from_json(asdict(r)) for r in self._jobs.values()),
                          key=lambda r: r.created_at, reverse=True)

    def counts(self) -> dict[str, int]:
        with self._lock:
            out = {"queued": 0, "running": 0, "done": 0, "failed": 0}
            for record in self._jobs.values():
                out[record.status] += 1
            return out

    # --- changes -----------------------------------------------------------------------------

    def submit(self, staged: Staged, info: VideoInfo, *, name: str, origin: Origin, video: str
               ) -> tuple[JobRecord, bool]:
        """Queue a job for a stored video; returns (job, created). A known, unfailed job is returned as is."""
        job_id = staged.job_id
        with self._lock:
            known = self._jobs.get(job_id)
            if known is not None and known.status != "failed":
                return JobRecord.from_json(asdict(known)), False
            record = JobRecord(id=job_id, name=name, origin=origin, video=video, media_type=info.media_type,
                               size_bytes=staged.size_bytes, duration_s=info.duration_s,
                               has_audio=info.has_audio,
                               seconds_expected=max(1, round(info.duration_s)))
            self._jobs[job_id] = record
            self._save(record)
            self._queue.put(job_id)
            return JobRecord.from_json(asdict(record)), True

    def update(self, job_id: str, *, persist: bool = True, **changes: Any) -> None:
        """Change fields of a job (and write job.json unless ``persist`` is False)."""
        with self._lock:
            record = self._jobs[job_id]
            for key, value in changes.items():
                setattr(record, key, value)
            if persist:
                self._save(record)

    def delete(self, job_id: str) -> None:
        """Remove a finished or failed job, its features and (for uploads) its video."""
        with self._lock:
            record = self._jobs.get(job_id) if is_job_id(job_id) else None
            if record is None:
                raise JobNotFound(f"no job {job_id!r}")
            if record.status in ("queued", "running"):
                raise JobBusy(f"job {job_id} is {record.status}; wait until it finishes")
            del self._jobs[job_id]
            shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
            if record.origin == "upload":
                (self.videos_dir / record.video).unlink(missing_ok=True)

    def next_job(self, timeout_s: float | None = None) -> str | None:
        """The next queued job id (None: stop). Blocks up to ``timeout_s``; raises ``queue.Empty``."""
        return self._queue.get(timeout=timeout_s)

    def stop(self) -> None:
        """Wake the runner so it stops after its current job."""
        self._queue.put(None)


class JobRunner:
    """Runs queued jobs one at a time in a daemon thread: extract, save features, warm predictions.

    ``finish(job_id)`` runs after the features are saved (it computes the first
    predictions, which also proves the classifier takes these features) and returns notes
    for the job (a server without a classifier says so there).
    """

    def __init__(self, store: JobStore, extractor_of: Callable[[], Any],
                 unavailable: Callable[[], str | None],
                 finish: Callable[[str], list[str] | None]) -> None:
        self.store = store
        self._extractor_of = extractor_of
        self._unavailable = unavailable
        self._finish = finish
        self._thread = threading.Thread(target=self._loop, name="yt8m-web-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the runner to stop; waits up to ``timeout_s`` for the current job."""
        self.store.stop()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            job_id = self.store.next_job()
            if job_id is None:
                return
            self.run_one(job_id)

    def run_one(self, job_id: str) -> None:
        """Run one job to ``done`` or ``failed``; never raises."""
        try:
            record = self.store.get(job_id)
        except JobNotFound:
            return  # deleted while queued
        if record.status != "queued":
            return
        self.store.update(job_id, status="running", stage="extracting features", started_at=time.time())
        try:
            self._run(record)
        except Yt8mError as exc:
            self._fail(record, str(exc))
        except Exception as exc:  # a failing job must not stop the server
            log.exception("job %s (%s) failed", job_id, record.name)
            self._fail(record, f"internal error: {type(exc).__name__}: {exc}")

    def _fail(self, record: JobRecord, message: str) -> None:
        try:
            path = str(self.store.video_path(record))
            message = message.replace(path, record.name)
        except Yt8mError:
            pass
        message = message.replace(str(self.store.data_dir), "<data>")
        log.warning("job %s (%s) failed: %s", record.id, record.name, message)
        self.store.update(record.id, status="failed", stage="failed", error=message, finished_at=time.time())

    def _run(self, record: JobRecord) -> None:
        from yt8m.extraction.scheduler import Job as ExtractJob

        extractor = self._extractor_of()
        if extractor is None:
            raise ExtractionUnavailable(self._unavailable() or "video extraction is unavailable")
        path = self.store.video_path(record)
        expected = record.seconds_expected
        done = 0

        def on_frames(count: int) -> None:
            nonlocal done
            done += count
            self.store.update(record.id, persist=False, seconds_done=done,
                              progress=round(min(0.9, 0.9 * done / expected), 4))

        results = list(extractor.run([ExtractJob(path)], workers=1, on_frames=on_frames))
        result = results[0]
        if result.error is not None:
            raise result.error
        features = result.features
        assert features is not None
        features.save_npz(self.store.features_path(record.id))
        self.store.update(record.id, persist=False, stage="predicting", progress=0.95,
                          num_seconds=features.num_seconds)
        notes = list(features.notes) + list(self._finish(record.id) or [])
        self.store.update(record.id, status="done", stage="done", progress=1.0,
                          seconds_done=features.num_seconds,
                          num_seconds=features.num_seconds, notes=notes, finished_at=time.time())
