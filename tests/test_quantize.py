"""Quantization against hand-computed values and the starter code's formula."""

from __future__ import annotations

import numpy as np

from tf_oracle import run_tf
from yt8m.formats.quantize import QUANTIZATION_STEP, dequantize, quantize


def test_quantize_hand_values() -> None:
    x = np.array([-3.0, -2.0, -1.0, 0.0, 0.015, 1.0, 1.99, 2.0, 5.0], np.float32)
    # uint8((x + 2) * 255 / 4), truncated, after clipping to [-2, 2]:
    # -2 -> 0; -1 -> 63.75 -> 63; 0 -> 127.5 -> 127; 0.015 -> 128.456 -> 128;
    # 1 -> 191.25 -> 191; 1.99 -> 254.3625 -> 254; 2 -> 255.
    assert quantize(x).tolist() == [0, 0, 63, 127, 128, 191, 254, 255, 255]


def test_dequantize_hand_values() -> None:
    q = np.array([0, 1, 127, 128, 255], np.uint8)
    expected = np.array([-2 + 4 / 512, -2 + 4 / 255 + 4 / 512, -2 + 127 * 4 / 255 + 4 / 512,
                         -2 + 128 * 4 / 255 + 4 / 512, 2 + 4 / 512], np.float32)
    np.testing.assert_allclose(dequantize(q), expected, rtol=0, atol=1e-6)


def test_roundtrip_within_one_step() -> None:
    x = np.random.default_rng(0).uniform(-2, 2, size=(50, 1024)).astype(np.float32)
    err = np.abs(dequantize(quantize(x)) - x)
    assert err.max() <= QUANTIZATION_STEP


def test_dequantize_matches_starter_code_in_tensorflow(tmp_path) -> None:
    q = np.arange(256, dtype=np.uint8)
    code = """
    # youtube-8m utils.Dequantize(feat_vector, max_quantized_value=2, min_quantized_value=-2)
    feat = tf.constant(args["q"], tf.float32)
    quantized_range = 2.0 - -2.0
    scalar = quantized_range / 255.0
    bias = (quantized_range / 512.0) + -2.0
    result = (feat * scalar + bias).numpy().tolist()
    """
    theirs = np.asarray(run_tf(code, tmp_path, q=q.tolist()), np.float32)
    np.testing.assert_allclose(dequantize(q), theirs, rtol=0, atol=2e-7)
