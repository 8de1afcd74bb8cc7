"""The weights cache: downloaded artifacts, converted models and their manifest.

Layout under :func:`cache_dir` (``$YT8M_HOME``, else the platform's user cache dir)::

    downloads/<artifact file>        as published, verified
    models/<model>.safetensors       converted weights (tensor names of yt8m's modules)
    manifest.json                    sizes, sha256 and sources of everything above

Every file appears atomically; the manifest is rewritten under a file lock, so several
processes can share one cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import platformdirs
from filelock import FileLock

from yt8m._files import write_bytes_atomic

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Return the cache root: ``$YT8M_HOME`` if set, else the user cache dir for yt8m."""
    env = os.environ.get("YT8M_HOME")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("yt8m"))


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def models_dir() -> Path:
    return cache_dir() / "models"


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def lock_for(path: Path) -> FileLock:
    """A cross-process lock guarding ``path`` (a ``.lock`` file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock")


def _manifest_path() -> Path:
    return cache_dir() / "manifest.json"


def read_manifest() -> dict[str, Any]:
    """Return the manifest (``{"artifacts": {...}, "models": {...}}``), empty if none."""
    path = _manifest_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError):
        data = {}  # a damaged manifest is rebuilt; `yt8m models verify` re-checks the files
    data.setdefault("artifacts", {})
    data.setdefault("models", {})
    return data


@contextmanager
def editing_manifest() -> Iterator[dict[str, Any]]:
    """Read, let the caller change, and atomically rewrite the manifest, under a lock."""
    path = _manifest_path()
    with lock_for(path):
        manifest = read_manifest()
        yield manifest
        write_bytes_atomic(path, json.dumps(manifest, indent=2, sort_keys=True).encode())


def record_artifact(name: str, path: Path, *, sha256: str, source: str) -> None:
    """Record a verified artifact file in the manifest."""
    with editing_manifest() as manifest:
        manifest["artifacts"][name] = {
            "file": path.name, "size": path.stat().st_size, "sha256": sha256, "source": source,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


def record_model(name: str, path: Path, *, sha256: str, sources: dict[str, str], shapes: dict[str, list[int]],
                 meta: dict[str, Any]) -> None:
    """Record a converted model file in the manifest."""
    from yt8m._version import __version__

    with editing_manifest() as manifest:
        manifest["models"][name] = {
            "file": path.name, "size": path.stat().st_size, "sha256": sha256, "sources": sources,
            "shapes": shapes, "meta": meta, "yt8m_version": __version__,
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


def forget(kind: str, name: str) -> None:
    """Remove an entry (``kind`` is "artifacts" or "models") from the manifest."""
    with editing_manifest() as manifest:
        manifest[kind].pop(name, None)
