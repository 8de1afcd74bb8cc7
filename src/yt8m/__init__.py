"""yt8m: YouTube-8M features and predictions for your own videos.

``yt8m.extract(path)`` returns a :class:`~yt8m.features.sequence.FeatureSequence`
(``rgb`` [T, 1024], ``audio``, timestamps, metadata); :class:`yt8m.Extractor` keeps the
models loaded for many videos. The file formats live in :mod:`yt8m.formats`, the
weights in :mod:`yt8m.weights`, the command line in :mod:`yt8m.cli`.
"""

from typing import Any

from yt8m._version import __version__
from yt8m.errors import InputError, WeightsError, Yt8mError

__all__ = ["ExtractOptions", "Extractor", "FeatureSequence", "InputError", "WeightsError", "Yt8mError",
           "__version__", "extract"]

_LAZY = {  # imported on first use, so `import yt8m` stays light (no torch)
    "extract": "yt8m.extraction",
    "Extractor": "yt8m.extraction",
    "ExtractOptions": "yt8m.extraction",
    "FeatureSequence": "yt8m.features.sequence",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'yt8m' has no attribute {name!r}")
