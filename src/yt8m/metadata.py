"""Clip selection: the metadata that tells extraction which part of which video to use."""

from __future__ import annotations

import os
from pathlib import Path

from yt8m.errors import InputError
from yt8m.formats.mediasequence import ClipMetadata
from yt8m.media.probe import probe


def seconds_to_us(seconds: float) -> int:
    """Convert seconds to whole microseconds, rounding to nearest."""
    return int(round(seconds * 1_000_000))


def clip_metadata_for(
    video: str | os.PathLike[str], *, start_s: float = 0.0, end_s: float | None = None
) -> ClipMetadata:
    """Return the clip ``[start_s, end_s)`` of ``video``; ``end_s`` defaults to its duration.

    Like the reference, fails when the video path is missing or when start >= end.
    """
    path = Path(video)
    if not str(video):
        raise InputError("You must specify the path to the input video.")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if end_s is None:
        end_s = probe(path).duration_s
        if end_s <= 0:
            raise InputError(f"{path}: the video's duration is unknown or zero; pass --end")
    if start_s >= end_s:
        raise InputError(f"The clip start time ({start_s:g} s) must be less than the clip end time "
                         f"({end_s:g} s).")
    return ClipMetadata(str(path.resolve()), seconds_to_us(start_s), seconds_to_us(end_s))
