"""Winograd F(2x2, 3x3) against a direct convolution written here in float64 numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from yt8m.features.winograd import conv3x3_relu, transform_kernel


def _direct(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3x3 stride-1 SAME cross-correlation (as conv2d computes it), NCHW, float64."""
    n, _, h, wd = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd)) + b[None, :, None, None]
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,kc->nkhw", padded[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return out


def _pool(y: np.ndarray) -> np.ndarray:
    n, k, h, w = y.shape
    return y.reshape(n, k, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _run(x: np.ndarray, w: np.ndarray, b: np.ndarray, *, pool: bool,
         channels_last: bool = True) -> np.ndarray:
    xt = torch.from_numpy(x.astype(np.float32))
    if channels_last:
        xt = xt.contiguous(memory_format=torch.channels_last)
    wt = torch.from_numpy(w.astype(np.float32))
    out = conv3x3_relu(xt, transform_kernel(wt), torch.from_numpy(b.astype(np.float32)), pool=pool)
    assert out.is_contiguous(memory_format=torch.channels_last)
    return out.double().numpy()


@pytest.mark.parametrize("pool", [False, True])
@pytest.mark.parametrize("shape", [(2, 5, 7, 6, 10), (3, 16, 9, 2, 2), (1, 64, 32, 12, 8)])
def test_matches_direct_convolution(shape, pool) -> None:
    n, c, k, h, w = shape
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(size=(n, c, h, w))
    weights = rng.normal(size=(k, c, 3, 3)) / np.sqrt(9 * c)
    bias = rng.normal(size=k)
    expected = np.maximum(_direct(x, weights, bias), 0.0)
    if pool:
        expected = _pool(expected)
    ours = _run(x, weights, bias, pool=pool)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_accepts_contiguous_nchw_input() -> None:
    rng = np.random.default_rng(0)
    x, weights, bias = rng.normal(size=(2, 3, 4, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    expected = np.maximum(_direct(x, weights, bias), 0.0)
    np.testing.assert_allclose(_run(x, weights, bias, pool=False, channels_last=False), expected, atol=1e-5)


def test_hand_checked_values() -> None:
    # A kernel of ones over a constant image of 2 sums 9 neighbours inside, 6 on an edge,
    # 4 in a corner (SAME pads with zeros); the bias is added; the pool keeps each 2x2 maximum.
    x = np.full((1, 1, 4, 4), 2.0)
    ones = np.ones((1, 1, 3, 3))
    y = _run(x, ones, np.array([1.0]), pool=False)[0, 0]
    np.testing.assert_array_equal(y, [[9, 13, 13, 9], [13, 19, 19, 13], [13, 19, 19, 13], [9, 13, 13, 9]])
    np.testing.assert_array_equal(_run(x, ones, np.array([1.0]), pool=True)[0, 0], [[19, 19], [19, 19]])
    # The centre tap alone is the identity: relu(x + b).
    centre = np.zeros((1, 1, 3, 3))
    centre[0, 0, 1, 1] = 1.0
    ramp = np.arange(-8.0, 8.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(_run(ramp, centre, np.array([0.5]), pool=False)[0, 0],
                                  np.maximum(ramp[0, 0] + 0.5, 0.0))


def test_rejects_what_it_cannot_compute() -> None:
    kernels = transform_kernel(torch.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match="even height and width"):
        conv3x3_relu(torch.zeros(1, 3, 5, 4), kernels, torch.zeros(4))
    with pytest.raises(ValueError, match="do not fit 2 input channels"):
        conv3x3_relu(torch.zeros(1, 2, 4, 4), kernels, torch.zeros(4))
    with pytest.raises(ValueError, match=r"\[C_out, C_in, 3, 3\]"):
        transform_kernel(torch.zeros(4, 3, 5, 5))
