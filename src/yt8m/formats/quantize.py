"""8-bit quantization of features, exactly as the YouTube-8M data was made.

Quantize (MediaPipe ``QuantizeFloatVectorCalculator`` and the VGGish postprocessor):
clip to [-2, 2], then ``uint8((x + 2) * 255 / 4)``, truncating. The addition is done
in float32 and the scaling in float64, as in the C++ calculator.

Dequantize (YouTube-8M starter code ``utils.Dequantize`` and MediaPipe):
``q * 4/255 + 4/512 - 2``, the centre of each quantization step, in float32.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MIN_QUANTIZED_VALUE = -2.0
MAX_QUANTIZED_VALUE = 2.0
_RANGE = MAX_QUANTIZED_VALUE - MIN_QUANTIZED_VALUE
#: Width of one quantization step (4/255).
QUANTIZATION_STEP = _RANGE / 255.0


def quantize(features: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """Return ``features`` quantized to uint8 (same shape)."""
    x = np.asarray(features, dtype=np.float32)
    clipped = np.clip(x, np.float32(MIN_QUANTIZED_VALUE), np.float32(MAX_QUANTIZED_VALUE))
    shifted = (clipped - np.float32(MIN_QUANTIZED_VALUE)).astype(np.float64)
    return (shifted * (255.0 / _RANGE)).astype(np.uint8)


def dequantize(quantized: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Return the float32 value at the centre of each quantization step."""
    q = np.asarray(quantized)
    if q.dtype != np.uint8:
        raise TypeError(f"dequantize expects uint8 values, got {q.dtype}")
    scalar = np.float32(_RANGE / 255.0)
    bias = np.float32(_RANGE / 512.0 + MIN_QUANTIZED_VALUE)
    return q.astype(np.float32) * scalar + bias
