"""Float32 that stays float32 on CUDA.

PyTorch lets cuDNN run float32 convolutions in TF32 (10-bit mantissa) on Ampere and later
GPUs unless ``torch.backends.cudnn.allow_tf32`` is off. For a feature extractor whose
output is compared with the reference and quantized to 8 bits, that is not float32:
measured on an H100 with ``benchmarks/gpu_check.py``, TF32 moved Inception's PCA features
by up to 7e-3 relative and changed a third of the quantized bytes. The models' forward
passes therefore run under :func:`ieee_float32`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def ieee_float32(x: torch.Tensor) -> Iterator[None]:
    """Within the block, cuDNN computes float32 convolutions in full float32 when ``x`` is a
    float32 CUDA tensor; the previous setting is restored after. Elsewhere: no effect."""
    if not (x.is_cuda and x.dtype == torch.float32):
        yield
        return
    cudnn = torch.backends.cudnn
    before = cudnn.allow_tf32
    cudnn.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.allow_tf32 = before
