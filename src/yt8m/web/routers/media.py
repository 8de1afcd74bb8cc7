"""``GET /api/media``: the videos of the configured media folder that users may pick."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from yt8m.web.security import NotInside, is_inside
from yt8m.web.state import AppState, get_state

router = APIRouter(prefix="/api", tags=["media"])
#: Suffixes listed (video containers; audio-only ones are left out).
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".flv", ".wmv", ".mpg", ".mpeg",
                            ".ts", ".m2ts", ".3gp", ".ogv"})
MAX_LISTED = 2000


def list_media(root: Path) -> list[dict[str, Any]]:
    """Video files under ``root`` (hidden entries and links leading outside skipped), sorted, at most 2000."""
    out: list[dict[str, Any]] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(directory) / name
            if name.startswith(".") or path.suffix.lower() not in VIDEO_SUFFIXES or not is_inside(path, root):
                continue
            if not path.is_file():
                continue
            out.append({"path": path.relative_to(root).as_posix(), "size_bytes": path.stat().st_size})
            if len(out) >= MAX_LISTED:
                return out
    return out


@router.get("/media")
def media(state: Annotated[AppState, Depends(get_state)]) -> dict[str, Any]:
    """Video files in the media folder (``--media-root``), as paths relative to it."""
    root = state.settings.media_root
    if root is None:
        raise NotInside("this server has no media folder (start it with --media-root DIR)")
    return {"files": list_media(Path(root).resolve())}
