"""``POST /api/uploads``: receive a video and queue its job.

The body is either the video's bytes (any ``Content-Type`` but multipart; the name in
``?filename=``) or a ``multipart/form-data`` form with one file field ``file``. The
size limit applies while the bytes arrive (see :class:`~yt8m.web.security.BodyLimitMiddleware`);
the type is decided by FFmpeg, not by the name or the declared type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from yt8m.web import ingest
from yt8m.web.jobs import ExtractionUnavailable
from yt8m.web.state import AppState, get_state

router = APIRouter(prefix="/api", tags=["uploads"])
_CHUNK = 1 << 20


async def _file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_CHUNK):
        yield chunk


@router.post("/uploads", status_code=202, responses={
    200: {"description": "The same video was submitted before: its job (possibly finished)."},
    202: {"description": "A new job was queued."},
    413: {"description": "The body is larger than --max-upload-mb, or its frames than --max-video-pixels."},
    415: {"description": "Not a video FFmpeg can read."},
    503: {"description": "Extraction is unavailable on this server."}})
async def upload(request: Request, state: Annotated[AppState, Depends(get_state)],
                 filename: Annotated[str | None, Query(max_length=255)] = None) -> JSONResponse:
    """Store an uploaded video by its content hash and queue its extraction job."""
    if state.resources.extractor is None:
        raise ExtractionUnavailable(state.resources.extraction_error or "video extraction is unavailable")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=4)
        field = form.get("file")
        if not isinstance(field, UploadFile):
            raise ingest.EmptyUpload("the form has no file field named 'file'")
        name = ingest.display_name(field.filename or filename)
        staged = await ingest.receive(_file_chunks(field), state.jobs.tmp_dir)
        await field.close()
    else:
        name = ingest.display_name(filename)
        staged = await ingest.receive(request.stream(), state.jobs.tmp_dir)
    try:
        info = await run_in_threadpool(ingest.sniff, staged.path, name=name,
                                       max_pixels=state.settings.max_pixels)
        stored = await run_in_threadpool(ingest.store, staged, info, state.jobs.videos_dir)
        job, created = state.jobs.submit(staged, info, name=name, origin="upload", video=stored.name)
    finally:
        staged.path.unlink(missing_ok=True)
    return JSONResponse({**job.to_json(), "cached": not created}, status_code=202 if created else 200)
