"""``yt8m.inference.classifiers.matmul``: oneDNN's products equal ``x @ w`` and its gradients."""

from __future__ import annotations

import pytest
import torch

from yt8m.inference.classifiers import matmul as matmul_module
from yt8m.inference.classifiers.matmul import matmul, onednn_applies

pytestmark = pytest.mark.skipif(matmul_module._LINEAR is None, reason="this PyTorch has no oneDNN linear op")


def _pair(shape: tuple[int, ...], k: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn((*shape, k), generator=g), torch.randn((k, n), generator=g)


@pytest.mark.parametrize("shape", [(7,), (3, 5)])
@pytest.mark.parametrize("needs", ["both", "weights", "input"])
def test_forward_and_gradients_equal_autograd_of_mm(shape, needs) -> None:
    x, w = _pair(shape, 37, 23)
    ours_x, ours_w = x.clone().requires_grad_(needs != "weights"), w.clone().requires_grad_(needs != "input")
    ref_x, ref_w = x.clone().requires_grad_(needs != "weights"), w.clone().requires_grad_(needs != "input")
    assert onednn_applies(ours_x, ours_w)
    ours = matmul(ours_x, ours_w)
    ref = ref_x @ ref_w
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    ours.backward(g)
    ref.backward(g)
    for a, b in ((ours_x, ref_x), (ours_w, ref_w)):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            assert a.grad.shape == b.grad.shape
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-5)


def test_strided_inputs_give_the_same_product() -> None:
    x, w = _pair((4, 6), 40, 9)
    part = x[..., 8:]  # a column slice, as a model trained on one modality takes
    weights = w[8:].requires_grad_(True)
    torch.testing.assert_close(matmul(part, weights), part @ weights, rtol=1e-5, atol=1e-5)


def test_inference_autocast_and_other_dtypes_keep_the_plain_product() -> None:
    x, w = _pair((3,), 8, 5)
    w.requires_grad_(True)
    with torch.no_grad():
        assert not onednn_applies(x, w)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not onednn_applies(x, w)
    assert not onednn_applies(x.double(), w.double())
    assert not onednn_applies(x, w.detach())  # nothing to differentiate
    empty = torch.zeros(0, 8)
    assert not onednn_applies(empty, w)
    assert matmul(empty, w).shape == (0, 5)
    torch.testing.assert_close(matmul(x.double(), w.double()), x.double() @ w.double())
