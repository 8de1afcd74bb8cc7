"""The cache folder: where downloaded artifacts and converted models live.

Layout under :func:`cache_dir` (``$YT8M_HOME``, else the platform's user cache dir)::

    downloads/<artifact file>        as published, verified
    models/<model>.safetensors       converted weights (tensor names of yt8m's modules)
    classifiers/<hash>/              unpacked classifier archives
    manifest.json                    sizes, sha256 and sources of everything above
                                     (read and written through :mod:`yt8m.artifacts.manifest`)

Every file appears atomically; writers take a file lock beside their target, so several
processes can share one cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from filelock import FileLock

from yt8m._files import sha256_of  # noqa: F401 (the cache's callers hash through it)

#: The environment variable naming the cache folder.
HOME_ENV = "YT8M_HOME"


def cache_dir() -> Path:
    """Return the cache root: ``$YT8M_HOME`` if set, else the user cache dir for yt8m."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("yt8m"))


def downloads_dir() -> Path:
    """Where artifacts are kept, under their published file names."""
    return cache_dir() / "downloads"


def models_dir() -> Path:
    """Where converted models are kept (``<model>.safetensors``)."""
    return cache_dir() / "models"


def classifiers_dir() -> Path:
    """Where classifier archives are unpacked (one folder per archive content)."""
    return cache_dir() / "classifiers"


def lock_for(path: Path) -> FileLock:
    """A cross-process lock guarding ``path`` (a ``.lock`` file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path) + ".lock")
