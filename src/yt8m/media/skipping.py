"""Which frames the 1 Hz rule can never choose, decided from packet times before decoding.

The reference's sampler (:mod:`yt8m.media.sampling`) only ever outputs, for a whole second
``T`` of the clip window, the last frame before ``T`` or the first frame at or after
``T`` (its "previous" and "next"), and its state depends only on the first frame's time
and the time of the frame last fed. Any subset of the frames that keeps the first frame,
the last frame, and the previous and next frame of every whole second in the window
therefore gives the sampler exactly the same outputs (see docs/visual.md, "Decoding
less"). A frame at ``t`` is certainly none of those when two other frames are known, one
at ``a < t`` and one at ``b > t``, and no whole second of the window lies in ``(a, b]``:
the frames really adjacent to ``t`` lie in ``[a, b]``, so ``t`` is never the last frame
before, nor the first frame at or after, a second of the window, and it is neither the
first nor the last frame.

Frame times are the packets' presentation times, known after demuxing and before
decoding. :func:`plan_skips` reads a bounded look-ahead of packets and marks each one
that certainly cannot be chosen; when in doubt (no time, no bound known yet) it keeps the
packet. It assumes what every conforming stream gives: one frame per packet with the
packet's time, out of the decoder in increasing time. The caller stops skipping when a
decoded frame breaks that assumption (see :mod:`yt8m.media.video`).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from yt8m.media.sampling import US_PER_S

__all__ = ["HISTORY", "LOOKAHEAD", "can_skip", "plan_skips"]

P = TypeVar("P")

#: Packets read ahead of the one being decided. Larger than any stream's reorder depth
#: (H.264 and HEVC allow at most 16), so the frame shown next is usually known.
LOOKAHEAD = 32
#: Times of packets already decided that are kept as possible lower bounds.
HISTORY = 64


def can_skip(t_us: int, known_us: list[int], *, start_us: int, end_us: int | None) -> bool:
    """True if a frame at ``t_us`` is certainly not chosen by the 1 Hz rule in ``[start_us, end_us)``.

    ``known_us`` is a sorted list of the times of other frames known to exist (it may
    contain ``t_us`` itself). The frame can be skipped when a known frame precedes it, one
    follows it, and no whole second ``T`` with ``start_us <= T < end_us`` lies in
    ``(a, b]``, where ``a`` and ``b`` are the nearest known times before and after it.
    """
    i = bisect.bisect_left(known_us, t_us)
    j = bisect.bisect_right(known_us, t_us)
    if i == 0 or j == len(known_us):
        return False  # possibly the first or the last frame
    a, b = known_us[i - 1], known_us[j]
    # The whole seconds T of the window with a < T <= b: from lo to hi.
    lo = max((a // US_PER_S + 1) * US_PER_S, -(-start_us // US_PER_S) * US_PER_S)
    hi = (b // US_PER_S) * US_PER_S  # last second <= b
    if end_us is not None:
        hi = min(hi, ((end_us - 1) // US_PER_S) * US_PER_S)  # last second < end
    return lo > hi


def plan_skips(packets: Iterable[P], time_us: Callable[[P], int | None], *, start_us: int,
               end_us: int | None, lookahead: int = LOOKAHEAD,
               history: int = HISTORY) -> Iterator[tuple[P, bool]]:
    """Yield each packet with True when its frame is certainly not chosen (see :func:`can_skip`).

    ``time_us(packet)`` is the presentation time of the packet's frame, or ``None`` when
    unknown (no pts, a packet the decoder discards, a flush packet): such packets are
    never marked and bound nothing. Packets are yielded in their input order; at most
    ``lookahead`` packets are held, and the times of the last ``history`` decided packets
    are remembered, so memory does not grow with the stream.
    """
    if lookahead < 1 or history < 1:
        raise ValueError(f"lookahead and history must be positive, got {lookahead} and {history}")
    ahead: deque[tuple[P, int | None]] = deque()
    behind: deque[int] = deque()
    known: list[int] = []  # sorted times of `ahead` and `behind`

    def decide() -> tuple[P, bool]:
        packet, t = ahead.popleft()
        skip = t is not None and can_skip(t, known, start_us=start_us, end_us=end_us)
        if t is not None:
            behind.append(t)
            if len(behind) > history:
                old = behind.popleft()
                del known[bisect.bisect_left(known, old)]
        return packet, skip

    for packet in packets:
        t = time_us(packet)
        ahead.append((packet, t))
        if t is not None:
            bisect.insort(known, t)
        if len(ahead) > lookahead:
            yield decide()
    while ahead:
        yield decide()
