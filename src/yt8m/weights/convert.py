"""Converters from the official file formats to yt8m's tensors (pure functions, no TensorFlow).

Each converter takes the published file(s) and returns :class:`Converted`: tensors
named after yt8m's PyTorch modules, in their layouts (OIHW convolutions, [out, in]
linear weights), plus metadata read from the source (e.g. the batch-norm epsilon).
Conversion renames, transposes and reshapes, nothing else.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from yt8m.errors import WeightsError
from yt8m.formats import protos
from yt8m.formats.matrix_data import decode_matrix
from yt8m.weights.tensor_proto import to_numpy

Tensors = dict[str, npt.NDArray[Any]]

INCEPTION_GRAPH_NAME = "classify_image_graph_def.pb"
_BN_SUFFIXES = ("beta", "gamma", "moving_mean", "moving_variance")
_BN_OP = "BatchNormWithGlobalNormalization"


@dataclass
class Converted:
    """Converted tensors and what was learnt from the source about how to use them."""

    tensors: Tensors
    meta: dict[str, Any] = field(default_factory=dict)


def _read_member(archive: Path, member_name: str) -> bytes:
    """Read one member (matched by base name) of a .tgz without extracting anything else."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isfile() and Path(member.name).name == member_name:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        return handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise WeightsError(f"{archive}: not a readable tar archive ({exc})") from exc
    raise WeightsError(f"{archive}: holds no {member_name}")


# --- Inception v3 (2015 frozen GraphDef) -------------------------------------------------

def read_inception_graph(path: Path) -> bytes:
    """Return the GraphDef bytes from ``inception-2015-12-05.tgz`` or a bare ``.pb``."""
    if tarfile.is_tarfile(path):
        return _read_member(path, INCEPTION_GRAPH_NAME)
    return path.read_bytes()


def inception_from_graph(graph_bytes: bytes, *, where: str) -> Converted:
    """Convert the 2015 graph's ``Const`` weights into ``InceptionV3`` tensors.

    ``<scope>/conv2d_params`` (HWIO) becomes ``<scope>.weight`` (OIHW);
    ``<scope>/batchnorm/<beta|gamma|moving_mean|moving_variance>`` becomes
    ``<scope>.<same>``; ``softmax/weights`` [2048, 1008] and ``softmax/biases`` become the
    ``softmax`` linear layer. The batch-norm ``variance_epsilon`` and
    ``scale_after_normalization`` are read from the graph's batch-norm nodes, and each
    convolution's strides and padding are recorded for the model to check.
    """
    try:
        graph = protos.GraphDef.FromString(graph_bytes)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types
        raise WeightsError(f"{where}: not a TensorFlow GraphDef ({exc})") from exc
    tensors: Tensors = {}
    epsilons: set[float] = set()
    scale_flags: set[bool] = set()
    geometry: dict[str, list[Any]] = {}
    for node in graph.node:
        if node.op == "Const":
            _inception_const(node, tensors, where)
        elif node.op == _BN_OP:
            epsilons.add(round(float(node.attr["variance_epsilon"].f), 9))
            scale_flags.add(bool(node.attr["scale_after_normalization"].b))
        elif node.op == "Conv2D" and node.name.endswith("/Conv2D"):
            strides = list(node.attr["strides"].list.i)
            geometry[node.name[: -len("/Conv2D")].replace("/", ".")] = [
                int(strides[1]) if len(strides) == 4 else 1, node.attr["padding"].s.decode()]
    if not any(k.endswith(".weight") for k in tensors):
        raise WeightsError(f"{where}: a GraphDef, but without the Inception v3 weights (no conv2d_params)")
    if len(epsilons) != 1 or len(scale_flags) != 1:
        raise WeightsError(f"{where}: expected one batch-norm epsilon and mode in the graph, "
                           f"found epsilons {sorted(epsilons)} and scale flags {sorted(scale_flags)}")
    meta = {"epsilon": epsilons.pop(), "scale_after_normalization": scale_flags.pop(), "geometry": geometry}
    return Converted(tensors, meta)


def _inception_const(node: Any, tensors: Tensors, where: str) -> None:
    name = node.name
    if name.endswith("/conv2d_params"):
        value = to_numpy(node.attr["value"].tensor, name=f"{where}: {name}")
        tensors[name[: -len("/conv2d_params")].replace("/", ".") + ".weight"] = np.ascontiguousarray(
            value.astype(np.float32).transpose(3, 2, 0, 1))
    elif "/batchnorm/" in name and name.rsplit("/", 1)[1] in _BN_SUFFIXES:
        scope, _, suffix = name.rpartition("/batchnorm/")
        tensors[f"{scope.replace('/', '.')}.{suffix}"] = to_numpy(
            node.attr["value"].tensor, name=f"{where}: {name}").astype(np.float32)
    elif name == "softmax/weights":
        tensors["softmax.weight"] = np.ascontiguousarray(
            to_numpy(node.attr["value"].tensor, name=f"{where}: {name}").astype(np.float32).T)
    elif name == "softmax/biases":
        tensors["softmax.bias"] = to_numpy(node.attr["value"].tensor,
                                           name=f"{where}: {name}").astype(np.float32)


# --- PCA parameters ------------------------------------------------------------------------

def pca_from_matrix_data(mean_bytes: bytes, projection_bytes: bytes, *, where: str) -> Converted:
    """PCA from MediaPipe MatrixData: mean [D, 1] and projection [K, D] (whitening folded in)."""
    mean = decode_matrix(mean_bytes, where=f"{where} (mean)")
    projection = decode_matrix(projection_bytes, where=f"{where} (projection)")
    return _pca(mean.reshape(-1), projection, where)


def pca_from_yt8m_tgz(path: Path, *, components: int = 1024) -> Converted:
    """PCA from the older ``yt8m_pca.tgz``: ``mean.npy``, ``eigenvals.npy``, ``eigenvecs.npy``.

    projection = diag(1 / sqrt(eigenvals[:K] + 1e-4)) @ eigenvecs[:K] (rows are eigenvectors),
    as the original YouTube-8M feature extractor applies it.
    """
    arrays = {}
    for member in ("mean.npy", "eigenvals.npy", "eigenvecs.npy"):
        try:
            arrays[member] = np.load(io.BytesIO(_read_member(path, member)), allow_pickle=False)
        except ValueError as exc:
            raise WeightsError(f"{path}: {member} is not a numpy array file ({exc})") from exc
    eigenvals = arrays["eigenvals.npy"].reshape(-1)[:components].astype(np.float64)
    eigenvecs = arrays["eigenvecs.npy"][:components].astype(np.float64)
    projection = (eigenvecs / np.sqrt(eigenvals + 1e-4)[:, None]).astype(np.float32)
    return _pca(arrays["mean.npy"].reshape(-1), projection, str(path))


def pca_from_vggish_npz(path: Path) -> Converted:
    """PCA from ``vggish_pca_params.npz`` (``pca_eigen_vectors`` [128, 128], ``pca_means`` [128])."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            projection, mean = npz["pca_eigen_vectors"], npz["pca_means"]
    except KeyError as exc:
        raise WeightsError(f"{path}: missing array {exc}; expected pca_eigen_vectors and pca_means") from exc
    except (ValueError, OSError) as exc:
        raise WeightsError(f"{path}: not a numpy .npz file ({exc})") from exc
    return _pca(mean.reshape(-1), projection, str(path))


def _pca(mean: npt.NDArray[Any], projection: npt.NDArray[Any], where: str) -> Converted:
    if projection.ndim != 2 or projection.shape[1] != mean.shape[0]:
        raise WeightsError(f"{where}: PCA projection {projection.shape} does not fit a mean of {mean.shape}")
    return Converted({"mean": mean.astype(np.float32),
                      "projection": np.ascontiguousarray(projection, np.float32)})


# --- VGGish (TF checkpoint) ------------------------------------------------------------------

def vggish_from_checkpoint(variables: dict[str, npt.NDArray[Any]], *, where: str) -> Converted:
    """Convert VGGish checkpoint variables (``vggish/...``) into ``VGGish`` module tensors.

    ``vggish/conv3/conv3_1/weights`` [3, 3, in, out] becomes ``conv3.conv3_1.weight``
    [out, in, 3, 3]; ``vggish/fc1/fc1_1/weights`` [in, out] becomes ``fc1.fc1_1.weight``
    [out, in]; biases keep their shape. Other variables (e.g. ``global_step``) are ignored.
    """
    tensors: Tensors = {}
    for name, value in variables.items():
        if not name.startswith("vggish/") or not name.endswith(("/weights", "/biases")):
            continue
        scope, _, kind = name[len("vggish/"):].rpartition("/")
        key = scope.replace("/", ".") + (".weight" if kind == "weights" else ".bias")
        value = np.asarray(value, np.float32)
        if kind == "weights":
            value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
        tensors[key] = np.ascontiguousarray(value)
    if not tensors:
        raise WeightsError(f"{where}: holds no vggish/... variables; is it the VGGish checkpoint?")
    return Converted(tensors)
