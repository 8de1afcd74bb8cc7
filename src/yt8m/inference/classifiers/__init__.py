"""Classifier backends behind one interface (:class:`Classifier`).

* native PyTorch models of the starter code's families (:mod:`.native`), stored as
  safetensors plus a JSON config (:mod:`.loader`);
* TensorFlow SavedModels with the baseline's signature, run in a worker process
  (:mod:`.savedmodel`).

:func:`load_classifier` recognises which kind a ``--model`` is.
"""

from yt8m.inference.classifiers.base import FEATURE_SIZE, Classifier
from yt8m.inference.classifiers.loader import load_classifier, load_native, recognise_model_dir, save_native
from yt8m.inference.classifiers.native import FAMILIES, NativeClassifier, NativeModel, build_model

__all__ = [
    "FAMILIES", "FEATURE_SIZE", "Classifier", "NativeClassifier", "NativeModel", "build_model",
    "load_classifier", "load_native", "recognise_model_dir", "save_native",
]
