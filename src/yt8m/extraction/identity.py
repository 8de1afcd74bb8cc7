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
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

#: Bytes at the head of a video that its identity hashes.
HEAD_BYTES = 1 << 20


def file_identity(path: Path) -> dict[str, Any]:
    """The identity of the file at ``path`` (a missing or unreadable file has one too: its path)."""
    resolved = str(path.resolve())
    try:
        stat = path.stat()
        with open(path, "rb") as handle:
            head = hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()
    except OSError as exc:
        return {"path": resolved, "unreadable": exc.strerror or type(exc).__name__}
    return {"path": resolved, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head_sha256": head}


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
