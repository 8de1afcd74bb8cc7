"""The artifact cache: the published files yt8m uses, fetched or imported once.

* :mod:`~yt8m.artifacts.registry` -- what can be fetched: :class:`Artifact` (name, URL,
  file name, size and sha256 where known, whether a mirror serves it) and ``ARTIFACTS``;
* :mod:`~yt8m.artifacts.cache` -- where it is kept: ``$YT8M_HOME`` (else the user cache
  dir), its folders, locks and hashing;
* :mod:`~yt8m.artifacts.download` -- getting a file there: :func:`fetch_artifact`
  (resumable, verified, atomic; ``mirror=`` else ``$YT8M_MIRROR`` else the official URL),
  :func:`import_artifact`, :func:`cached_artifact`;
* :mod:`~yt8m.artifacts.manifest` -- what the cache holds, as typed records.

This package knows nothing of models: converting artifacts into weights is
:mod:`yt8m.weights`' job.
"""

from yt8m.artifacts.cache import cache_dir, downloads_dir, models_dir
from yt8m.artifacts.download import (
    MIRROR_ENV,
    cached_artifact,
    cached_path,
    check_import,
    fetch_artifact,
    import_artifact,
    mirror_from_env,
)
from yt8m.artifacts.manifest import (
    ArtifactRecord,
    Manifest,
    ModelRecord,
    artifact_record,
    model_record,
    read_manifest,
)
from yt8m.artifacts.registry import ARTIFACTS, Artifact, artifact_for_filename, get_artifact

__all__ = [
    "ARTIFACTS", "MIRROR_ENV", "Artifact", "ArtifactRecord", "Manifest", "ModelRecord",
    "artifact_for_filename",
    "artifact_record", "cache_dir", "cached_artifact", "cached_path", "check_import", "downloads_dir",
    "fetch_artifact", "get_artifact", "import_artifact", "mirror_from_env", "model_record", "models_dir",
    "read_manifest",
]
