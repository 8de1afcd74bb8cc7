"""What an annotated frame shows at a given time, as overlays: the testable core.

:class:`FrameAnnotator` turns the predictions' windows into the overlays of the frame
shown at ``time_s``: the label lines of the latest window that started at or before
``time_s`` (none before the first window), then, with a timeline, the bar and its
marker. The video pipeline (:mod:`yt8m.render.annotate`) draws exactly these, so a
test can compute what any output frame must look like from its input frame.
"""

from __future__ import annotations

from collections.abc import Sequence

from yt8m.render.overlay import LabelPainter, Overlay, Timeline
from yt8m.render.label_windows import LabelWindow, ShownLabel, WindowClock, shown_labels

__all__ = ["FrameAnnotator"]


class FrameAnnotator:
    """The overlays of each frame of a ``frame_width`` x ``frame_height`` video.

    ``windows`` are sorted by start (:func:`~yt8m.render.label_windows.windows_from_predictions`).
    Each window shows its best ``top_k`` labels scoring ``>= threshold``. The timeline
    spans ``[0, duration_s]`` seconds; window ``i`` occupies it from its start to the next
    window's start (the last one to ``duration_s``), the span over which its labels show.
    Label overlays are rendered once per window, when first needed (the last one is kept).
    """

    def __init__(self, windows: Sequence[LabelWindow], *, frame_width: int, frame_height: int, top_k: int = 3,
                 threshold: float = 0.0, timeline: bool = True, duration_s: float | None = None) -> None:
        self.windows = list(windows)
        self.frame_width = frame_width
        self.frame_height = frame_height
        self.labels = [shown_labels(w, top_k=top_k, threshold=threshold) for w in self.windows]
        self._clock = WindowClock(self.windows)
        self._painter = LabelPainter(frame_width, frame_height)
        self._cached: tuple[int, Overlay | None] | None = None
        self.timeline: Timeline | None = None
        if timeline:
            end_s = duration_s
            if end_s is None:
                end_s = max((w.end_s for w in self.windows), default=0.0)
            self.timeline = Timeline(self._spans(end_s), duration_s=end_s, frame_width=frame_width,
                                     frame_height=frame_height)

    def window_at(self, time_s: float) -> int | None:
        """Index of the window whose labels show at ``time_s``; ``None`` before the first."""
        return self._clock.index_at(time_s)

    def labels_at(self, time_s: float) -> tuple[ShownLabel, ...]:
        """The labels drawn at ``time_s``, best first (empty before the first window)."""
        i = self.window_at(time_s)
        return () if i is None else self.labels[i]

    def text_overlay(self, window: int | None) -> Overlay | None:
        """The label lines of window ``window`` (``None``: no window), or ``None`` if it shows none."""
        if window is None:
            return None
        if self._cached is None or self._cached[0] != window:
            self._cached = (window, self._painter.render(self.labels[window]))
        return self._cached[1]

    def overlays_at(self, time_s: float) -> list[Overlay]:
        """Everything drawn on the frame shown at ``time_s``, in drawing order."""
        overlays = []
        text = self.text_overlay(self.window_at(time_s))
        if text is not None:
            overlays.append(text)
        if self.timeline is not None:
            overlays += [self.timeline.bar, self.timeline.marker(time_s)]
        return overlays

    def _spans(self, end_s: float) -> list[tuple[float, float, int | None]]:
        spans = []
        for i, window in enumerate(self.windows):
            stop_s = self.windows[i + 1].start_s if i + 1 < len(self.windows) else max(end_s, window.start_s)
            top = self.labels[i][0].index if self.labels[i] else None
            spans.append((window.start_s, stop_s, top))
        return spans
