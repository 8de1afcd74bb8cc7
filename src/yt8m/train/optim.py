"""``tf.compat.v1.train.AdamOptimizer``, the starter code's optimiser, exactly.

TensorFlow's Adam differs from ``torch.optim.Adam`` in where epsilon goes: with
``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`` it updates
``w -= lr_t * m / (sqrt(v) + epsilon)`` (the "epsilon hat" of Kingma and Ba, section 2),
where torch divides by ``sqrt(v) / sqrt(1 - beta2^t) + epsilon``. With gradients much
smaller than one the two drift apart early in training, so this is the one used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


class TFAdam(torch.optim.Optimizer):
    """Adam with TensorFlow v1's update (defaults: beta1 0.9, beta2 0.999, epsilon 1e-8)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 0.001,
                 betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        assert closure is None, "TFAdam takes no closure"
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            params, grads, ms, vs = [], [], [], []
            step = None
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["v"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                step = state["step"]
                params.append(p)
                grads.append(p.grad)
                ms.append(state["m"])
                vs.append(state["v"])
            if not params:
                continue
            assert step is not None
            lr_t = group["lr"] * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
            torch._foreach_lerp_(ms, grads, 1 - beta1)  # m = beta1 m + (1 - beta1) g
            torch._foreach_mul_(vs, beta2)
            torch._foreach_addcmul_(vs, grads, grads, value=1 - beta2)
            denominators = torch._foreach_sqrt(vs)
            torch._foreach_add_(denominators, group["eps"])
            torch._foreach_addcdiv_(params, ms, denominators, value=-lr_t)
