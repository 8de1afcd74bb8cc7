"""Official weights: the artifact registry, download and cache, and format converters.

``yt8m.weights.load(name)`` is the one call everything downstream uses.
"""

from yt8m.weights.store import Weights, load

__all__ = ["Weights", "load"]
