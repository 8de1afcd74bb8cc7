"""What a user types for a dataset record, and the data.yt8m.org lookups.

See docs/viewer.md, 'Dataset records' and 'Input checks'.

:func:`parse_query` is strict: a YouTube URL (``watch?v=``, ``youtu.be/``, ``embed/``,
``shorts/``, ``live/``) gives its 11-character video id; a bare token of letters,
digits, ``_``, ``-`` and ``.`` (at most 64) is taken as given; anything else is refused
before any lookup. :class:`Yt8mLookup` asks, under a configurable base URL,
``<base>/r/<2 chars>/<YouTube id>.js`` (JSON ``filename_raw`` and ``index``: which
training shard and record hold a video) and ``<base>/i/<2 chars>/<YouTube-8M id>.js``
(a JavaScript call whose second string is the YouTube id). Whatever comes back is
checked (shard names against a strict pattern, indices as non-negative integers, ids
against their alphabets) before anything uses it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import requests

from yt8m.errors import InputError
from yt8m.web.errors import UpstreamFailed
from yt8m.web.lru import Lru

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
YT8M_ID = re.compile(r"[A-Za-z0-9_-]{4}")
TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SHARD_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.tfrecord")
_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
                            "youtube-nocookie.com", "www.youtube-nocookie.com", "youtu.be", "www.youtu.be"})
_PATH_PREFIXES = ("embed", "shorts", "live", "v", "e")
_MAX_QUERY = 300


class MalformedQuery(InputError):
    """The text is neither a YouTube URL nor a well-formed id."""


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
    """The data.yt8m.org id lookups under a configurable base URL (docs/viewer.md, 'Dataset records')."""

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
