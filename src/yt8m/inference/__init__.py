"""YouTube-8M classifiers over local videos and dataset shards, and their metrics.

See docs/inference.md, 'Model input', 'Classifiers' and 'Metrics'.

* :mod:`.labels`: ``label_map.txt`` / ``vocabulary.csv`` readers and class-id whitelists;
* :mod:`.windows`: which seconds each prediction covers (local and dataset rules);
* :mod:`.classifiers`: native PyTorch families and TensorFlow SavedModels behind one
  interface, and recognising which a ``--model`` is;
* :mod:`.predict`: one local video's features -> window and whole-video predictions;
* :mod:`.dataset`: shards -> per-record predictions, streamed and batched;
* :mod:`.submissions`: the starter code's submission files;
* :mod:`.metrics` and :mod:`.evaluate`: Hit@1, PERR, GAP, mAP and segment MAP.
"""

from yt8m.inference.classifiers import Classifier, build_model, load_classifier, save_native
from yt8m.inference.labels import LabelMap, read_class_ids, read_label_map
from yt8m.inference.windows import Windows, dataset_windows, local_windows, segment_chunks

__all__ = [
    "Classifier", "LabelMap", "Windows", "build_model", "dataset_windows", "load_classifier", "local_windows",
    "read_class_ids", "read_label_map", "save_native", "segment_chunks",
]
