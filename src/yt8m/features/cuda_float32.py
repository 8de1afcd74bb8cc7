"""Float32 that stays float32 on CUDA.

PyTorch lets cuDNN run float32 convolutions in TF32 (10-bit mantissa) on Ampere and later
GPUs unless ``torch.backends.cudnn.allow_tf32`` is off. For a feature extractor whose
output is compared with the reference and quantized to 8 bits, that is not float32:
measured on an H100 with ``benchmarks/gpu_check.py``, TF32 moved Inception's PCA features
by up to 7e-3 relative and changed a third of the quantized bytes. The models' forward
passes therefore run under :func:`ieee_float32`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_lock = threading.Lock()
_depth = 0  # blocks open now, in any thread
_saved = False  # the setting before the first of them


@contextmanager
def ieee_float32(x: torch.Tensor) -> Iterator[None]:
    """Within the block, cuDNN computes float32 convolutions in full float32 when ``x`` is a
    float32 CUDA tensor; the setting from before is restored when the last such block, in
    any thread, ends (the flag is process-wide, so overlapping blocks in several threads
    keep it off until all of them are done). Elsewhere: no effect. A change made to the flag
    by other code while a block is open is undone when the last block ends."""
    global _depth, _saved
    if not (x.is_cuda and x.dtype == torch.float32):
        yield
        return
    cudnn = torch.backends.cudnn
    with _lock:
        if _depth == 0:
            _saved = cudnn.allow_tf32
        cudnn.allow_tf32 = False
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                cudnn.allow_tf32 = _saved
