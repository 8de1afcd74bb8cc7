"""``tf.compat.v1.train.AdamOptimizer``, the starter code's optimiser, exactly.

TensorFlow's Adam differs from ``torch.optim.Adam`` in where epsilon goes: with
``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`` it updates
``w -= lr_t * m / (sqrt(v) + epsilon)`` (the "epsilon hat" of Kingma and Ba, section 2),
where torch divides by ``sqrt(v) / sqrt(1 - beta2^t) + epsilon``. With gradients much
smaller than one the two drift apart early in training, so this is the one used.

The two are the same update when torch's epsilon is ``epsilon / sqrt(1 - beta2^t)``:
``lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon / sqrt(1 - beta2^t))
= lr_t * m / (sqrt(v) + epsilon)``. So each step calls PyTorch's fused Adam kernel
(``torch._fused_adam_``: one pass over each tensor, no temporaries) with that epsilon;
where the kernel is missing, the same update runs as ``torch._foreach_*`` operations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

#: PyTorch's fused Adam kernel, or None in a PyTorch without it (used on CPU only: its CUDA path
#: was not run here).
_FUSED_ADAM: Any = getattr(torch, "_fused_adam_", None)


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
            if _FUSED_ADAM is not None and all(p.device.type == "cpu" for p in params):
                # torch's Adam with epsilon / sqrt(1 - beta2^t) is TensorFlow's (module docstring).
                steps = [torch.tensor(float(step), device=p.device) for p in params]
                _FUSED_ADAM(params, grads, ms, vs, [], steps, lr=group["lr"], beta1=beta1, beta2=beta2,
                            weight_decay=0.0, eps=group["eps"] / math.sqrt(1 - beta2 ** step),
                            amsgrad=False, maximize=False)
                continue
            lr_t = group["lr"] * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
            torch._foreach_lerp_(ms, grads, 1 - beta1)  # m = beta1 m + (1 - beta1) g
            torch._foreach_mul_(vs, beta2)
            torch._foreach_addcmul_(vs, grads, grads, value=1 - beta2)
            denominators = torch._foreach_sqrt(vs)
            torch._foreach_add_(denominators, group["eps"])
            torch._foreach_addcdiv_(params, ms, denominators, value=-lr_t)
