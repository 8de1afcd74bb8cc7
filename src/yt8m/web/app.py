"""The viewer's FastAPI application: :func:`create_app` builds it from :class:`Settings`.

Models are loaded once, in the lifespan (unless the caller hands in loaded
:class:`Resources`, as ``yt8m serve`` and the tests do); the job runner's thread starts
and stops with it. Routes live in :mod:`yt8m.web.routers`, one module per resource;
the page and its assets in ``yt8m/web/static``. The JSON API is described at ``/docs``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from yt8m._version import __version__
from yt8m.errors import Yt8mError
from yt8m.web.errors import http_status
from yt8m.web.jobs import JobRunner, JobStore
from yt8m.web.prediction_service import PredictionService
from yt8m.web.records import RecordService
from yt8m.web.resources import Resources
from yt8m.web.routers import ROUTERS
from yt8m.web.routers.page import STATIC_DIR
from yt8m.web.security import (
    BodyLimitMiddleware,
    HostCheckMiddleware,
    SameOriginMiddleware,
    SecurityHeadersMiddleware,
)
from yt8m.web.settings import Settings
from yt8m.web.state import AppState

log = logging.getLogger(__name__)

_DESCRIPTION = """Watch a video with its YouTube-8M labels over time.

Upload a video (`POST /api/uploads`) or pick one from the media folder (`POST /api/jobs`);
a background job extracts its features and predicts; then `GET /api/jobs/{id}/predictions`
gives the labels of every window for any segment size, and `GET /api/videos/{id}` the video
(with Range requests). `GET /api/records?q=` does the same for a YouTube-8M dataset record.
"""


def build_state(settings: Settings, resources: Resources) -> AppState:
    """Wire the job store, runner, prediction and record services around loaded ``resources``."""
    data_dir = settings.resolved_data_dir()
    media_root = Path(settings.media_root).resolve() if settings.media_root is not None else None
    store = JobStore(data_dir, media_root=media_root)
    predictions = PredictionService(store, resources)

    def finish(job_id: str) -> list[str]:
        if resources.classifier is None:  # the features are kept; predictions wait for a classifier
            return [f"features saved, no predictions: {resources.classifier_error}"]
        predictions.for_job(job_id, segment_size=settings.default_segment_size)
        return []

    runner = JobRunner(store, lambda: resources.extractor, lambda: resources.extraction_error, finish)
    records = RecordService(settings, resources, data_dir)
    return AppState(settings, resources, data_dir, store, runner, predictions, records)


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    """The viewer app. Without ``resources``, the lifespan loads them (and closes them at shutdown)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = resources if resources is not None else await run_in_threadpool(Resources.load, settings)
        state = build_state(settings, loaded)
        app.state.yt8m = state
        state.runner.start()
        log.info("viewer ready: model %s%s, data in %s", loaded.model,
                 "" if loaded.classifier is not None else " (not loaded)", state.data_dir)
        try:
            yield
        finally:
            state.runner.stop()
            if resources is None:
                loaded.close()

    app = FastAPI(title="yt8m viewer", version=__version__, description=_DESCRIPTION, lifespan=lifespan)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(Yt8mError)
    async def yt8m_error(request: Request, exc: Yt8mError) -> JSONResponse:
        status = http_status(exc)
        if status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # A client that hangs up mid-upload is not a server error: one line, no traceback. Whatever
        # was received is already removed (ingest.receive deletes its partial file).
        log.warning("%s %s: the client closed the connection before the request body was complete; nothing "
                    "was kept", request.method, request.url.path)
        return Response(status_code=400)  # nobody reads it

    # Added innermost first: the host check runs first, the body limit last.
    app.add_middleware(BodyLimitMiddleware, max_mb=settings.max_upload_mb)
    app.add_middleware(SameOriginMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.hosts != ("*",):
        app.add_middleware(HostCheckMiddleware, allowed=settings.hosts)
    return app
