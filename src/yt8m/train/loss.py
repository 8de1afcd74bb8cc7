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

import torch
from torch import Tensor

#: ``CrossEntropyLoss``'s epsilon (losses.py).
EPSILON = 1e-5


def cross_entropy_loss(predictions: Tensor, labels: Tensor, label_weights: Tensor | None = None) -> Tensor:
    """``CrossEntropyLoss.calculate_loss`` of probabilities and 0/1 labels [batch, classes], in float32."""
    p = predictions.float()
    y = labels.float()
    loss = -(y * torch.log(p + EPSILON) + (1 - y) * torch.log(1 - p + EPSILON))
    if label_weights is not None:
        loss = loss * label_weights
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
