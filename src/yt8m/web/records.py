"""Dataset records: from a YouTube-8M id or a YouTube URL/id to the record's windows.

See docs/viewer.md, 'Dataset records'.

Resolution of a query (:func:`yt8m.web.lookup.parse_query`), first match wins:

1. the token is a record id in the local shards (``--dataset DIR`` and the shards
   downloaded before; see :class:`~yt8m.web.shards.ShardIndex`);
2. online only: an 11-character YouTube id is looked up on data.yt8m.org (which shard,
   which record); a 4-character YouTube-8M id is first mapped to its YouTube id there
   (see :class:`~yt8m.web.lookup.Yt8mLookup`). The named shard is taken from
   ``--dataset`` when it is there, else downloaded once into the cache (resumable,
   atomic; see :func:`yt8m.artifacts.download.fetch_artifact`).

The record is predicted with the dataset rule (see docs/inference.md, 'Dataset windows':
a window ending at every second, stamped at its last second), top 9 labels per window,
plus its ground truth.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from yt8m.artifacts.registry import Artifact
from yt8m.errors import FetchError, Yt8mError
from yt8m.web.errors import NotFound
from yt8m.web.lookup import (
    SHARD_NAME,
    YOUTUBE_ID,
    YT8M_ID,
    LookupFailed,
    RecordQuery,
    Yt8mLookup,
    parse_query,
)
from yt8m.web.lru import Lru
from yt8m.web.resources import Resources
from yt8m.web.security import is_inside
from yt8m.web.settings import Settings
from yt8m.web.shards import ShardIndex

log = logging.getLogger(__name__)

#: Labels per dataset window (the reference's dataset graph keeps 9).
RECORD_TOP_K = 9


class RecordNotFound(NotFound):
    """No record has this id (locally, or online when allowed)."""


class RecordService:
    """Looks records up, fetches their shard when needed and predicts their windows."""

    def __init__(self, settings: Settings, resources: Resources, data_dir: Path) -> None:
        from yt8m.artifacts.cache import downloads_dir

        self.settings = settings
        self.resources = resources
        self.downloads = downloads_dir()
        roots = ([Path(settings.dataset_dir).resolve()] if settings.dataset_dir else []) + [self.downloads]
        self.index = ShardIndex(roots, data_dir / "shard-index")
        self.lookup = Yt8mLookup(settings.lookup_url, timeout_s=settings.lookup_timeout_s)
        self._results: Lru[dict[str, Any]] = Lru(64)

    def describe(self) -> dict[str, Any]:
        return {"dataset_dir": str(self.settings.dataset_dir) if self.settings.dataset_dir else None,
                "online": self.settings.online}

    def fetch_shard(self, filename: str) -> tuple[Path, str]:
        """A shard by its published name: (path, "local" or "downloaded")."""
        if not SHARD_NAME.fullmatch(filename):
            raise LookupFailed(f"refused the shard name {filename[:80]!r}")
        local = self.index.by_name(filename)
        if local is not None and not is_inside(local, self.downloads):
            return local, "local"
        from yt8m.artifacts.download import fetch_artifact

        url = f"{self.settings.shard_url.rstrip('/')}/{filename}"
        # Mirrors hold the published weights and label files, not the dataset: always its own URL.
        artifact = Artifact(f"yt8m-shard-{filename.removesuffix('.tfrecord')}", url, filename,
                            "A YouTube-8M frame-level shard, fetched by the web viewer", mirrored=False)
        try:
            path = fetch_artifact(artifact, progress=False, retries=2)
        except FetchError as exc:
            raise LookupFailed(exc.summary) from None
        return path, "downloaded"

    def locate(self, query: RecordQuery) -> tuple[Path, int, str, str | None]:
        """(shard, index, source, YouTube id if known) of the record the query names."""
        found = self.index.find(query.value)
        if found is not None:
            shard, index = found
            source = "downloaded" if is_inside(shard, self.downloads) else "local"
            return shard, index, source, query.value if query.kind == "youtube" else None
        if not self.settings.online:
            raise RecordNotFound(f"{query.value!r} is not a record id in the local shards, and online lookup "
                                 f"is off")
        youtube_id: str | None
        if query.kind == "youtube" or YOUTUBE_ID.fullmatch(query.value):
            youtube_id = query.value
        elif YT8M_ID.fullmatch(query.value):
            youtube_id = self.lookup.youtube_id_of(query.value)
            if youtube_id is None:
                raise RecordNotFound(f"{query.value!r} is not a YouTube-8M id (not in the local shards, and "
                                     f"the online lookup does not know it)")
        else:
            raise RecordNotFound(f"{query.value!r} is not a record id in the local shards; online, only "
                                 f"YouTube ids (11 characters) and YouTube-8M ids (4) can be looked up")
        located = self.lookup.shard_of(youtube_id)
        if located is None:
            raise RecordNotFound(f"the YouTube video {youtube_id} is not in the YouTube-8M training shards")
        filename, index = located
        shard, source = self.fetch_shard(filename)
        count = len(self.index.ids(shard))
        if index >= count:
            raise LookupFailed(f"the lookup pointed at record {index} of {filename}, which holds {count} "
                               "records")
        return shard, index, source, youtube_id

    def record(self, text: str, *, segment_size: int, top_k: int = RECORD_TOP_K) -> dict[str, Any]:
        """The windows, labels and ground truth of the record ``text`` names."""
        query = parse_query(text)
        shard, index, source, youtube_id = self.locate(query)
        stat = shard.stat()
        key = (str(shard), stat.st_size, stat.st_mtime_ns, index, segment_size, top_k)
        result = dict(self._results.get_or_make(key,
                                                lambda: self._predict(shard, index, segment_size, top_k)))
        if query.kind == "token" and YT8M_ID.fullmatch(query.value) and result["video_id"] != query.value:
            raise LookupFailed(f"the lookup pointed at record {index} of {shard.name}, which is "
                               f"{result['video_id']!r}, not {query.value!r}")
        if youtube_id is None:
            youtube_id = self._youtube_id_for(result["video_id"])
        result.update(query=query.text, source=source, youtube_id=youtube_id,
                      link=f"https://www.youtube.com/watch?v={youtube_id}" if youtube_id else None)
        return result

    def _youtube_id_for(self, video_id: str) -> str | None:
        """The YouTube id of a released record (4-character id), asked online; None otherwise."""
        if not (self.settings.online and YT8M_ID.fullmatch(video_id)):
            return None
        try:
            return self.lookup.youtube_id_of(video_id)
        except Yt8mError as exc:
            log.info("no YouTube id for %s: %s", video_id, exc)
            return None

    def _predict(self, shard: Path, index: int, segment_size: int, top_k: int) -> dict[str, Any]:
        """The record's windows; without a classifier, the record with no windows and a note saying why."""
        from yt8m.inference.prediction_files import record_windows_json
        from yt8m.inference.shard_scoring import (
            DatasetOptions,
            RecordPrediction,
            iter_dataset_predictions,
            iter_dataset_records,
        )

        classifier = self.resources.classifier
        if classifier is None:
            (record,) = list(iter_dataset_records([shard], record_index=index))
            prediction = RecordPrediction(record)
        else:
            options = DatasetOptions(segment_size=segment_size, windows=True)
            with self.resources.lock:
                (prediction,) = list(iter_dataset_predictions([shard], classifier, options,
                                                              record_index=index))
        entry = record_windows_json(prediction, top_k=top_k, labels=self.resources.labels)
        entry["predicted"] = classifier is not None
        if classifier is None:
            entry["notes"] = list(entry["notes"]) + [f"ground truth only: {self.resources.classifier_error}"]
        for window in entry["windows"]:
            window["time_s"] = float(window["time_s"])
        labels = entry.pop("labels")
        entry["ground_truth"] = [{"index": int(i), "name": self.resources.label_name(int(i))} for i in labels]
        entry["shard"] = shard.name
        entry["kind"] = "record"
        return entry
