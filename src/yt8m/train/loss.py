"""The starter code's training loss (github.com/google/youtube-8m, ``losses.py`` and ``train.py``).

``CrossEntropyLoss.calculate_loss``::

    epsilon = 1e-5
    loss = -(labels * log(predictions + epsilon) + (1 - labels) * log(1 - predictions + epsilon))
    return reduce_mean(reduce_sum(loss, 1))

i.e. the per-class binary cross-entropy of the *probabilities* (not logits), summed
over classes and averaged over the batch. ``train.py`` adds
``regularization_penalty * reg_loss`` where ``reg_loss`` is the sum of
``slim.l2_regularizer(l2_penalty)`` terms, ``l2_penalty * sum(w ** 2) / 2`` per tensor
(``tf.nn.l2_loss``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

#: ``CrossEntropyLoss``'s epsilon (losses.py).
EPSILON = 1e-5


class _CrossEntropy(torch.autograd.Function):
    """The loss below with its gradient written out: the same float32 operations in the forward
    pass, done in place, and ``d/dp = ((1 - y) / (1 - p + eps) - y / (p + eps)) * w / batch``.

    With ``binary`` labels (every one exactly 0 or 1) each term is one logarithm,
    ``-log(p + eps)`` where y is 1 and ``-log(1 - p + eps)`` where it is 0, which is what the
    formula gives for such labels (``0 * log(...)`` is 0: both logarithms are finite for p in
    [0, 1]), and the gradient is ``-1 / (p + eps)`` or ``1 / (1 - p + eps)``.
    """

    @staticmethod
    def forward(ctx: Any, p: Tensor, y: Tensor, weights: Tensor | None,  # type: ignore[override]
                binary: bool) -> Tensor:
        positive = p + EPSILON
        negative = (1 - p).add_(EPSILON)
        if binary:
            chosen = torch.where(y > 0, positive, negative)
            loss = torch.log(chosen).neg_()
            ctx.save_for_backward(chosen, y, weights)
        else:
            complement = 1 - y
            loss = torch.log(positive).mul_(y).add_(torch.log(negative).mul_(complement)).neg_()
            ctx.save_for_backward(positive, negative, y, complement, weights)
        ctx.binary = binary
        if weights is not None:
            loss.mul_(weights)
        return loss.sum(1).mean()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None, None]:  # type: ignore[override]
        if ctx.binary:
            chosen, y, weights = ctx.saved_tensors
            grad_p = torch.reciprocal(chosen).mul_(1 - 2 * y)  # -1 / (p + eps) where y is 1
        else:
            positive, negative, y, complement, weights = ctx.saved_tensors
            grad_p = torch.div(complement, negative).sub_(torch.div(y, positive))
        scale = grad / y.shape[0]
        return (grad_p.mul_(scale) if weights is None else grad_p.mul_(weights).mul_(scale)), None, None, None


def cross_entropy_loss(predictions: Tensor, labels: Tensor, label_weights: Tensor | None = None, *,
                       binary_labels: bool = False) -> Tensor:
    """``CrossEntropyLoss.calculate_loss`` of probabilities and 0/1 labels [batch, classes], in float32.

    While autograd records, the gradient is computed directly (:class:`_CrossEntropy`:
    fewer passes over the [batch, classes] arrays, no autograd graph of ten operations).
    ``binary_labels``: the caller guarantees every label is exactly 0 or 1 (the trainer's
    video-label batches), which takes one logarithm per term instead of two, same values.
    """
    p = predictions.float()
    y = labels.float()
    w = label_weights.float() if label_weights is not None else None
    constant = not y.requires_grad and (w is None or not w.requires_grad)
    if torch.is_grad_enabled() and p.requires_grad and constant:
        return _CrossEntropy.apply(p, y, w, binary_labels)
    loss = -(y * torch.log(p + EPSILON) + (1 - y) * torch.log(1 - p + EPSILON))
    if w is not None:
        loss = loss * w
    return loss.sum(1).mean()


def l2_regularization(tensors: Iterable[Tensor], l2_penalty: float) -> Tensor:
    """Sum of ``slim.l2_regularizer(l2_penalty)(w) = l2_penalty * sum(w ** 2) / 2`` over ``tensors``."""
    terms = [t.float().square().sum() for t in tensors]
    if not terms:
        return torch.zeros(())
    return l2_penalty * torch.stack(terms).sum() / 2


@torch.no_grad()
def add_l2_gradient(tensors: Iterable[Tensor], l2_penalty: float) -> None:
    """Add the gradient of :func:`l2_regularization`, ``l2_penalty * w``, to each tensor's ``.grad``.

    The same as back-propagating the term, without autograd recording a square, a sum
    and their backward over every regularized weight each step. Tensors without a
    gradient are left alone.
    """
    pairs = [(t.grad, t) for t in tensors if t.grad is not None]
    if pairs and l2_penalty:
        grads, weights = zip(*pairs, strict=True)
        torch._foreach_add_(list(grads), list(weights), alpha=l2_penalty)
