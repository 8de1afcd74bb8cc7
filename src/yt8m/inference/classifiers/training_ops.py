"""Two operations of the native models, computed faster while training on a CPU in float32.

Both are used only while autograd records and every operand is a float32 CPU tensor outside
autocast; inference, bfloat16 / float16, other devices, and PyTorch builds without oneDNN
keep the plain formulas, so scores at inference are unchanged.

* :func:`matmul`, ``x @ w``: on this project's CPU (AMD EPYC, AVX-512) PyTorch's float32 ``mm``
  goes to MKL's ``sgemm``, which runs the weight-gradient product ``x.T @ g`` at about 50
  GFLOP/s on one thread where oneDNN's (what TensorFlow's CPU matmul uses) runs it at about
  90, and the forward product at 60-78 against 100 (batch 256, the 1152 x 3862 logistic
  head). Here the forward and both gradients go through oneDNN
  (``torch.ops.mkldnn._linear_pointwise``, the op PyTorch's own compiler emits for linear
  layers on CPU), in float32 as before: only the order of the sums differs.
* :func:`moe_mixture`, ``MoeModel``'s ``sum_k softmax(gates)_k * sigmoid(experts)_k``: the
  softmax over ``num_mixtures + 1`` values per class is a reduction over a dimension of 3,
  which PyTorch's kernel does slowly (70 ms forward and 35 ms backward for 256 videos x 3862
  classes, two mixtures); here it runs on the strided columns with the gradient written
  out (30 ms for both).
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


def _float32_cpu_training(*tensors: Tensor) -> bool:
    """Autograd records, some operand needs a gradient, all are float32 CPU tensors, no autocast."""
    return (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
            and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
            and not torch.is_autocast_enabled("cpu"))


def onednn_applies(x: Tensor, w: Tensor) -> bool:
    """Whether :func:`matmul` takes the oneDNN path for these operands here and now."""
    return (_LINEAR is not None and _float32_cpu_training(x, w) and w.dim() == 2 and x.dim() >= 2
            and x.numel() > 0 and w.numel() > 0)  # oneDNN refuses empty products


def matmul(x: Tensor, w: Tensor) -> Tensor:
    """``x [..., k] @ w [k, n]``: through oneDNN while training on a CPU in float32 (see the module)."""
    if onednn_applies(x, w):
        return _OneDnnMatmul.apply(x, w)
    return x @ w


class _MoeMixture(torch.autograd.Function):
    """``p = sum_{k<m} g_k e_k`` with ``g = softmax(gate_logits)`` over ``m + 1`` and
    ``e = sigmoid(expert_logits)``; gradients ``dp/dgate_j = g_j (e_j - p)`` (``e_m = 0``, the
    dummy expert) and ``dp/dexpert_k = g_k e_k (1 - e_k)``."""

    @staticmethod
    def forward(ctx: Any, gate_logits: Tensor, expert_logits: Tensor,  # type: ignore[override]
                num_mixtures: int) -> Tensor:
        m = num_mixtures
        columns = gate_logits.reshape(-1, m + 1).unbind(1)
        top = columns[0]
        for column in columns[1:]:
            top = torch.maximum(top, column)
        gates = [torch.exp(column - top) for column in columns]
        total = gates[0]
        for gate in gates[1:]:
            total = total + gate
        inverse = torch.reciprocal(total)
        for gate in gates:
            gate.mul_(inverse)
        experts = [torch.sigmoid(column) for column in expert_logits.reshape(-1, m).unbind(1)]
        p = gates[0] * experts[0]
        for k in range(1, m):
            p.addcmul_(gates[k], experts[k])
        ctx.save_for_backward(p, *gates, *experts)
        ctx.num_mixtures = m
        ctx.shapes = (gate_logits.shape, expert_logits.shape)
        return p

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, None]:  # type: ignore[override]
        m = ctx.num_mixtures
        p, *saved = ctx.saved_tensors
        gates, experts = saved[:m + 1], saved[m + 1:]
        grad = grad.reshape(-1)
        grad_gates = grad.new_empty(p.shape[0], m + 1)
        grad_experts = grad.new_empty(p.shape[0], m)
        for k in range(m):
            weighted = grad * gates[k]
            torch.mul(weighted, experts[k] - p, out=grad_gates[:, k])
            torch.mul(weighted * experts[k], 1 - experts[k], out=grad_experts[:, k])
        torch.mul(grad * gates[m], p, out=grad_gates[:, m]).neg_()
        gate_shape, expert_shape = ctx.shapes
        return grad_gates.reshape(gate_shape), grad_experts.reshape(expert_shape), None


def moe_mixture(gate_logits: Tensor, expert_logits: Tensor, num_mixtures: int) -> Tensor:
    """``MoeModel``'s probabilities, flat [rows * classes], from its logits.

    ``gate_logits`` [rows, classes * (m + 1)] and ``expert_logits`` [rows, classes * m], the
    mixtures of a class adjacent (the starter code's reshape to ``[-1, m + 1]`` and
    ``[-1, m]``): ``sum_{k<m} softmax(gates)_k * sigmoid(experts)_k``, the softmax taken over
    ``m + 1`` gates of which the last weighs a dummy expert that always says 0.
    """
    m = num_mixtures
    if (_float32_cpu_training(gate_logits, expert_logits)
            and gate_logits.numel() and expert_logits.numel()):
        return _MoeMixture.apply(gate_logits, expert_logits, m)
    gating = torch.softmax(gate_logits.reshape(-1, m + 1), dim=1)  # (rows * classes) x (m + 1)
    experts = torch.sigmoid(expert_logits.reshape(-1, m))  # (rows * classes) x m
    return (gating[:, :m] * experts).sum(1)
