"""Parameters shared by several routers, validated strictly where they arrive."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from yt8m.web.settings import MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="A job id: 32 lowercase hex digits.")]
SegmentSize = Annotated[int | None, Query(ge=MIN_SEGMENT_SIZE, le=MAX_SEGMENT_SIZE,
                                          description="Seconds per window (default: the server's).")]
TopK = Annotated[int | None, Query(ge=1, le=50, description="Labels kept per window.")]
