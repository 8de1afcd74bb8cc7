"""The reference's 1 Hz frame sampler: MediaPipe's PacketResamplerCalculator, "no jitter".

What the reference does (``mediapipe/graphs/youtube8m/feature_extraction.pbtxt``):

- ``OpenCvVideoDecoderCalculator`` decodes the *entire* video (no seek, no options) and
  stamps each frame with ``Timestamp(cap.get(CAP_PROP_POS_MSEC) * 1000)``; frames whose
  stamp does not increase are dropped.
- ``UnpackMediaSequenceCalculator`` builds the resampler options from
  ``base_packet_resampler_options { frame_rate: 1.0 base_timestamp: 0 }`` and sets
  ``start_time`` / ``end_time`` from ``clip/start/timestamp`` / ``clip/end/timestamp``
  (its ``padding_before_label`` / ``padding_after_label`` are 0 in this graph).
- ``PacketResamplerCalculator`` (jitter 0, so ``NoJitterStrategy``) picks the frames.
  ``flush_last_packet`` is not set in the graph; its proto default is ``true``.
  ``round_limits`` defaults to ``false``.

So the clip window is a *filter on the resampler's outputs*, not a decoder seek: the
sampling grid is anchored at timestamp 0 whatever the clip start, and an output at
period time ``T`` is kept iff ``start_time <= T < end_time`` (a half-open window; a
0-120 s clip gives the 120 outputs at 0, 1, ..., 119 s).

The rule (ported from ``NoJitterStrategy::Process`` / ``Close`` and the calculator's
``PeriodIndexToTimestamp`` / ``TimestampToPeriodIndex`` / ``OutputWithinLimits``), with
``round`` being MediaPipe's ``MathUtil::SafeRound``: ``trunc(x + 0.5)`` for ``x >= 0``,
``trunc(x - 0.5)`` otherwise, i.e. half away from zero:

- The first input fixes ``first``: the input's own time when no base timestamp is given,
  else ``base + round(round((t0 - base) * rate) / rate)`` (in microseconds); with base 0
  and 1 Hz that is ``round(t0 / 1 s)`` whole seconds, so a video whose first frame is at
  0.7 s has its first period at 1 s.
- Period ``k`` is at ``first + round(k / rate)``. Input ``t`` belongs to period
  ``round((t - first) * rate)``.
- An input whose period is below the next period to emit only becomes "previous".
  Otherwise every skipped period is first emitted with the previous input (repeats over
  holes, even when the new input would be nearer); then, if ``t >= T`` (the next
  period's time), the nearer of this input and the previous one is emitted for ``T``
  (a tie, ``t - T == T - t_prev``, goes to this input) and the next period becomes due.
- At end of stream (``flush_last_packet``) the last input is emitted for the next
  period if it belongs to that period.
- Outputs carry the period time, never the input's time.

Nothing here decodes video: the sampler works on any items with microsecond stamps, so
the decoder can feed lazy frames and convert only the chosen ones. The streaming form
holds at most the previous item.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = [
    "US_PER_S",
    "PacketResampler",
    "ResamplerOptions",
    "mediapipe_round",
    "one_hz_sampler",
    "resample",
    "sample_1hz",
]

T = TypeVar("T")

#: Microseconds per second (MediaPipe's ``Timestamp::kTimestampUnitsPerSecond``).
US_PER_S = 1_000_000


def mediapipe_round(x: float) -> int:
    """Round half away from zero exactly like MediaPipe's ``MathUtil::SafeRound<int64>``.

    That is ``trunc(x + 0.5)`` for ``x >= 0`` and ``trunc(x - 0.5)`` otherwise, computed
    in double precision; NaN gives 0.
    """
    if math.isnan(x):
        return 0
    return int(x - 0.5) if x < 0.0 else int(x + 0.5)


@dataclass(frozen=True)
class ResamplerOptions:
    """The ``PacketResamplerCalculatorOptions`` that matter without jitter.

    ``frame_rate`` is in outputs per second. Times are microseconds. ``start_time_us`` /
    ``end_time_us`` bound the output stamps to ``[start, end)``; ``None`` means unbounded.
    ``round_limits`` widens both limits by half a period, as MediaPipe does.
    """

    frame_rate: float
    base_timestamp_us: int | None = None
    start_time_us: int | None = None
    end_time_us: int | None = None
    round_limits: bool = False
    flush_last_packet: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.frame_rate <= US_PER_S:
            raise ValueError(f"frame_rate must be in (0, {US_PER_S}] outputs per second, "
                             f"got {self.frame_rate}")
        if (self.start_time_us is not None and self.end_time_us is not None
                and self.end_time_us <= self.start_time_us):
            raise ValueError(f"end_time_us ({self.end_time_us}) must be greater than "
                             f"start_time_us ({self.start_time_us})")

    @property
    def period_us(self) -> int:
        """MediaPipe's ``frame_time_usec_``: ``1e6 / frame_rate`` truncated."""
        return int(1_000_000.0 / self.frame_rate)


class PacketResampler(Generic[T]):
    """Streaming no-jitter PacketResampler: feed ``(timestamp_us, item)``, get outputs.

    :meth:`push` returns the ``(period_time_us, item)`` outputs decided by that input, in
    increasing period time, already filtered to the options' window; :meth:`flush` ends
    the stream. Only the previous item is kept between calls.
    """

    def __init__(self, options: ResamplerOptions) -> None:
        self.options = options
        self._started = False
        self._first_us = 0
        self._period_count = 0
        self._last: tuple[int, T] | None = None
        self._closed = False

    @property
    def next_period_us(self) -> int | None:
        """Time of the next period not yet emitted, or ``None`` before the first input."""
        if not self._started:
            return None
        return self._period_to_us(self._period_count)

    def push(self, timestamp_us: int, item: T) -> list[tuple[int, T]]:
        """Feed one input; timestamps must strictly increase (MediaPipe stream rule)."""
        if self._closed:
            raise ValueError("push() after flush(): the stream has ended")
        if self._last is not None and timestamp_us <= self._last[0]:
            raise ValueError(f"timestamps must strictly increase: {timestamp_us} after {self._last[0]}")
        if not self._started:
            self._first_us = self._first_timestamp(timestamp_us)
            self._started = True
        out: list[tuple[int, T]] = []
        index = self._us_to_period(timestamp_us)
        if index >= self._period_count:
            self._fill_until(index, out)
            target_us = self._period_to_us(self._period_count)
            if timestamp_us >= target_us:
                self._emit(self._nearer(timestamp_us, item, target_us), target_us, out)
                self._period_count += 1
        self._last = (timestamp_us, item)
        return out

    def flush(self) -> list[tuple[int, T]]:
        """End the stream: emit the last input for its period if that period is still due."""
        self._closed = True
        out: list[tuple[int, T]] = []
        if (self.options.flush_last_packet and self._last is not None
                and self._us_to_period(self._last[0]) == self._period_count):
            target_us = self._period_to_us(self._period_count)
            self._emit(self._last[1], target_us, out)
        return out

    def _first_timestamp(self, t0_us: int) -> int:
        base = self.options.base_timestamp_us
        if base is None:
            return t0_us
        rate = self.options.frame_rate
        first_index = mediapipe_round(((t0_us - base) / 1_000_000.0) * rate)
        return base + mediapipe_round((first_index / rate) * 1_000_000.0)

    def _period_to_us(self, index: int) -> int:
        return self._first_us + mediapipe_round((index / self.options.frame_rate) * 1_000_000.0)

    def _us_to_period(self, timestamp_us: int) -> int:
        return mediapipe_round(((timestamp_us - self._first_us) / 1_000_000.0) * self.options.frame_rate)

    def _fill_until(self, index: int, out: list[tuple[int, T]]) -> None:
        # Periods skipped over get the previous input. The first input's period index
        # is 0 (or -1 with a base timestamp), so a previous input always exists here.
        while index > self._period_count and self._last is not None:
            self._emit(self._last[1], self._period_to_us(self._period_count), out)
            self._period_count += 1

    def _nearer(self, timestamp_us: int, item: T, target_us: int) -> T:
        if self._last is None or timestamp_us - target_us <= target_us - self._last[0]:
            return item
        return self._last[1]

    def _emit(self, item: T, period_us: int, out: list[tuple[int, T]]) -> None:
        opts = self.options
        margin = opts.period_us // 2 if opts.round_limits else 0
        if opts.start_time_us is not None and period_us < opts.start_time_us - margin:
            return
        if opts.end_time_us is not None and period_us >= opts.end_time_us + margin:
            return
        out.append((period_us, item))


def resample(timestamps_us: Iterable[int], options: ResamplerOptions) -> list[tuple[int, int]]:
    """Run the resampler over a whole stream of timestamps (microseconds, increasing).

    Returns ``(output_time_us, input_position)`` pairs, where ``input_position`` is the
    0-based position in ``timestamps_us`` of the input emitted at that time.
    """
    resampler: PacketResampler[int] = PacketResampler(options)
    out: list[tuple[int, int]] = []
    for position, t in enumerate(timestamps_us):
        out += resampler.push(t, position)
    return out + resampler.flush()


def one_hz_sampler(*, start_us: int = 0, end_us: int | None = None) -> PacketResampler[T]:
    """The reference's 1 Hz sampler (base timestamp 0), keeping outputs in ``[start_us, end_us)``.

    ``end_us=None`` keeps everything from ``start_us`` on.
    """
    return PacketResampler(ResamplerOptions(frame_rate=1.0, base_timestamp_us=0,
                                            start_time_us=start_us, end_time_us=end_us))


def sample_1hz(timestamps_us: Iterable[int], *, start_us: int = 0,
               end_us: int | None = None) -> list[tuple[int, int]]:
    """Which frame the reference keeps for each second in ``[start_us, end_us)``.

    ``timestamps_us`` are the frames' presentation times (microseconds, strictly
    increasing). Returns ``(period_time_us, frame_position)`` pairs with period times on
    whole seconds, in increasing order.
    """
    return resample(timestamps_us, ResamplerOptions(frame_rate=1.0, base_timestamp_us=0,
                                                    start_time_us=start_us, end_time_us=end_us))
