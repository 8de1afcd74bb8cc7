"""``GET /healthz``: is the server up, and what is it serving with."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from yt8m._version import __version__
from yt8m.web.settings import MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE
from yt8m.web.state import AppState, get_state

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(state: Annotated[AppState, Depends(get_state)]) -> dict[str, Any]:
    """Status, model, labels, extraction availability, dataset options and job counts."""
    settings = state.settings
    return {
        "status": "ok",
        "version": __version__,
        **state.resources.describe(),
        "dataset": state.records.describe(),
        "media_root": settings.media_root is not None,
        "max_upload_mb": settings.max_upload_mb,
        "max_video_pixels": settings.max_pixels,
        "segment_size": {"default": settings.default_segment_size, "min": MIN_SEGMENT_SIZE,
                         "max": MAX_SEGMENT_SIZE},
        "jobs": state.jobs.counts(),
    }
