"""Inception v3 (2015) in PyTorch against TensorFlow running the 2015-structured GraphDef."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import official_fixtures as of
from yt8m.features.inception import inception_v3, legacy_resize_bilinear, preprocess
from yt8m.features.pca import load_pca
from yt8m.weights import store

SIZES = [(240, 320), (480, 640), (720, 1280), (97, 161), (300, 299)]


def _relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Max absolute difference over elements, normalised by the reference vector's norm."""
    return float(np.abs(ours - theirs).max() / np.linalg.norm(theirs))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(42)
    out = []
    for h, w in SIZES:
        # Smooth content plus noise, like a real picture, in the full 0..255 range.
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
        out.append(np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def reference(official_files, frames, tmp_path_factory) -> dict[str, np.ndarray]:
    return of.run_inception_graph(official_files["inception-graph"], frames, tmp_path_factory.mktemp("tf"))


@pytest.mark.parametrize("fold", [True, False])
def test_pool3_matches_tensorflow(official_files, frames, reference, fold) -> None:
    store.import_files([official_files["inception-graph"]], allow_size_mismatch=True)
    model = inception_v3(fetch=False, fold_batchnorm=fold)
    with torch.inference_mode():
        ours = model(preprocess(frames)).numpy()
        logits = model.logits(torch.from_numpy(ours)).numpy()
    for i, (h, w) in enumerate(SIZES):
        err = _relative_error(ours[i], reference["pool_3"][i])
        assert err < 1e-4, f"{h}x{w}: relative error {err:.2e}"
        assert _relative_error(logits[i], reference["logits"][i]) < 1e-4


def test_pca_of_pool3_matches(official_files, frames, reference) -> None:
    store.import_files([official_files["inception-graph"], official_files["inception3-pca-mean"],
                        official_files["inception3-pca-projection"]], allow_size_mismatch=True)
    pca = load_pca("inception-pca", fetch=False)
    model = inception_v3(fetch=False)
    with torch.inference_mode():
        ours = pca(model(preprocess(frames)).numpy())
    # PCA by the formula of docs/visual.md, 'Visual PCA', in float64 on TensorFlow's pool_3.
    w = store.load("inception-pca", fetch=False).tensors
    theirs = (reference["pool_3"].astype(np.float64) - w["mean"]) @ w["projection"].astype(np.float64).T
    assert ours.shape == (len(SIZES), 1024)
    for i in range(len(SIZES)):
        assert _relative_error(ours[i], theirs[i]) < 1e-4


def test_legacy_resize_by_hand() -> None:
    # 2x2 -> 4x4 with src = dst * in / out = dst / 2: rows/cols 0, 0.5, 1, 1.5 (clamped to 1).
    image = torch.tensor([[[0.0], [10.0]], [[20.0], [30.0]]])
    out = legacy_resize_bilinear(image, 4)[..., 0]
    expected = torch.tensor([[0, 5, 10, 10], [10, 15, 20, 20], [20, 25, 30, 30], [20, 25, 30, 30]],
                            dtype=torch.float32)
    torch.testing.assert_close(out, expected)


def test_preprocess_rejects_bad_frames() -> None:
    with pytest.raises(ValueError, match="uint8 RGB frame"):
        preprocess([np.zeros((10, 10), np.uint8)])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_runs_and_stays_close(official_files, frames, dtype) -> None:
    store.import_files([official_files["inception-graph"]], allow_size_mismatch=True)
    model = inception_v3(fetch=False)
    with torch.inference_mode():
        x = preprocess(frames[:2])
        reference = model(x).numpy()
        low = model.to(dtype)(x.to(dtype)).float().numpy()
    for ours, ref in zip(low, reference, strict=True):
        assert _relative_error(ours, ref) < 0.05  # bf16 keeps 8 bits of mantissa
