"""``yt8m`` under torchrun for the tests: the CLI, one torch thread, and optionally the first step's
gradients.

With ``$YT8M_TEST_GRADIENTS`` set to a path prefix, each process saves the gradients of
its first step, as the optimiser is about to use them (after DDP's all-reduce, before
clipping), to ``<prefix>.<rank>.pt``.
"""

from __future__ import annotations

import os
import sys

import torch

from yt8m.train import trainer


def capture_first_gradients(prefix: str) -> None:
    original = trainer.clip_by_norm
    seen = {"done": False}

    def clip_by_norm(parameters, max_norm):
        if not seen["done"]:
            seen["done"] = True
            grads = [p.grad.detach().clone() for p in parameters]
            torch.save(grads, f"{prefix}.{os.environ.get('RANK', '0')}.pt")
        return original(parameters, max_norm)

    trainer.clip_by_norm = clip_by_norm


if __name__ == "__main__":
    torch.set_num_threads(1)
    if os.environ.get("YT8M_TEST_GRADIENTS"):
        capture_first_gradients(os.environ["YT8M_TEST_GRADIENTS"])
    from yt8m.cli import main

    sys.exit(main(sys.argv[1:]))
