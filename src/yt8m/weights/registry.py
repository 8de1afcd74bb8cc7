"""The official artifacts yt8m can fetch (see docs/artifacts.md, 'Download table'), described as data.

An *artifact* is a file as published (URL, name, size where known). A *model* is what
yt8m uses at run time (weights converted to safetensors); each model names the
artifacts it is converted from. ``yt8m models download NAME`` accepts either kind of
name.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Artifact:
    """One published file."""

    name: str
    url: str | None  #: None for files that are only published inside an archive
    filename: str
    description: str
    size: int | None = None  #: bytes, where the publisher's size is known

    def url_under(self, mirror: str | None) -> str | None:
        """Return the URL to fetch from: the official one, or ``mirror/<filename>``."""
        if self.url is None:
            return None
        return self.url if not mirror else f"{mirror.rstrip('/')}/{self.filename}"


@dataclass(frozen=True)
class ModelSpec:
    """A converted model: its source artifacts (any one of ``alternatives`` suffices)."""

    name: str
    description: str
    alternatives: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    @property
    def preferred(self) -> tuple[str, ...]:
        return self.alternatives[0]


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
             "inception3_projection_matrix_data.pb", "YouTube-8M visual PCA projection (MatrixData 1024x2048)"),
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
             "label_map.txt", "YouTube-8M class names, line i is class i (3862 lines, UTF-8), from MediaPipe"),
    Artifact("vocabulary", "https://research.google.com/youtube8m/csv/2/vocabulary.csv", "vocabulary.csv",
             "YouTube-8M vocabulary (Index, TrainVideoCount, KnowledgeGraphId, Name, WikiUrl, ...), CSV"),
    Artifact("segment-label-ids",
             "https://raw.githubusercontent.com/google/youtube-8m/master/segment_label_ids.csv",
             "segment_label_ids.csv", "The 1000 classes of the 2019 segment-rated data (a whitelist)"),
    Artifact("baseline-savedmodel", "http://data.yt8m.org/models/baseline/saved_model.tar.gz",
             "saved_model.tar.gz", "Baseline classifier, TF1 SavedModel: rgb_and_audio [batch, frames, 1152] "
             "and num_frames [batch, 1] -> predictions [batch, 3862] (`--model baseline`)"),
]}

MODELS: dict[str, ModelSpec] = {m.name: m for m in [
    ModelSpec("inception", "Inception v3 (2015) in PyTorch, pool_3 2048-d and 1008 logits",
              (("inception-2015-12-05",), ("inception-graph",))),
    ModelSpec("inception-pca", "Visual PCA 2048 -> 1024",
              (("inception3-pca-mean", "inception3-pca-projection"), ("yt8m-pca",))),
    ModelSpec("vggish", "VGGish in PyTorch, 128-d embedding before the last activation",
              (("vggish-model",),)),
    ModelSpec("vggish-pca", "Audio PCA 128 -> 128",
              (("vggish-pca-mean", "vggish-pca-projection"), ("vggish-pca-params",))),
]}

#: The models ``yt8m extract`` needs.
EXTRACTION_MODELS = ("inception", "inception-pca", "vggish", "vggish-pca")


def resolve_names(names: list[str] | tuple[str, ...]) -> list[str]:
    """Expand model and artifact names into model names (all extraction models if empty)."""
    from yt8m.errors import InputError

    if not names:
        return list(EXTRACTION_MODELS)
    out: list[str] = []
    for name in names:
        if name in MODELS:
            chosen = [name]
        else:
            chosen = [m.name for m in MODELS.values() if any(name in alt for alt in m.alternatives)]
            if not chosen:
                raise InputError(
                    f"Unknown model or artifact ({name!r}). Supported values are "
                    f"{', '.join(sorted(MODELS) + sorted(ARTIFACTS))}."
                )
        out += [c for c in chosen if c not in out]
    return out
