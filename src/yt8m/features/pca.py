"""PCA projection of features: ``f = P @ (x - mean)``, whitening folded into ``P``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch


@dataclass(frozen=True)
class PCA:
    """``mean`` [D] and ``projection`` [K, D] (float32)."""

    mean: npt.NDArray[np.float32]
    projection: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.projection.ndim != 2 or self.projection.shape[1] != self.mean.shape[0]:
            raise ValueError(f"PCA projection {self.projection.shape} does not fit mean {self.mean.shape}")

    @property
    def input_dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def output_dim(self) -> int:
        return int(self.projection.shape[0])

    def __call__(self, x: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Project ``x`` [N, D] (or [D]) to [N, K] (or [K]), computed in float64."""
        arr = np.asarray(x, np.float64)
        out = (arr - self.mean.astype(np.float64)) @ self.projection.astype(np.float64).T
        return out.astype(np.float32)

    def torch(self, x: torch.Tensor) -> torch.Tensor:
        """The same projection on a torch tensor (its device and dtype)."""
        mean = torch.as_tensor(self.mean, device=x.device, dtype=x.dtype)
        proj = torch.as_tensor(self.projection, device=x.device, dtype=x.dtype)
        return (x - mean) @ proj.T


def load_pca(name: str, *, fetch: bool = True, mirror: str | None = None) -> PCA:
    """The official PCA ``"inception-pca"`` (2048 -> 1024) or ``"vggish-pca"`` (128 -> 128).

    Fetched (from ``mirror`` when given) and converted on first use unless ``fetch=False``.
    """
    from yt8m.weights.store import load

    w = load(name, fetch=fetch, mirror=mirror)
    return PCA(w.tensors["mean"], w.tensors["projection"])
