"""``x @ w`` for training on a CPU through oneDNN's float32 GEMM.

On this project's CPU (AMD EPYC, AVX-512) PyTorch's float32 ``mm`` goes to MKL's ``sgemm``,
which runs the weight-gradient product ``x.T @ g`` at about 50 GFLOP/s on one thread where
oneDNN's (what TensorFlow's CPU matmul uses) runs it at about 90, and the forward product at
60-78 against 100 (``benchmarks/train_speed.py``; the sizes of the 3862-class heads).
:func:`matmul` computes the forward and both gradients with oneDNN
(``torch.ops.mkldnn._linear_pointwise``, the op PyTorch's own compiler emits for linear
layers on CPU), in float32 as before: only the order of the sums differs.

It is used while autograd records (training); inference, autocast (bfloat16 / float16),
other devices and dtypes, and PyTorch builds without oneDNN keep ``x @ w``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def _find_linear() -> Any:
    """oneDNN's linear op (``input @ weight.T``), or None where this PyTorch has none."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):
        return None


_LINEAR = _find_linear()


def _linear(x: Tensor, weight: Tensor) -> Tensor:
    """``x @ weight.T`` by oneDNN (any strides; ``x`` [..., k], ``weight`` [n, k])."""
    return _LINEAR(x, weight, None, "none", [], "")


class _OneDnnMatmul(torch.autograd.Function):
    """``x [..., k] @ w [k, n]`` with its gradients, every product by oneDNN."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, w)
        return _linear(x, w.T)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
        x, w = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = _linear(grad, w)  # grad @ w.T
        if ctx.needs_input_grad[1]:
            rows = grad.reshape(-1, grad.shape[-1])
            grad_w = _linear(x.reshape(-1, x.shape[-1]).T, rows.T)  # x.T @ grad, [k, n]
        return grad_x, grad_w


def onednn_applies(x: Tensor, w: Tensor) -> bool:
    """Whether :func:`matmul` takes the oneDNN path for these operands here and now."""
    return (_LINEAR is not None and torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)
            and x.device.type == "cpu" and w.device.type == "cpu"
            and x.dtype == torch.float32 and w.dtype == torch.float32 and w.dim() == 2 and x.dim() >= 2
            and x.numel() > 0 and w.numel() > 0  # oneDNN refuses empty products
            and not torch.is_autocast_enabled("cpu"))


def matmul(x: Tensor, w: Tensor) -> Tensor:
    """``x [..., k] @ w [k, n]``: through oneDNN while training on a CPU in float32 (see the module)."""
    if onednn_applies(x, w):
        return _OneDnnMatmul.apply(x, w)
    return x @ w
