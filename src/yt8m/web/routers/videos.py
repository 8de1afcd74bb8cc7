"""``GET /api/videos/{id}``: a job's video, with HTTP Range requests so the player can seek."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from yt8m.web.routers._params import JobId
from yt8m.web.state import AppState, get_state

router = APIRouter(prefix="/api/videos", tags=["videos"])


@router.get("/{job_id}", response_class=FileResponse, responses={
    206: {"description": "The requested byte range."},
    416: {"description": "The range lies beyond the file."}})
@router.head("/{job_id}", include_in_schema=False)
def video(job_id: JobId, state: Annotated[AppState, Depends(get_state)]) -> FileResponse:
    """The video bytes (``Accept-Ranges: bytes``; a ``Range`` gets 206 with ``Content-Range``).

    Only files inside the upload folder or the media folder are served, checked on their real path.
    """
    record = state.jobs.get(job_id)
    path = state.jobs.video_path(record)
    return FileResponse(path, media_type=record.media_type,
                        headers={"Cache-Control": "private, max-age=3600"})
