"""Model weights: the model specs, format readers and converters, and the converted-model store.

``yt8m.weights.load(name)`` is the one call everything downstream uses. The published
files themselves (registry, cache folder, downloads, manifest) are :mod:`yt8m.artifacts`;
this package turns them into tensors: :mod:`~yt8m.weights.specs` (each model's sources,
converter and expected shapes), :mod:`~yt8m.weights.convert` and the readers it uses
(:mod:`~yt8m.weights.checkpoint`, :mod:`~yt8m.weights.sstable`,
:mod:`~yt8m.weights.tensor_proto`), and :mod:`~yt8m.weights.store`. It never imports the
networks (:mod:`yt8m.features` imports it).
"""

from yt8m.weights.specs import MODELS, ModelSpec
from yt8m.weights.store import Weights, ensure_models, load

__all__ = ["MODELS", "ModelSpec", "Weights", "ensure_models", "load"]
