"""``GET /api/records``: a YouTube-8M dataset record by id or YouTube URL, with its windows."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from yt8m.web.records import RECORD_TOP_K
from yt8m.web.routers._params import SegmentSize, TopK
from yt8m.web.state import AppState, get_state

router = APIRouter(prefix="/api/records", tags=["records"])


@router.get("", responses={404: {"description": "No such record (locally, or online when allowed)."},
                           422: {"description": "The query is neither an id nor a YouTube URL."},
                           502: {"description": "The online lookup or the shard download failed."}})
def record(q: Annotated[str, Query(max_length=300, description="A YouTube-8M id, a YouTube id or URL.")],
           state: Annotated[AppState, Depends(get_state)], segment_size: SegmentSize = None,
           top_k: TopK = None) -> dict[str, Any]:
    """The record's dataset windows (one ending at every second, stamped ``time_s`` at its last
    second; see docs/inference.md, 'Dataset windows'), its ground-truth labels, and its YouTube
    id when known."""
    size = segment_size or state.settings.default_segment_size
    return state.records.record(q, segment_size=size, top_k=top_k or RECORD_TOP_K)
