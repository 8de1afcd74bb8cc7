"""The cache manifest, typed: what is in the cache, with its size, sha256 and source.

``manifest.json`` under :func:`~yt8m.artifacts.cache.cache_dir` records every verified
artifact (:class:`ArtifactRecord`) and every converted model (:class:`ModelRecord`).
Callers use the functions here and get records back; nobody else reads the JSON. The
file is rewritten atomically under a file lock, so several processes can share it. A
damaged file, or a damaged entry in it, reads as "not recorded" (the file is fetched or
converted again; ``yt8m models verify`` re-checks what is recorded).

On disk (unchanged since the first release)::

    {"artifacts": {name: {"file", "size", "sha256", "source", "recorded_at"}},
     "models": {name: {"file", "size", "sha256", "sources", "shapes", "meta",
                       "yt8m_version", "converted_at"}}}
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yt8m._files import write_bytes_atomic
from yt8m._version import __version__
from yt8m.artifacts.cache import cache_dir, lock_for


@dataclass(frozen=True)
class ArtifactRecord:
    """A verified artifact file in ``downloads/``."""

    name: str
    file: str  #: file name under ``downloads/``
    size: int
    sha256: str
    source: str  #: the URL it came from, or ``import:<path>``
    recorded_at: str = ""


@dataclass(frozen=True)
class ModelRecord:
    """A converted model file in ``models/``."""

    name: str
    file: str  #: file name under ``models/``
    size: int
    sha256: str
    sources: Mapping[str, str] = field(default_factory=dict)  #: artifact name -> its sha256
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    yt8m_version: str = ""
    converted_at: str = ""


@dataclass(frozen=True)
class Manifest:
    """Everything the cache records, by name."""

    artifacts: Mapping[str, ArtifactRecord]
    models: Mapping[str, ModelRecord]


def manifest_path() -> Path:
    return cache_dir() / "manifest.json"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _read_document() -> dict[str, Any]:
    try:
        data = json.loads(manifest_path().read_text())
    except (OSError, ValueError):  # missing or damaged: rebuilt as files are fetched again
        data = {}
    if not isinstance(data, dict):
        data = {}
    for kind in ("artifacts", "models"):
        if not isinstance(data.get(kind), dict):
            data[kind] = {}
    return data


def _artifact(name: str, entry: Any) -> ArtifactRecord | None:
    try:
        return ArtifactRecord(name, str(entry["file"]), int(entry["size"]), str(entry["sha256"]),
                              str(entry.get("source", "")), str(entry.get("recorded_at", "")))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _model(name: str, entry: Any) -> ModelRecord | None:
    try:
        return ModelRecord(
            name, str(entry["file"]), int(entry["size"]), str(entry["sha256"]),
            sources=dict(entry.get("sources", {})),
            shapes={k: tuple(int(n) for n in v) for k, v in dict(entry.get("shapes", {})).items()},
            meta=dict(entry.get("meta", {})), yt8m_version=str(entry.get("yt8m_version", "")),
            converted_at=str(entry.get("converted_at", "")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def read_manifest() -> Manifest:
    """Return what the cache records (empty when there is no manifest yet)."""
    data = _read_document()
    artifacts = {n: r for n, e in data["artifacts"].items() if (r := _artifact(n, e)) is not None}
    models = {n: r for n, e in data["models"].items() if (r := _model(n, e)) is not None}
    return Manifest(artifacts, models)


def artifact_record(name: str) -> ArtifactRecord | None:
    """The record of artifact ``name``, or None if it is not recorded."""
    return read_manifest().artifacts.get(name)


def model_record(name: str) -> ModelRecord | None:
    """The record of converted model ``name``, or None if it is not recorded."""
    return read_manifest().models.get(name)


@contextmanager
def _editing() -> Iterator[dict[str, Any]]:
    """Read, let the caller change, and atomically rewrite the manifest, under a lock."""
    path = manifest_path()
    with lock_for(path):
        document = _read_document()
        yield document
        write_bytes_atomic(path, json.dumps(document, indent=2, sort_keys=True).encode())


def record_artifact(name: str, path: Path, *, sha256: str, source: str) -> ArtifactRecord:
    """Record the verified artifact file at ``path`` (in ``downloads/``)."""
    record = ArtifactRecord(name, path.name, path.stat().st_size, sha256, source, _now())
    with _editing() as document:
        document["artifacts"][name] = {"file": record.file, "size": record.size, "sha256": record.sha256,
                                       "source": record.source, "recorded_at": record.recorded_at}
    return record


def record_model(name: str, path: Path, *, sha256: str, sources: Mapping[str, str],
                 shapes: Mapping[str, tuple[int, ...]], meta: Mapping[str, Any]) -> ModelRecord:
    """Record the converted model file at ``path`` (in ``models/``)."""
    record = ModelRecord(name, path.name, path.stat().st_size, sha256, dict(sources),
                         {k: tuple(v) for k, v in shapes.items()}, dict(meta), __version__, _now())
    with _editing() as document:
        document["models"][name] = {
            "file": record.file, "size": record.size, "sha256": record.sha256,
            "sources": dict(record.sources),
            "shapes": {k: list(v) for k, v in record.shapes.items()}, "meta": dict(record.meta),
            "yt8m_version": record.yt8m_version, "converted_at": record.converted_at,
        }
    return record


def forget_artifact(name: str) -> None:
    """Remove artifact ``name`` from the manifest (its file is left alone)."""
    with _editing() as document:
        document["artifacts"].pop(name, None)


def forget_model(name: str) -> None:
    """Remove model ``name`` from the manifest (its file is left alone)."""
    with _editing() as document:
        document["models"].pop(name, None)
