"""Which record ids each local YouTube-8M shard holds.

Shards are the ``*.tfrecord`` files (``.tfrecords``, ``.gz`` too) found recursively
under the roots (``--dataset`` and the folder of downloaded shards), hidden folders and
links leading outside a root skipped. A shard's ids are read once per size and
modification time and kept as JSON in the data directory, so a restart does not read
the shards again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from pathlib import Path

from yt8m._files import write_bytes_atomic
from yt8m.errors import InputError
from yt8m.web.security import is_inside

log = logging.getLogger(__name__)

_SHARD_FILE = re.compile(r".+\.tfrecords?(\.gz)?")


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


