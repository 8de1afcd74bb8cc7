"""The models yt8m converts from official artifacts, described as data.

Each :class:`ModelSpec` carries everything the store needs to build and check it, in
the manner of torchvision's weights enums and timm's pretrained configs: the artifacts
it is converted from (any one of ``alternatives`` suffices), its converter, and the
tensor names and shapes the converted model must have. The shapes are written out here
rather than read from the networks, so this package never imports
:mod:`yt8m.features` (the networks import the weights, not the reverse); a test checks
them against the networks' ``state_dict()``.

``yt8m models download NAME`` accepts a model name or an artifact name
(:mod:`yt8m.artifacts.registry`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yt8m.artifacts.registry import ARTIFACTS
from yt8m.errors import InputError, WeightsError
from yt8m.weights import convert

Shapes = Mapping[str, tuple[int, ...]]
#: Converts a model's source files (by artifact name) into its tensors.
Converter = Callable[[Mapping[str, Path]], convert.Converted]


@dataclass(frozen=True)
class ModelSpec:
    """A converted model: its sources, converter and expected tensor shapes."""

    name: str
    description: str
    #: Sets of artifact names, preferred first; the model is converted from any one set.
    alternatives: tuple[tuple[str, ...], ...]
    converter: Converter = field(repr=False)
    shapes: Shapes = field(repr=False)

    @property
    def preferred(self) -> tuple[str, ...]:
        return self.alternatives[0]

    def uses(self, artifact: str) -> bool:
        """Whether artifact ``artifact`` is one of this model's sources."""
        return any(artifact in alternative for alternative in self.alternatives)


# --- converters: source files -> tensors ---------------------------------------------------

def _convert_inception(sources: Mapping[str, Path]) -> convert.Converted:
    path = sources.get("inception-2015-12-05") or sources["inception-graph"]
    return convert.inception_from_graph(convert.read_inception_graph(path), where=str(path))


def _pca_converter(prefix: str, alternative: str) -> Converter:
    def converter(sources: Mapping[str, Path]) -> convert.Converted:
        if f"{prefix}-pca-mean" in sources:
            mean, proj = sources[f"{prefix}-pca-mean"], sources[f"{prefix}-pca-projection"]
            return convert.pca_from_matrix_data(mean.read_bytes(), proj.read_bytes(), where=str(mean.parent))
        if alternative == "yt8m-pca":
            return convert.pca_from_yt8m_tgz(sources["yt8m-pca"])
        return convert.pca_from_vggish_npz(sources[alternative])

    return converter


def _convert_vggish(sources: Mapping[str, Path]) -> convert.Converted:
    from yt8m.weights.checkpoint import read_checkpoint

    path = sources["vggish-model"]
    return convert.vggish_from_checkpoint(read_checkpoint(path), where=str(path))


# --- expected shapes -----------------------------------------------------------------------

#: The 2015 Inception v3's convolutions: (scope, out channels, in channels, kernel h, kernel w).
#: Each has ``<scope>.weight`` [out, in, h, w] and batch-norm ``beta``, ``gamma``,
#: ``moving_mean``, ``moving_variance`` [out].
INCEPTION_CONVS: tuple[tuple[str, int, int, int, int], ...] = (
    ("conv", 32, 3, 3, 3),
    ("conv_1", 32, 32, 3, 3),
    ("conv_2", 64, 32, 3, 3),
    ("conv_3", 80, 64, 1, 1),
    ("conv_4", 192, 80, 3, 3),
    ("mixed.conv", 64, 192, 1, 1),
    ("mixed.tower.conv", 48, 192, 1, 1),
    ("mixed.tower.conv_1", 64, 48, 5, 5),
    ("mixed.tower_1.conv", 64, 192, 1, 1),
    ("mixed.tower_1.conv_1", 96, 64, 3, 3),
    ("mixed.tower_1.conv_2", 96, 96, 3, 3),
    ("mixed.tower_2.conv", 32, 192, 1, 1),
    ("mixed_1.conv", 64, 256, 1, 1),
    ("mixed_1.tower.conv", 48, 256, 1, 1),
    ("mixed_1.tower.conv_1", 64, 48, 5, 5),
    ("mixed_1.tower_1.conv", 64, 256, 1, 1),
    ("mixed_1.tower_1.conv_1", 96, 64, 3, 3),
    ("mixed_1.tower_1.conv_2", 96, 96, 3, 3),
    ("mixed_1.tower_2.conv", 64, 256, 1, 1),
    ("mixed_2.conv", 64, 288, 1, 1),
    ("mixed_2.tower.conv", 48, 288, 1, 1),
    ("mixed_2.tower.conv_1", 64, 48, 5, 5),
    ("mixed_2.tower_1.conv", 64, 288, 1, 1),
    ("mixed_2.tower_1.conv_1", 96, 64, 3, 3),
    ("mixed_2.tower_1.conv_2", 96, 96, 3, 3),
    ("mixed_2.tower_2.conv", 64, 288, 1, 1),
    ("mixed_3.conv", 384, 288, 3, 3),
    ("mixed_3.tower.conv", 64, 288, 1, 1),
    ("mixed_3.tower.conv_1", 96, 64, 3, 3),
    ("mixed_3.tower.conv_2", 96, 96, 3, 3),
    ("mixed_4.conv", 192, 768, 1, 1),
    ("mixed_4.tower.conv", 128, 768, 1, 1),
    ("mixed_4.tower.conv_1", 128, 128, 1, 7),
    ("mixed_4.tower.conv_2", 192, 128, 7, 1),
    ("mixed_4.tower_1.conv", 128, 768, 1, 1),
    ("mixed_4.tower_1.conv_1", 128, 128, 7, 1),
    ("mixed_4.tower_1.conv_2", 128, 128, 1, 7),
    ("mixed_4.tower_1.conv_3", 128, 128, 7, 1),
    ("mixed_4.tower_1.conv_4", 192, 128, 1, 7),
    ("mixed_4.tower_2.conv", 192, 768, 1, 1),
    ("mixed_5.conv", 192, 768, 1, 1),
    ("mixed_5.tower.conv", 160, 768, 1, 1),
    ("mixed_5.tower.conv_1", 160, 160, 1, 7),
    ("mixed_5.tower.conv_2", 192, 160, 7, 1),
    ("mixed_5.tower_1.conv", 160, 768, 1, 1),
    ("mixed_5.tower_1.conv_1", 160, 160, 7, 1),
    ("mixed_5.tower_1.conv_2", 160, 160, 1, 7),
    ("mixed_5.tower_1.conv_3", 160, 160, 7, 1),
    ("mixed_5.tower_1.conv_4", 192, 160, 1, 7),
    ("mixed_5.tower_2.conv", 192, 768, 1, 1),
    ("mixed_6.conv", 192, 768, 1, 1),
    ("mixed_6.tower.conv", 160, 768, 1, 1),
    ("mixed_6.tower.conv_1", 160, 160, 1, 7),
    ("mixed_6.tower.conv_2", 192, 160, 7, 1),
    ("mixed_6.tower_1.conv", 160, 768, 1, 1),
    ("mixed_6.tower_1.conv_1", 160, 160, 7, 1),
    ("mixed_6.tower_1.conv_2", 160, 160, 1, 7),
    ("mixed_6.tower_1.conv_3", 160, 160, 7, 1),
    ("mixed_6.tower_1.conv_4", 192, 160, 1, 7),
    ("mixed_6.tower_2.conv", 192, 768, 1, 1),
    ("mixed_7.conv", 192, 768, 1, 1),
    ("mixed_7.tower.conv", 192, 768, 1, 1),
    ("mixed_7.tower.conv_1", 192, 192, 1, 7),
    ("mixed_7.tower.conv_2", 192, 192, 7, 1),
    ("mixed_7.tower_1.conv", 192, 768, 1, 1),
    ("mixed_7.tower_1.conv_1", 192, 192, 7, 1),
    ("mixed_7.tower_1.conv_2", 192, 192, 1, 7),
    ("mixed_7.tower_1.conv_3", 192, 192, 7, 1),
    ("mixed_7.tower_1.conv_4", 192, 192, 1, 7),
    ("mixed_7.tower_2.conv", 192, 768, 1, 1),
    ("mixed_8.tower.conv", 192, 768, 1, 1),
    ("mixed_8.tower.conv_1", 320, 192, 3, 3),
    ("mixed_8.tower_1.conv", 192, 768, 1, 1),
    ("mixed_8.tower_1.conv_1", 192, 192, 1, 7),
    ("mixed_8.tower_1.conv_2", 192, 192, 7, 1),
    ("mixed_8.tower_1.conv_3", 192, 192, 3, 3),
    ("mixed_9.conv", 320, 1280, 1, 1),
    ("mixed_9.tower.conv", 384, 1280, 1, 1),
    ("mixed_9.tower.mixed.conv", 384, 384, 1, 3),
    ("mixed_9.tower.mixed.conv_1", 384, 384, 3, 1),
    ("mixed_9.tower_1.conv", 448, 1280, 1, 1),
    ("mixed_9.tower_1.conv_1", 384, 448, 3, 3),
    ("mixed_9.tower_1.mixed.conv", 384, 384, 1, 3),
    ("mixed_9.tower_1.mixed.conv_1", 384, 384, 3, 1),
    ("mixed_9.tower_2.conv", 192, 1280, 1, 1),
    ("mixed_10.conv", 320, 2048, 1, 1),
    ("mixed_10.tower.conv", 384, 2048, 1, 1),
    ("mixed_10.tower.mixed.conv", 384, 384, 1, 3),
    ("mixed_10.tower.mixed.conv_1", 384, 384, 3, 1),
    ("mixed_10.tower_1.conv", 448, 2048, 1, 1),
    ("mixed_10.tower_1.conv_1", 384, 448, 3, 3),
    ("mixed_10.tower_1.mixed.conv", 384, 384, 1, 3),
    ("mixed_10.tower_1.mixed.conv_1", 384, 384, 3, 1),
    ("mixed_10.tower_2.conv", 192, 2048, 1, 1),
)
INCEPTION_CLASSES = 1008
_BN = ("beta", "gamma", "moving_mean", "moving_variance")


def _inception_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for scope, out, cin, kh, kw in INCEPTION_CONVS:
        shapes[f"{scope}.weight"] = (out, cin, kh, kw)
        shapes.update({f"{scope}.{suffix}": (out,) for suffix in _BN})
    shapes["softmax.weight"] = (INCEPTION_CLASSES, 2048)
    shapes["softmax.bias"] = (INCEPTION_CLASSES,)
    return shapes


#: VGGish's layers: (scope, weight shape); each also has ``<scope>.bias`` [out].
VGGISH_LAYERS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("conv1", (64, 1, 3, 3)),
    ("conv2", (128, 64, 3, 3)),
    ("conv3.conv3_1", (256, 128, 3, 3)),
    ("conv3.conv3_2", (256, 256, 3, 3)),
    ("conv4.conv4_1", (512, 256, 3, 3)),
    ("conv4.conv4_2", (512, 512, 3, 3)),
    ("fc1.fc1_1", (4096, 512 * 4 * 6)),
    ("fc1.fc1_2", (4096, 4096)),
    ("fc2", (128, 4096)),
)


def _vggish_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for scope, weight in VGGISH_LAYERS:
        shapes[f"{scope}.weight"] = weight
        shapes[f"{scope}.bias"] = (weight[0],)
    return shapes


def _pca_shapes(components: int, dims: int) -> dict[str, tuple[int, ...]]:
    return {"mean": (dims,), "projection": (components, dims)}


MODELS: dict[str, ModelSpec] = {m.name: m for m in [
    ModelSpec("inception", "Inception v3 (2015) in PyTorch, pool_3 2048-d and 1008 logits",
              (("inception-2015-12-05",), ("inception-graph",)),
              _convert_inception, _inception_shapes()),
    ModelSpec("inception-pca", "Visual PCA 2048 -> 1024",
              (("inception3-pca-mean", "inception3-pca-projection"), ("yt8m-pca",)),
              _pca_converter("inception3", "yt8m-pca"), _pca_shapes(1024, 2048)),
    ModelSpec("vggish", "VGGish in PyTorch, 128-d embedding before the last activation",
              (("vggish-model",),),
              _convert_vggish, _vggish_shapes()),
    ModelSpec("vggish-pca", "Audio PCA 128 -> 128",
              (("vggish-pca-mean", "vggish-pca-projection"), ("vggish-pca-params",)),
              _pca_converter("vggish", "vggish-pca-params"), _pca_shapes(128, 128)),
]}

#: The models ``yt8m extract`` needs.
EXTRACTION_MODELS = ("inception", "inception-pca", "vggish", "vggish-pca")


def get_spec(name: str) -> ModelSpec:
    """Return the spec of model ``name`` (:class:`WeightsError` if there is none)."""
    try:
        return MODELS[name]
    except KeyError:
        raise WeightsError(f"Unknown model ({name!r}). Supported values are {', '.join(MODELS)}.") from None


def models_using(artifact: str) -> list[ModelSpec]:
    """The models converted (in one of their alternatives) from artifact ``artifact``."""
    return [m for m in MODELS.values() if m.uses(artifact)]


def check_names(names: list[str] | tuple[str, ...]) -> None:
    """Raise :class:`InputError` unless every name is a model or an artifact."""
    for name in names:
        if name not in MODELS and name not in ARTIFACTS:
            raise InputError(
                f"Unknown model or artifact ({name!r}). Supported values are "
                f"{', '.join(sorted(MODELS) + sorted(ARTIFACTS))}."
            )

