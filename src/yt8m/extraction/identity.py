"""What an output was made from, as one key: the video, its place in the records, the settings.

A rerun into an existing output folder reuses earlier work only when it was made from the
same thing. The key of one video's work hashes:

* the video file's identity: its resolved path, size, modification time and a hash of its
  first MiB (a changed or replaced file gets a new key without hashing whole videos);
* what its record holds besides the features: the id and the labels;
* what shapes the features: the clip window, the feature settings of
  :meth:`~yt8m.extraction.options.ExtractOptions.feature_settings` and the versions
  (content hashes) of the converted models.

Keys are hex strings, safe as file names.

Reading the head of every input on every rerun costs about 1 TB for a million videos, which
would dominate a rerun with little to do. :class:`IdentityCache` keeps each input's head
hash beside the outputs with the size and modification time it was read at, and a rerun
reads the head again only of a file whose path, size or modification time differs (the
quick check ``rsync`` makes too; ``--overwrite`` reads every head again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from yt8m._files import write_bytes_atomic

log = logging.getLogger(__name__)

#: Bytes at the head of a video that its identity hashes.
HEAD_BYTES = 1 << 20
#: The identity cache's file, beside the outputs (the local engine's).
IDENTITY_CACHE = ".yt8m-identities.json"


def _head_hash(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()


def file_identity(path: Path, cache: IdentityCache | None = None) -> dict[str, Any]:
    """The identity of the file at ``path`` (a missing or unreadable file has one too: its
    path); with ``cache``, its head is read only when the cache does not know it."""
    resolved = str(path.resolve())
    try:
        stat = path.stat()
        head = cache.head(resolved, stat) if cache is not None else None
        if head is None:
            head = _head_hash(path)
        else:  # known: still readable? (permissions change no modification time)
            os.close(os.open(path, os.O_RDONLY))
    except OSError as exc:
        return {"path": resolved, "unreadable": exc.strerror or type(exc).__name__}
    if cache is not None:
        cache.remember(resolved, stat, head)
    return {"path": resolved, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head_sha256": head}


class IdentityCache:
    """Head hashes of input files by path, each valid for the size and modification time it
    was read at (see the module docstring). A missing or damaged cache file is an empty
    cache; :meth:`save` keeps only the files looked up since it was loaded."""

    def __init__(self, path: Path, *, trust: bool = True) -> None:
        self.path = path
        self.known: dict[str, list[Any]] = {}
        self.seen: dict[str, list[Any]] = {}
        if not trust:
            return
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("%s: not used (%s); the heads of the inputs are read again", path, exc)
            return
        if isinstance(loaded, dict):
            self.known = {k: v for k, v in loaded.items() if isinstance(v, list) and len(v) == 3}

    def head(self, resolved: str, stat: os.stat_result) -> str | None:
        """The head hash of ``resolved`` when it was read at this size and modification time."""
        entry = self.known.get(resolved)
        if entry is not None and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns:
            return str(entry[2])
        return None

    def remember(self, resolved: str, stat: os.stat_result, head: str) -> None:
        self.seen[resolved] = [stat.st_size, stat.st_mtime_ns, head]

    def save(self) -> None:
        """Write the cache (atomically); nothing when no file was looked up."""
        if self.seen:
            write_bytes_atomic(self.path, json.dumps(self.seen, separators=(",", ":")).encode("utf-8"))


def work_key(*, video: dict[str, Any], video_id: str, labels: tuple[int, ...], start_us: int,
             end_us: int | None, settings: dict[str, Any]) -> str:
    """The key of one video's extraction (see the module docstring)."""
    payload = {"video": video, "id": video_id, "labels": list(labels), "clip": [start_us, end_us],
               "settings": settings}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def is_key(name: str) -> bool:
    """True for a string :func:`work_key` could have made."""
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)


def same_file(a: os.PathLike[str] | str, b: os.PathLike[str] | str) -> bool:
    """True when ``a`` and ``b`` name one file (both must exist)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
