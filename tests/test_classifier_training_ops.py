"""``yt8m.inference.classifiers.training_ops``: the training-time paths equal the plain formulas."""

from __future__ import annotations

import pytest
import torch

from yt8m.inference.classifiers import training_ops as ops_module
from yt8m.inference.classifiers.training_ops import matmul, moe_mixture, onednn_applies

needs_onednn = pytest.mark.skipif(ops_module._LINEAR is None, reason="this PyTorch has no oneDNN linear op")


def _pair(shape: tuple[int, ...], k: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn((*shape, k), generator=g), torch.randn((k, n), generator=g)


@needs_onednn
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


@needs_onednn
def test_strided_inputs_give_the_same_product() -> None:
    x, w = _pair((4, 6), 40, 9)
    part = x[..., 8:]  # a column slice, as a model trained on one modality takes
    weights = w[8:].requires_grad_(True)
    torch.testing.assert_close(matmul(part, weights), part @ weights, rtol=1e-5, atol=1e-5)


@needs_onednn
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


def _plain_moe(gate_logits: torch.Tensor, expert_logits: torch.Tensor, m: int) -> torch.Tensor:
    gating = torch.softmax(gate_logits.reshape(-1, m + 1), dim=1)
    return (gating[:, :m] * torch.sigmoid(expert_logits.reshape(-1, m))).sum(1)


@pytest.mark.parametrize("m", [1, 2, 3])
def test_moe_mixture_and_its_gradients_equal_the_starter_formula(m) -> None:
    g = torch.Generator().manual_seed(m)
    gates, experts = torch.randn(6, 5 * (m + 1), generator=g) * 4, torch.randn(6, 5 * m, generator=g) * 4
    gates[0, : m + 1] = torch.tensor([80.0, -80.0, 30.0, 0.0][: m + 1])  # exp would overflow without the max
    ours = [gates.clone().requires_grad_(True), experts.clone().requires_grad_(True)]
    plain = [gates.clone().requires_grad_(True), experts.clone().requires_grad_(True)]
    out, ref = moe_mixture(*ours, m), _plain_moe(*plain, m)
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)
    weights = torch.randn(ref.shape, generator=g)
    out.backward(weights)
    ref.backward(weights)
    for a, b in zip(ours, plain, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # inference: the plain formula itself
        assert torch.equal(moe_mixture(gates, experts, m), _plain_moe(gates, experts, m))
