"""The heavy things the viewer holds: the classifier, its label names and the extractor.

They are loaded once (by the app's lifespan, or by ``yt8m serve`` before it binds the
port, so a bad ``--model`` is one clear line) and shared by every request. The
classifier is called under a lock: a SavedModel talks to one TensorFlow worker over a
pipe, which two threads must not interleave. The extractor is used by the job runner's
single thread only.

Extraction weights that cannot be loaded (offline, not downloaded yet) do not stop the
server: dataset records still work, and uploads answer with the reason.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from yt8m.errors import Yt8mError
from yt8m.inference.classifiers.base import Classifier
from yt8m.inference.labels import LabelMap
from yt8m.web.settings import Settings

if TYPE_CHECKING:
    from yt8m.extraction.scheduler import Extractor

log = logging.getLogger(__name__)


@dataclass
class Resources:
    """The loaded classifier, label map and extractor (None with ``extraction_error`` saying why)."""

    classifier: Classifier
    labels: LabelMap | None
    extractor: Extractor | None
    model: str
    extraction_error: str | None = None
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, settings: Settings) -> Resources:
        """Load the classifier and labels (errors raise) and the extractor (errors are kept)."""
        from yt8m.inference.classifiers import load_classifier
        from yt8m.inference.labels import resolve_label_map

        classifier = load_classifier(settings.model, device=settings.device, mirror=settings.mirror)
        notes: list[str] = []
        try:
            labels = resolve_label_map(settings.labels, num_classes=classifier.num_classes, model=settings.model,
                                       notes=notes)
        except Yt8mError:
            classifier.close()
            raise
        extractor, error = load_extractor(settings)
        return cls(classifier, labels, extractor, settings.model, error, notes)

    def label_name(self, index: int) -> str | None:
        """The name of class ``index``, None when unnamed or without a label map."""
        return self.labels.name(index) if self.labels is not None else None

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for ``/healthz`` and the page header."""
        return {
            "model": {"spec": self.model, **self.classifier.describe()},
            "labels": None if self.labels is None else {"source": self.labels.source,
                                                        "num_classes": len(self.labels)},
            "extraction": {"available": self.extractor is not None, "reason": self.extraction_error},
            "notes": list(self.notes),
        }

    def close(self) -> None:
        """Release the classifier (a SavedModel's worker process)."""
        self.classifier.close()


def load_extractor(settings: Settings) -> tuple[Extractor | None, str | None]:
    """The extractor of ``settings.extract_options``, or (None, why not)."""
    try:
        from yt8m.extraction import Extractor

        return Extractor(settings.extract_options, fetch=settings.fetch_weights, mirror=settings.mirror), None
    except Yt8mError as exc:
        log.warning("video extraction is unavailable: %s", exc)
        return None, f"video extraction is unavailable: {exc}"
