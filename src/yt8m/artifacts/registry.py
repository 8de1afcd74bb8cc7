"""The files yt8m can fetch (see docs/artifacts.md, "Download table"), described as data.

An :class:`Artifact` is a file as published: its URL, file name, size and sha256 where
the publisher's are known, and whether a mirror (``--mirror URL``, ``$YT8M_MIRROR``)
may serve it. The models built from these files are described in
:mod:`yt8m.weights.specs`; files made up at run time (e.g. the dataset shards the web
viewer fetches) are ``Artifact`` values too, with ``mirrored=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

from yt8m.errors import InputError


@dataclass(frozen=True)
class Artifact:
    """One published file."""

    name: str
    url: str | None  #: None for files that are only published inside an archive
    filename: str
    description: str
    size: int | None = None  #: bytes, where the publisher's size is known
    sha256: str | None = None  #: hex digest, where the publisher's is known
    #: Whether a mirror serves this file (as ``<mirror>/<filename>``). Mirrors hold the
    #: published weights and label files; dataset shards are always fetched from their URL.
    mirrored: bool = True

    def url_under(self, mirror: str | None) -> str | None:
        """Return the URL to fetch from: the official one, or ``mirror/<filename>``."""
        if self.url is None:
            return None
        if not mirror or not self.mirrored:
            return self.url
        return f"{mirror.rstrip('/')}/{self.filename}"


_PCA = "http://data.yt8m.org/pca_matrix_data"

ARTIFACTS: dict[str, Artifact] = {a.name: a for a in [
    Artifact("inception-2015-12-05",
             "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz",
             "inception-2015-12-05.tgz",
             "Inception v3 of 2015-12-05: classify_image_graph_def.pb, a frozen TF GraphDef",
             size=88_931_400),
    Artifact("inception-graph", None, "classify_image_graph_def.pb",
             "The frozen GraphDef inside inception-2015-12-05.tgz (import it with `yt8m models import`)",
             size=95_673_916),
    Artifact("inception3-pca-mean", f"{_PCA}/inception3_mean_matrix_data.pb",
             "inception3_mean_matrix_data.pb", "YouTube-8M visual PCA mean (MatrixData 2048x1)"),
    Artifact("inception3-pca-projection", f"{_PCA}/inception3_projection_matrix_data.pb",
             "inception3_projection_matrix_data.pb",
             "YouTube-8M visual PCA projection (MatrixData 1024x2048)"),
    Artifact("vggish-pca-mean", f"{_PCA}/vggish_mean_matrix_data.pb",
             "vggish_mean_matrix_data.pb", "YouTube-8M audio PCA mean (MatrixData 128x1)"),
    Artifact("vggish-pca-projection", f"{_PCA}/vggish_projection_matrix_data.pb",
             "vggish_projection_matrix_data.pb", "YouTube-8M audio PCA projection (MatrixData 128x128)"),
    Artifact("yt8m-pca", "http://data.yt8m.org/yt8m_pca.tgz", "yt8m_pca.tgz",
             "YouTube-8M visual PCA, older numpy form (mean.npy, eigenvals.npy, eigenvecs.npy)"),
    Artifact("vggish-model", "https://storage.googleapis.com/audioset/vggish_model.ckpt",
             "vggish_model.ckpt", "VGGish weights, TensorFlow V1 checkpoint (about 289 MB)"),
    Artifact("vggish-pca-params", "https://storage.googleapis.com/audioset/vggish_pca_params.npz",
             "vggish_pca_params.npz", "VGGish PCA (pca_eigen_vectors 128x128, pca_means 128)"),
    Artifact("label-map",
             "https://raw.githubusercontent.com/google/mediapipe/master/mediapipe/graphs/youtube8m/label_map.txt",
             "label_map.txt",
             "YouTube-8M class names, line i is class i (3862 lines, UTF-8), from MediaPipe"),
    Artifact("vocabulary", "https://research.google.com/youtube8m/csv/2/vocabulary.csv", "vocabulary.csv",
             "YouTube-8M vocabulary (Index, TrainVideoCount, KnowledgeGraphId, Name, WikiUrl, ...), CSV"),
    Artifact("segment-label-ids",
             "https://raw.githubusercontent.com/google/youtube-8m/master/segment_label_ids.csv",
             "segment_label_ids.csv", "The 1000 classes of the 2019 segment-rated data (a whitelist)"),
    Artifact("baseline-savedmodel", "http://data.yt8m.org/models/baseline/saved_model.tar.gz",
             "saved_model.tar.gz", "Baseline classifier, TF1 SavedModel: rgb_and_audio [batch, frames, 1152] "
             "and num_frames [batch, 1] -> predictions [batch, 3862] (`--model baseline`)"),
]}


def get_artifact(name: str) -> Artifact:
    """Return the registered artifact ``name`` (:class:`InputError` if there is none)."""
    try:
        return ARTIFACTS[name]
    except KeyError:
        raise InputError(f"Unknown artifact ({name!r}). Supported values are "
                         f"{', '.join(sorted(ARTIFACTS))}.") from None


def artifact_for_filename(filename: str) -> Artifact | None:
    """Return the registered artifact published under ``filename``, if any."""
    return next((a for a in ARTIFACTS.values() if a.filename == filename), None)
