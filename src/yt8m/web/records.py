"""Dataset records: from a YouTube-8M id or a YouTube URL/id to the record's windows (SPEC 8).

What the user types is parsed strictly (:func:`parse_query`): a YouTube URL
(``watch?v=``, ``youtu.be/``, ``embed/``, ``shorts/``, ``live/``) gives its 11-character
video id; a bare token of letters, digits, ``_``, ``-`` and ``.`` (at most 64) is taken
as given. Anything else is refused before any lookup.

Resolution, first match wins:

1. the token is a record id in the local shards (``--dataset DIR``, searched
   recursively for ``*.tfrecord`` files, and the shards downloaded before);
2. online only: an 11-character YouTube id is looked up at
   ``<lookup>/r/<2 chars>/<id>.js`` (JSON ``filename_raw`` and ``index``); a
   4-character YouTube-8M id is first mapped to its YouTube id at
   ``<lookup>/i/<2 chars>/<id>.js`` (a JavaScript call whose second string is the
   YouTube id). The named shard is taken from ``--dataset`` when it is there, else
   downloaded once into the cache (resumable, atomic; see
   :func:`yt8m.weights.download.fetch_artifact`).

Every name that comes back from the network is checked (shard names against a strict
pattern, indices as non-negative integers, ids against their alphabets) before use.
The record is predicted with the dataset rule of SPEC 7 (a window ending at every
second, stamped at its last second).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import requests

from yt8m._files import write_bytes_atomic
from yt8m.errors import FetchError, InputError, Yt8mError
from yt8m.web.errors import NotFound, UpstreamFailed
from yt8m.weights.registry import Artifact
from yt8m.web.predictions import Lru
from yt8m.web.resources import Resources
from yt8m.web.security import is_inside
from yt8m.web.settings import Settings

log = logging.getLogger(__name__)

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
YT8M_ID = re.compile(r"[A-Za-z0-9_-]{4}")
TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SHARD_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.tfrecord")
_SHARD_FILE = re.compile(r".+\.tfrecords?(\.gz)?")
_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
                            "youtube-nocookie.com", "www.youtube-nocookie.com", "youtu.be", "www.youtu.be"})
_PATH_PREFIXES = ("embed", "shorts", "live", "v", "e")
#: Labels per dataset window (the reference's dataset graph keeps 9).
RECORD_TOP_K = 9
_MAX_QUERY = 300


class MalformedQuery(InputError):
    """The text is neither a YouTube URL nor a well-formed id."""


class RecordNotFound(NotFound):
    """No record has this id (locally, or online when allowed)."""


class LookupFailed(UpstreamFailed):
    """data.yt8m.org (or the configured lookup server) could not be asked, or answered nonsense."""


@dataclass(frozen=True)
class RecordQuery:
    """A parsed query: a bare ``token`` (any id) or a ``youtube`` id taken from a URL."""

    text: str
    kind: Literal["token", "youtube"]
    value: str


def parse_query(text: str) -> RecordQuery:
    """Parse what the user typed; :class:`MalformedQuery` names what is wrong."""
    text = (text or "").strip()
    if not text:
        raise MalformedQuery("enter a YouTube-8M id, a YouTube video id or a YouTube URL")
    if len(text) > _MAX_QUERY:
        raise MalformedQuery(f"the query is {len(text)} characters long; ids and URLs are shorter")
    if TOKEN.fullmatch(text) and "." not in text[:1]:
        return RecordQuery(text, "token", text)
    url = text if "://" in text else f"https://{text}"
    try:
        parts = urlsplit(url)
    except ValueError:
        raise MalformedQuery(f"{text!r} is neither an id nor a URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host not in _YOUTUBE_HOSTS:
        raise MalformedQuery(f"{text!r} is neither an id (letters, digits, '_', '-') nor a YouTube URL")
    segments = [s for s in parts.path.split("/") if s]
    candidate = None
    if host.endswith("youtu.be"):
        candidate = segments[0] if segments else None
    elif segments[:1] == ["watch"]:
        candidate = (parse_qs(parts.query).get("v") or [None])[0]
    elif len(segments) >= 2 and segments[0] in _PATH_PREFIXES:
        candidate = segments[1]
    if candidate is None or not YOUTUBE_ID.fullmatch(candidate):
        raise MalformedQuery(f"{text!r}: no YouTube video id (11 characters) found in this URL")
    return RecordQuery(text, "youtube", candidate)


class Yt8mLookup:
    """The data.yt8m.org id lookups of SPEC 8, under a configurable base URL."""

    def __init__(self, base_url: str, *, timeout_s: float = 20.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._cache: Lru[Any] = Lru(1024)

    def _get(self, path: str) -> str | None:
        url = f"{self.base_url}/{path}"
        try:
            response = requests.get(url, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise LookupFailed(f"cannot reach the YouTube-8M lookup at {url} ({type(exc).__name__}); "
                               f"without network, enter the id of a record in the local shards") from None
        if response.status_code in (403, 404):
            return None
        if response.status_code != 200:
            raise LookupFailed(f"the YouTube-8M lookup {url} answered HTTP {response.status_code}")
        return response.text[:10_000]

    def shard_of(self, youtube_id: str) -> tuple[str, int] | None:
        """(shard file name, record index) of a YouTube id, None when the dataset does not have it."""
        if not YOUTUBE_ID.fullmatch(youtube_id):
            raise MalformedQuery(f"{youtube_id!r} is not a YouTube video id")
        return self._cache.get_or_make(("r", youtube_id), lambda: self._shard_of(youtube_id))

    def _shard_of(self, youtube_id: str) -> tuple[str, int] | None:
        text = self._get(f"r/{youtube_id[:2]}/{youtube_id}.js")
        if text is None:
            return None
        try:
            data = json.loads(text[text.index("{"):text.rindex("}") + 1])
            filename, index = data["filename_raw"], data["index"]
        except (ValueError, KeyError, TypeError):
            raise LookupFailed(f"the YouTube-8M lookup for {youtube_id} did not answer JSON with "
                               f"filename_raw and index") from None
        if not isinstance(filename, str) or not SHARD_NAME.fullmatch(filename):
            raise LookupFailed(f"the YouTube-8M lookup for {youtube_id} named an unexpected shard "
                               f"{str(filename)[:80]!r}; refused")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise LookupFailed(f"the YouTube-8M lookup for {youtube_id} gave a bad record index {index!r}")
        return filename, index

    def youtube_id_of(self, yt8m_id: str) -> str | None:
        """The YouTube id behind a YouTube-8M id, None when unknown."""
        if not YT8M_ID.fullmatch(yt8m_id):
            raise MalformedQuery(f"{yt8m_id!r} is not a YouTube-8M id")
        return self._cache.get_or_make(("i", yt8m_id), lambda: self._youtube_id_of(yt8m_id))

    def _youtube_id_of(self, yt8m_id: str) -> str | None:
        text = self._get(f"i/{yt8m_id[:2]}/{yt8m_id}.js")
        if text is None:
            return None
        strings = re.findall(r'"([^"\\]*)"', text)
        if len(strings) < 2 or not YOUTUBE_ID.fullmatch(strings[1]):
            raise LookupFailed(f"the YouTube-8M lookup for {yt8m_id} did not answer a YouTube id")
        return strings[1]


class _ShardArtifact(Artifact):
    """A dataset shard as a downloadable artifact: always its own URL (mirrors hold weights only)."""

    def url_under(self, mirror: str | None) -> str | None:
        return self.url


class ShardIndex:
    """Which record ids each local shard holds, read once per shard version and kept on disk."""

    def __init__(self, roots: list[Path], index_dir: Path) -> None:
        self.roots = roots
        self.index_dir = index_dir
        self._ids: dict[tuple[str, int, int], list[str]] = {}
        self._lock = threading.Lock()

    def shards(self) -> list[Path]:
        """Every shard file under the roots (real paths inside their root, sorted)."""
        found: list[Path] = []
        for root in self.roots:
            if not root.is_dir():
                continue
            for directory, subdirs, files in os.walk(root):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                for name in sorted(files):
                    path = Path(directory) / name
                    if _SHARD_FILE.fullmatch(name) and is_inside(path, root) and path.is_file():
                        found.append(Path(os.path.realpath(path)))
        return found

    def ids(self, shard: Path) -> list[str]:
        """The record ids of ``shard`` in order (read once per size and modification time)."""
        from yt8m.formats.tfrecord import read_records
        from yt8m.formats.yt8m_records import parse_record

        stat = shard.stat()
        key = (str(shard), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._ids:
                return self._ids[key]
        import hashlib

        cached = self.index_dir / (hashlib.sha1(repr(key).encode()).hexdigest() + ".json")
        ids: list[str] | None = None
        try:
            ids = json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            ids = None
        if not isinstance(ids, list):
            ids = [parse_record(data, where=f"{shard.name} record {i}").video_id
                   for i, data in enumerate(read_records(shard))]
            self.index_dir.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(cached, json.dumps(ids).encode())
        with self._lock:
            self._ids[key] = ids
        return ids

    def find(self, video_id: str) -> tuple[Path, int] | None:
        """(shard, record index) of the first record with ``video_id``, or None."""
        for shard in self.shards():
            try:
                ids = self.ids(shard)
            except InputError as exc:
                log.warning("%s: skipped while looking up %r: %s", shard, video_id, exc)
                continue
            if video_id in ids:
                return shard, ids.index(video_id)
        return None

    def by_name(self, filename: str) -> Path | None:
        """A local shard named ``filename``, if any root holds one."""
        return next((s for s in self.shards() if s.name == filename), None)


class RecordService:
    """Looks records up, fetches their shard when needed and predicts their windows."""

    def __init__(self, settings: Settings, resources: Resources, data_dir: Path) -> None:
        from yt8m.weights.cache import downloads_dir

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
        from yt8m.weights.download import fetch_artifact

        url = f"{self.settings.shard_url.rstrip('/')}/{filename}"
        artifact = _ShardArtifact(f"yt8m-shard-{filename.removesuffix('.tfrecord')}", url, filename,
                                  "A YouTube-8M frame-level shard, fetched by the web viewer")
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
            raise LookupFailed(f"the lookup pointed at record {index} of {filename}, which holds {count} records")
        return shard, index, source, youtube_id

    def record(self, text: str, *, segment_size: int, top_k: int = RECORD_TOP_K) -> dict[str, Any]:
        """The windows, labels and ground truth of the record ``text`` names."""
        query = parse_query(text)
        shard, index, source, youtube_id = self.locate(query)
        stat = shard.stat()
        key = (str(shard), stat.st_size, stat.st_mtime_ns, index, segment_size, top_k)
        result = dict(self._results.get_or_make(key, lambda: self._predict(shard, index, segment_size, top_k)))
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
        from yt8m.inference.dataset import DatasetOptions, iter_dataset_predictions
        from yt8m.inference.predict_dataset import record_windows_json

        options = DatasetOptions(segment_size=segment_size, windows=True)
        with self.resources.lock:
            (prediction,) = list(iter_dataset_predictions([shard], self.resources.classifier, options,
                                                          record_index=index))
        entry = record_windows_json(prediction, top_k=top_k, labels=self.resources.labels)
        for window in entry["windows"]:
            window["time_s"] = float(window["time_s"])
        labels = entry.pop("labels")
        entry["ground_truth"] = [{"index": int(i), "name": self.resources.label_name(int(i))} for i in labels]
        entry["shard"] = shard.name
        entry["kind"] = "record"
        return entry
