"""Window predictions of finished jobs, recomputed from cached features for any segment size.

Features are read from the job's ``features.npz`` (never extracted again) and kept in
a small in-memory cache, as are recent predictions. Windows follow the local rule (see
docs/inference.md, 'Local windows') with ``overlap = segment_size - 1`` (one window per
second, as the reference viewer shows them; see docs/viewer.md, 'Your own videos');
each window gets ``time_s``, the second from which the page shows it (its first second:
the latest window started at or before the playhead is the current one, as in the
annotated video).
"""

from __future__ import annotations

from typing import Any

from yt8m.errors import InputError
from yt8m.features.sequence import FeatureSequence
from yt8m.inference.video_predictions import LocalFeatures, features_from_sequence, predict_local
from yt8m.web.jobs import JobBusy, JobStore
from yt8m.web.lru import Lru
from yt8m.web.resources import Resources

#: Labels per window the page asks for (the reference keeps 3; more make the timeline richer).
PAGE_TOP_K = 10
#: Labels for the whole video.
VIDEO_TOP_K = 10


class PredictionService:
    """Predictions of jobs' videos, from their cached features."""

    def __init__(self, store: JobStore, resources: Resources) -> None:
        self.store = store
        self.resources = resources
        self._features: Lru[LocalFeatures] = Lru(8)
        self._results: Lru[dict[str, Any]] = Lru(64)

    def features(self, job_id: str) -> LocalFeatures:
        """The model rows of a job whose features are saved."""
        def load() -> LocalFeatures:
            path = self.store.features_path(job_id)
            if not path.is_file():
                raise JobBusy(f"job {job_id} has no features yet")
            return features_from_sequence(FeatureSequence.load_npz(path), source=job_id)

        return self._features.get_or_make(job_id, load)

    def for_job(self, job_id: str, *, segment_size: int, top_k: int = PAGE_TOP_K) -> dict[str, Any]:
        """Window and whole-video predictions of ``job_id`` (a job whose features exist)."""
        record = self.store.get(job_id)
        if record.status == "failed":
            raise JobBusy(f"job {job_id} failed: {record.error}")

        classifier = self.resources.require_classifier()

        def make() -> dict[str, Any]:
            features = self.features(job_id)
            with self.resources.lock:
                result = predict_local(features, classifier, segment_size=segment_size,
                                       overlap=segment_size - 1, top_k=top_k, video_top_k=VIDEO_TOP_K,
                                       labels=self.resources.labels)
            for window in result["windows"]:
                window["time_s"] = window["start_s"]
            result["input"] = record.name
            result["notes"] = list(result["notes"]) + self.resources.notes
            return {"kind": "video", "job_id": job_id, "name": record.name, **result}

        if top_k < 1:
            raise InputError(f"top_k ({top_k}) must be >= 1")
        return self._results.get_or_make((job_id, segment_size, top_k), make)

    def forget(self, job_id: str) -> None:
        """Drop everything cached about ``job_id`` (after it is deleted)."""
        self._features.drop(lambda key: key == job_id)
        self._results.drop(lambda key: isinstance(key, tuple) and key[0] == job_id)
