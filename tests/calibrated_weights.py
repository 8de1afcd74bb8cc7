"""Random weights of the real architectures with realistic activation scales.

The official weights cannot be fetched in tests or on a benchmark machine without
internet. For questions of numerics (how much a reduced precision moves the features)
random weights only stand in if activations have the scales of a trained network, so
Inception's batch norm is calibrated on real frames, layer after layer, as training
leaves it. Used by tests/test_reduced_precision.py and benchmarks/gpu_check.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from yt8m.features.inception import ConvBN, InceptionV3, preprocess
from yt8m.features.vggish import VGGish


def calibrated_inception(frames: Sequence[np.ndarray], *, seed: int = 0) -> InceptionV3:
    """Inception v3 in eval mode with He-initialised convolutions and batch-norm statistics
    measured on ``frames`` (uint8 RGB), batch norm not folded."""
    torch.manual_seed(seed)
    inception = InceptionV3().eval()
    for layer in inception.conv_layers():
        torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        layer.beta.normal_(0.0, 0.2)

    def calibrate(layer: ConvBN, args: tuple[torch.Tensor]) -> None:
        y = torch.nn.functional.conv2d(args[0], layer.weight, None, layer.stride, layer.padding)
        layer.moving_mean.copy_(y.mean(dim=(0, 2, 3)))
        layer.moving_variance.copy_(y.var(dim=(0, 2, 3)))

    hooks = [m.register_forward_pre_hook(calibrate) for m in inception.conv_layers()]
    with torch.no_grad():
        inception(preprocess(list(frames)).contiguous())
    for h in hooks:
        h.remove()
    return inception


def random_vggish(*, seed: int = 0) -> VGGish:
    """VGGish with He-initialised weights, its embedding scaled to the spread the PCA expects."""
    torch.manual_seed(seed)
    vggish = VGGish()
    for m in vggish.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.normal_(m.bias, 0.0, 0.05)
    with torch.no_grad():
        vggish.fc2.weight.mul_(0.05)
    return vggish


def random_pca(dim_in: int, dim_out: int, *, seed: int = 0) -> dict[str, np.ndarray]:
    """A PCA in yt8m's tensor names: a mean and a projection with orthonormal-ish rows."""
    rng = np.random.default_rng(seed)
    return {"mean": rng.normal(0.0, 0.1, dim_in).astype(np.float32),
            "projection": rng.normal(0.0, 1 / np.sqrt(dim_in), (dim_out, dim_in)).astype(np.float32)}


def write_calibrated_weights(frames: Sequence[np.ndarray]) -> None:
    """All four feature models, calibrated as above, into the yt8m cache of ``$YT8M_HOME``."""
    from safetensors.numpy import save_file

    from yt8m.artifacts import cache, manifest
    from yt8m.weights import store

    models = {
        "inception": {k: v.numpy() for k, v in calibrated_inception(frames).state_dict().items()},
        "vggish": {k: v.numpy() for k, v in random_vggish().state_dict().items()},
        "inception-pca": random_pca(2048, 1024),
        "vggish-pca": random_pca(128, 128, seed=1),
    }
    for name, tensors in models.items():
        path = Path(store.model_path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={"meta": "{}"})
        manifest.record_model(name, path, sha256=cache.sha256_of(path), sources={},
                              shapes={k: tuple(v.shape) for k, v in tensors.items()}, meta={})
