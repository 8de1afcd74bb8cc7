"""The web viewer: watch a video (or a YouTube-8M record) with its labels over time.

``yt8m serve`` runs :func:`create_app` under uvicorn; see :mod:`yt8m.web.app` for the
application, :mod:`yt8m.web.routers` for the JSON API and ``static/`` for the page.
Needs the ``web`` extra (FastAPI, uvicorn, python-multipart).
"""

from typing import Any

__all__ = ["Settings", "create_app"]

_LAZY = {"create_app": "yt8m.web.app", "Settings": "yt8m.web.settings"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'yt8m.web' has no attribute {name!r}")
