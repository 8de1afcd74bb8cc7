"""``GET /api/jobs/{id}/predictions``: windows and whole-video labels, any segment size."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from yt8m.web.prediction_service import PAGE_TOP_K
from yt8m.web.routers._params import JobId, SegmentSize, TopK
from yt8m.web.state import AppState, get_state

router = APIRouter(prefix="/api/jobs", tags=["predictions"])


@router.get("/{job_id}/predictions", responses={
    409: {"description": "The job has no features yet, or failed."},
    503: {"description": "This server has no classifier (see /healthz, model.reason)."}})
def predictions(job_id: JobId, state: Annotated[AppState, Depends(get_state)],
                segment_size: SegmentSize = None,
                top_k: TopK = None) -> dict[str, Any]:
    """Windows of ``segment_size`` seconds, one starting at every second (overlap ``segment_size - 1``),
    each with ``time_s`` (its first second), ``start_s``, ``end_s`` and its top labels
    (``index``, ``name``, ``score``); ``video`` holds the whole video's top labels.

    Recomputed from the job's cached features: changing the segment size never extracts again.
    """
    size = segment_size or state.settings.default_segment_size
    return state.predictions.for_job(job_id, segment_size=size, top_k=top_k or PAGE_TOP_K)
