"""``TFAdam`` (fused kernel and foreach fallback), ``add_l2_gradient`` and the loss's gradient path
against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from yt8m.train import optim
from yt8m.train.loss import add_l2_gradient, cross_entropy_loss, l2_regularization

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


@pytest.mark.parametrize(("weighted", "binary"), [(False, False), (True, False), (False, True), (True, True)])
def test_cross_entropy_gradient_path_equals_autograd_of_the_formula(weighted, binary) -> None:
    """The loss and its gradient while training equal autograd of the starter code's formula."""
    g = torch.Generator().manual_seed(4)
    p = torch.rand(5, 7, generator=g)
    p[0, :2] = torch.tensor([0.0, 1.0])
    y = (torch.rand(5, 7, generator=g) < 0.4).float()
    w = (torch.rand(5, 7, generator=g) < 0.5).float() if weighted else None
    ours = p.clone().requires_grad_(True)
    loss = cross_entropy_loss(ours, y, w, binary_labels=binary)
    loss.backward()
    plain = p.clone().requires_grad_(True)
    terms = -(y * torch.log(plain + 1e-5) + (1 - y) * torch.log(1 - plain + 1e-5))
    expected = (terms * w if w is not None else terms).sum(1).mean()
    expected.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-6, atol=0)
    torch.testing.assert_close(ours.grad, plain.grad, rtol=1e-6, atol=1e-7)
