"""``TFAdam`` (fused kernel and foreach fallback) and ``add_l2_gradient`` against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from yt8m.train import optim
from yt8m.train.loss import add_l2_gradient, l2_regularization

STEPS = 4


def _gradients() -> list[torch.Tensor]:
    """Gradients across eight orders of magnitude, where epsilon's place matters."""
    g = torch.Generator().manual_seed(2)
    scale = torch.from_numpy(10.0 ** -(np.arange(24) % 8)).float()
    return [torch.randn(30, 24, generator=g) * scale for _ in range(STEPS)]


def _tensorflow_adam(w: np.ndarray, grads: list[torch.Tensor], lr: float) -> np.ndarray:
    """``AdamOptimizer``'s update in float64: ``lr_t * m / (sqrt(v) + epsilon)``."""
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, grad in enumerate(grads, start=1):
        g = grad.double().numpy()
        m, v = m + (g - m) * 0.1, v + (g * g - v) * 0.001
        w = w - lr * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-8)
    return w


@pytest.mark.parametrize("fused", [True, False])
def test_tfadam_is_tensorflows_update(fused, monkeypatch) -> None:
    if fused and optim._FUSED_ADAM is None:
        pytest.skip("this PyTorch has no fused Adam kernel")
    if not fused:
        monkeypatch.setattr(optim, "_FUSED_ADAM", None)
    start = torch.randn(30, 24, generator=torch.Generator().manual_seed(1))
    w = torch.nn.Parameter(start.clone())
    adam = optim.TFAdam([w], lr=0.01)
    for grad in _gradients():
        w.grad = grad.clone()
        adam.step()
    expected = _tensorflow_adam(start.double().numpy(), _gradients(), 0.01)
    np.testing.assert_allclose(w.detach().double().numpy(), expected, rtol=0, atol=2e-6)
    assert adam.state[w]["step"] == STEPS


def test_add_l2_gradient_is_the_gradient_of_l2_regularization() -> None:
    g = torch.Generator().manual_seed(3)
    weights = [torch.randn(5, 4, generator=g).requires_grad_(True) for _ in range(2)]
    (l2_regularization(weights, 0.25)).backward()
    expected = [w.grad.clone() for w in weights]
    for w in weights:
        w.grad = torch.ones_like(w)
    add_l2_gradient([*weights, torch.zeros(3, requires_grad=True)], 0.25)  # no .grad: left alone
    for w, e in zip(weights, expected, strict=True):
        torch.testing.assert_close(w.grad, e + 1)
