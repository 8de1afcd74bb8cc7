"""Jobs: list, inspect, start one from the media folder, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from yt8m.web import ingest
from yt8m.web.jobs import ExtractionUnavailable
from yt8m.web.routers._params import JobId
from yt8m.web.security import NotInside, resolve_inside
from yt8m.web.state import AppState, get_state

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


class MediaPick(BaseModel):
    """A video of the media folder, by its path relative to the folder (as ``GET /api/media`` lists it)."""

    media: str = Field(min_length=1, max_length=1024)


@router.get("")
def list_jobs(state: Annotated[AppState, Depends(get_state)]) -> dict[str, Any]:
    """Every job, newest first."""
    return {"jobs": [job.to_json() for job in state.jobs.list()]}


@router.post("", status_code=202, responses={200: {"description": "Known video: its existing job."}})
def pick(body: MediaPick, state: Annotated[AppState, Depends(get_state)]) -> JSONResponse:
    """Queue the job of a video from the media folder (the file is read in place, not copied)."""
    root = state.settings.media_root
    if root is None:
        raise NotInside("this server has no media folder (start it with --media-root DIR)")
    if state.resources.extractor is None:
        raise ExtractionUnavailable(state.resources.extraction_error or "video extraction is unavailable")
    root = Path(root).resolve()
    path = resolve_inside(root, body.media)
    name = ingest.display_name(path.name)
    staged = ingest.hash_file(path)
    info = ingest.sniff(path, name=name, max_pixels=state.settings.max_pixels)
    job, created = state.jobs.submit(staged, info, name=name, origin="media",
                                     video=path.relative_to(root).as_posix())
    return JSONResponse({**job.to_json(), "cached": not created}, status_code=202 if created else 200)


@router.get("/{job_id}")
def get_job(job_id: JobId, state: Annotated[AppState, Depends(get_state)]) -> dict[str, Any]:
    """A job's status, stage, progress (0-1, in video seconds extracted), error and notes."""
    return state.jobs.get(job_id).to_json()


@router.delete("/{job_id}", status_code=204)
def delete_job(job_id: JobId, state: Annotated[AppState, Depends(get_state)]) -> Response:
    """Delete a finished or failed job with its features (and its video, for uploads)."""
    state.jobs.delete(job_id)
    state.predictions.forget(job_id)
    return Response(status_code=204)
