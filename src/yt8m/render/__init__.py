"""Annotated videos: the predicted labels drawn on each frame, the sound kept.

See docs/inference.md, 'Annotated video'.

* :mod:`.label_windows`: the windows of a predictions JSON, checked, and which window a
  frame shows (the latest that started at or before it);
* :mod:`.overlay`: label text (rank colours, outlined, sized by the frame) and the
  timeline bar as RGBA overlays; the shipped font (``fonts/``);
* :mod:`.layout`: :class:`FrameAnnotator`, the overlays of the frame shown at a time;
* :mod:`.yuv`: overlays blended straight into planar YUV frames;
* :mod:`.annotate`: :func:`annotate_video`, the streaming decode, draw, encode and mux.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AnnotateReport", "FrameAnnotator", "annotate_video", "load_predictions"]

_LAZY = {"AnnotateReport": "yt8m.render.annotate", "annotate_video": "yt8m.render.annotate",
         "FrameAnnotator": "yt8m.render.layout", "load_predictions": "yt8m.render.label_windows"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
