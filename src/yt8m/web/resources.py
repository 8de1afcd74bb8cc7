"""The heavy things the viewer holds: the classifier, its label names and the extractor.

They are loaded once (by the app's lifespan, or by ``yt8m serve`` before it binds the
port, so a bad ``--model`` is one clear line) and shared by every request. The
classifier is called under a lock: a SavedModel talks to one TensorFlow worker over a
pipe, which two threads must not interleave. The extractor is used by the job runner's
single thread only.

Extraction weights that cannot be loaded (offline, not downloaded yet) do not stop the
server: dataset records still work, and uploads answer with the reason. Likewise a
registry classifier (``--model baseline``, the default) that cannot be fetched or loaded:
the server runs without a classifier (``classifier_error`` says why and how to get one),
uploads are still extracted and dataset records still browsed, and what needs the
classifier answers 503. A ``--model`` path the user named must load, or startup fails.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yt8m.errors import FetchError, InputError, Yt8mError
from yt8m.inference.classifiers.base import Classifier
from yt8m.inference.labels import LabelMap
from yt8m.web.errors import Unavailable
from yt8m.web.settings import Settings

if TYPE_CHECKING:
    from yt8m.extraction.scheduler import Extractor

log = logging.getLogger(__name__)


class ClassifierUnavailable(Unavailable):
    """The server has no classifier (its registry model could not be fetched or loaded)."""


@dataclass
class Resources:
    """The loaded classifier, label map and extractor; a missing classifier or extractor is None,
    with ``classifier_error`` or ``extraction_error`` saying why."""

    classifier: Classifier | None
    labels: LabelMap | None
    extractor: Extractor | None
    model: str
    extraction_error: str | None = None
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    classifier_error: str | None = None

    @classmethod
    def load(cls, settings: Settings) -> Resources:
        """Load the classifier and labels (errors raise, except a registry model's: kept) and the
        extractor (errors are kept)."""
        from yt8m.inference.labels import resolve_label_map

        classifier, classifier_error = load_model(settings)
        notes: list[str] = []
        if classifier is None:
            labels = labels_without_model(settings, notes)
        else:
            try:
                labels = resolve_label_map(settings.labels, num_classes=classifier.num_classes,
                                           model=settings.model, notes=notes)
            except Yt8mError:
                classifier.close()
                raise
        extractor, error = load_extractor(settings)
        return cls(classifier, labels, extractor, settings.model, extraction_error=error, notes=notes,
                   classifier_error=classifier_error)

    def require_classifier(self) -> Classifier:
        """The classifier; :class:`ClassifierUnavailable` (503) with the reason when there is none."""
        if self.classifier is None:
            raise ClassifierUnavailable(self.classifier_error or "this server has no classifier")
        return self.classifier

    @property
    def num_classes(self) -> int:
        """The classes predicted (or named by the label map, without a classifier)."""
        if self.classifier is not None:
            return self.classifier.num_classes
        if self.labels is not None:
            return len(self.labels)
        raise ClassifierUnavailable(self.classifier_error or "this server has no classifier")

    def label_name(self, index: int) -> str | None:
        """The name of class ``index``, None when unnamed or without a label map."""
        return self.labels.name(index) if self.labels is not None else None

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts for ``/healthz`` and the page header."""
        model = self.classifier.describe() if self.classifier is not None else {}
        return {
            "model": {"spec": self.model, "available": self.classifier is not None,
                      "reason": self.classifier_error,
                      **model},
            "labels": None if self.labels is None else {"source": self.labels.source,
                                                        "num_classes": len(self.labels)},
            "extraction": {"available": self.extractor is not None, "reason": self.extraction_error},
            "notes": list(self.notes),
        }

    def close(self) -> None:
        """Release the classifier (a SavedModel's worker process)."""
        if self.classifier is not None:
            self.classifier.close()


def registry_name(spec: str) -> str | None:
    """The registry artifact a ``--model`` value names (``baseline``), None for a path."""
    from yt8m.inference.classifiers.loader import MODEL_ALIASES

    return MODEL_ALIASES.get(spec) if not Path(spec).exists() else None


def load_model(settings: Settings) -> tuple[Classifier | None, str | None]:
    """The classifier of ``settings.model``, or (None, why not and how to get one) for a registry model
    that cannot be fetched or loaded. A path the user named must load: its errors raise."""
    from yt8m.inference.classifiers import load_classifier

    name = registry_name(settings.model)
    if name is None:
        try:
            return load_classifier(settings.model, device=settings.device, mirror=settings.mirror), None
        except InputError:
            raise
        except Yt8mError as exc:  # the model the user named is unusable: a bad argument (exit 2)
            raise InputError(str(exc)) from None
    try:
        from yt8m.artifacts import fetch_artifact, get_artifact

        archive = fetch_artifact(get_artifact(name), mirror=settings.mirror, retries=1)
        return load_classifier(archive, device=settings.device, mirror=settings.mirror), None
    except Yt8mError as exc:
        why = exc.summary if isinstance(exc, FetchError) else str(exc)
        reason = (f"no classifier: the model {settings.model!r} could not be loaded ({why}); predictions "
                  "need one: start the server with --model DIR (a yt8m native model or a TensorFlow "
                  f"SavedModel), or run `yt8m models download {name}` while online and start it again")
        log.warning("%s", reason)
        return None, reason


def labels_without_model(settings: Settings, notes: list[str]) -> LabelMap | None:
    """The label map to name ground-truth classes with when there is no classifier to check it against."""
    from yt8m.inference.labels import cached_label_map, read_label_map

    if settings.labels is not None:
        return read_label_map(settings.labels)  # the user named it: errors raise
    try:
        labels = cached_label_map()
    except Yt8mError as exc:
        log.warning("the cached label map is unreadable: %s", exc)
        labels = None
    if labels is None:
        notes.append("no label names: pass --labels FILE or run `yt8m models download label-map`")
    return labels


def load_extractor(settings: Settings) -> tuple[Extractor | None, str | None]:
    """The extractor of ``settings.extract_options``, or (None, why not)."""
    try:
        from yt8m.extraction import Extractor

        return Extractor(settings.extract_options, fetch=settings.fetch_weights, mirror=settings.mirror), None
    except Yt8mError as exc:
        log.warning("video extraction is unavailable: %s", exc)
        return None, f"video extraction is unavailable: {exc}"
