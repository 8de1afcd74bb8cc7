"""Which seconds each prediction covers.

See docs/inference.md, 'Local windows', 'Dataset windows' and 'Segment chunks'.

Three rules, all over a video of ``num_seconds`` one-second feature rows:

* :func:`local_windows` (the local-video graph): windows of ``segment_size`` seconds
  overlapping by ``overlap``; they start at 0, s-o, 2(s-o), ...; there are
  ``floor((N - s) / (s - o)) + 1`` of them (none when N < s); the tail that does not
  fill a window is dropped; each window is stamped with its first second.
* :func:`dataset_windows` (the dataset graph): ``seg = min(N, segment_size)``; one window
  ends at every second from seg-1 to N-1 (so N - seg + 1 windows, none when N = 0),
  each stamped with its last second.
* :func:`segment_chunks` (the starter code's 2019 segment inference): consecutive chunks
  of ``segment_size`` seconds starting at 0, s, 2s, ...; the last one may be shorter.

Every window is the half-open range of rows ``[start, start + length)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from yt8m.errors import InputError


@dataclass(frozen=True)
class Windows:
    """Spans of rows: ``starts[i]`` .. ``starts[i] + lengths[i]``, stamped ``stamps[i]`` (seconds)."""

    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    stamps: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if not (self.starts.shape == self.lengths.shape == self.stamps.shape) or self.starts.ndim != 1:
            raise ValueError(f"starts {self.starts.shape}, lengths {self.lengths.shape} and stamps "
                             f"{self.stamps.shape} must be equal 1-d shapes")

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    @property
    def ends(self) -> npt.NDArray[np.int64]:
        """One past the last row of each window."""
        return self.starts + self.lengths

    def __repr__(self) -> str:
        return f"Windows({len(self)} windows, lengths {sorted(set(self.lengths.tolist()))})"


def _check_size(segment_size: int) -> None:
    if segment_size < 1:
        raise InputError(f"segment size ({segment_size}) must be at least 1 second")


def _check_seconds(num_seconds: int) -> None:
    if num_seconds < 0:
        raise ValueError(f"num_seconds ({num_seconds}) must be >= 0")


def local_windows(num_seconds: int, *, segment_size: int = 5, overlap: int = 4) -> Windows:
    """Windows of the local-video rule, stamped with their first second."""
    _check_seconds(num_seconds)
    _check_size(segment_size)
    if not 0 <= overlap < segment_size:
        raise InputError(f"overlap ({overlap}) must be >= 0 and less than the segment size ({segment_size})")
    step = segment_size - overlap
    count = (num_seconds - segment_size) // step + 1 if num_seconds >= segment_size else 0
    starts = np.arange(count, dtype=np.int64) * step
    return Windows(starts, np.full(count, segment_size, np.int64), starts.copy())


def dataset_windows(num_seconds: int, *, segment_size: int = 5) -> Windows:
    """Windows of the dataset rule, one ending at every second, stamped with their last second."""
    _check_seconds(num_seconds)
    _check_size(segment_size)
    seg = min(num_seconds, segment_size)
    last = np.arange(seg - 1, num_seconds, dtype=np.int64) if seg > 0 else np.zeros(0, np.int64)
    return Windows(last - seg + 1, np.full(last.shape[0], seg, np.int64), last)


def segment_chunks(num_seconds: int, *, segment_size: int = 5) -> Windows:
    """Consecutive chunks starting at 0, s, 2s, ... (the last may be short), stamped with their start."""
    _check_seconds(num_seconds)
    _check_size(segment_size)
    starts = np.arange(0, num_seconds, segment_size, dtype=np.int64)
    return Windows(starts, np.minimum(segment_size, num_seconds - starts), starts.copy())
