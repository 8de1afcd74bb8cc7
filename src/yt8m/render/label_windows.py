"""The windows of a predictions JSON, checked, and which one is shown at a given time.

``yt8m predict`` writes ``{"windows": [{"start_s", "end_s", "labels": [{"index", "name",
"score"}, ...]}, ...], ...}`` (see :func:`yt8m.inference.video_predictions.predict_local`). This
module reads only ``windows``; every other key is ignored. A label's ``name`` may be
missing or ``null`` (no label map): the label is then shown by its class index.
"""

from __future__ import annotations

import bisect
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yt8m._files import read_input_bytes
from yt8m.errors import InputError

__all__ = [
    "LabelWindow", "ShownLabel", "WindowClock", "load_predictions", "shown_labels",
    "windows_from_predictions",
]


@dataclass(frozen=True)
class ShownLabel:
    """One predicted class: its index, its name (``None`` without a label map) and its score."""

    index: int
    name: str | None
    score: float

    @property
    def text(self) -> str:
        """The label as drawn: ``"name: 0.91"``, or ``"index: 0.91"`` without a name."""
        return f"{self.name if self.name is not None else self.index}: {self.score:.2f}"


@dataclass(frozen=True)
class LabelWindow:
    """A window ``[start_s, end_s)`` of the video (seconds) and its labels, best first."""

    start_s: float
    end_s: float
    labels: tuple[ShownLabel, ...]


def load_predictions(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a predictions JSON file written by ``yt8m predict`` and check its windows.

    Raises :class:`InputError` naming the file when it is missing, not UTF-8 JSON, or its
    ``windows`` are malformed (see :func:`windows_from_predictions`).
    """
    p = Path(path)
    data = read_input_bytes(p, expected="a predictions JSON file")
    try:
        predictions = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        message = f"{p}: not UTF-8 text (byte {exc.start}), expected a predictions JSON file"
        raise InputError(message) from None
    except json.JSONDecodeError as exc:
        message = f"{p}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        raise InputError(message) from None
    windows_from_predictions(predictions, where=str(p))
    return predictions


def windows_from_predictions(predictions: object, *, where: str = "predictions") -> list[LabelWindow]:
    """The windows of ``predictions`` (a predictions JSON object), sorted by start time.

    Windows with the same start keep their order. Each window's labels are sorted by
    descending score. Raises :class:`InputError` starting with ``where`` and naming the
    bad entry (e.g. ``windows[2].labels[0]: 'score' must be a number, got "high"``).
    """
    if not isinstance(predictions, Mapping):
        raise InputError(f"{where}: expected a JSON object with 'windows', got {_json_type(predictions)}")
    raw = predictions.get("windows")
    if not isinstance(raw, list):
        got = "nothing" if raw is None else _json_type(raw)
        raise InputError(f"{where}: 'windows' must be a list of windows, got {got}")
    windows = [_window(item, where=f"{where}: windows[{i}]") for i, item in enumerate(raw)]
    return sorted(windows, key=lambda w: w.start_s)


def shown_labels(window: LabelWindow, *, top_k: int, threshold: float) -> tuple[ShownLabel, ...]:
    """The labels drawn for ``window``: the best ``top_k`` whose score is ``>= threshold``."""
    return tuple(label for label in window.labels if label.score >= threshold)[:top_k]


class WindowClock:
    """Which window is shown at a time: the latest one that started at or before it.

    Before the first window's start nothing is shown (``None``); after the last window
    ends, the last window stays shown (as in the reference, which keeps the latest window).
    """

    def __init__(self, windows: Sequence[LabelWindow]) -> None:
        self._starts = [w.start_s for w in windows]
        if any(b < a for a, b in zip(self._starts, self._starts[1:], strict=False)):
            raise ValueError("windows must be sorted by start_s")

    def index_at(self, time_s: float) -> int | None:
        """Index of the window shown at ``time_s`` (seconds), or ``None`` before the first."""
        i = bisect.bisect_right(self._starts, time_s) - 1
        return i if i >= 0 else None


def _window(item: object, *, where: str) -> LabelWindow:
    if not isinstance(item, Mapping):
        raise InputError(f"{where}: expected an object with start_s, end_s and labels, "
                         f"got {_json_type(item)}")
    start_s = _number(item, "start_s", where)
    end_s = _number(item, "end_s", where)
    if end_s < start_s:
        raise InputError(f"{where}: end_s ({end_s:g}) is before start_s ({start_s:g})")
    labels = item.get("labels")
    if not isinstance(labels, list):
        got = _json_type(labels) if labels is not None else "nothing"
        raise InputError(f"{where}: 'labels' must be a list, got {got}")
    parsed = [_label(label, where=f"{where}.labels[{j}]") for j, label in enumerate(labels)]
    parsed.sort(key=lambda label: -label.score)
    return LabelWindow(start_s=start_s, end_s=end_s, labels=tuple(parsed))


def _label(item: object, *, where: str) -> ShownLabel:
    if not isinstance(item, Mapping):
        raise InputError(f"{where}: expected an object with index, name and score, got {_json_type(item)}")
    index = item.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise InputError(f"{where}: 'index' must be a class index (an integer >= 0), got {json.dumps(index)}")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise InputError(f"{where}: 'name' must be a string or null, got {_json_type(name)}")
    return ShownLabel(index=index, name=name, score=_number(item, "score", where))


def _number(item: Mapping[str, Any], key: str, where: str) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        got = "nothing" if key not in item else json.dumps(value, ensure_ascii=False)
        raise InputError(f"{where}: {key!r} must be a number, got {got}")
    return float(value)


def _json_type(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
