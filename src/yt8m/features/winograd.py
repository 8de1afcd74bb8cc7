"""Winograd F(2x2, 3x3) convolution for CPU: 3x3, stride 1, SAME, followed by ReLU.

The minimal filtering algorithm of Lavin & Gray, "Fast Algorithms for Convolutional Neural
Networks" (2016): each 2x2 block of outputs comes from a 4x4 tile of input, and the 36
multiplications of a direct 3x3 convolution become 16, as 16 independent matrix products
``[tiles, C_in] @ [C_in, C_out]`` between transformed inputs and transformed kernels:

    Y = A^T [ (G g G^T) * (B^T d B) ] A

with ``B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]``,
``G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]`` and
``A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]``.

Why by hand: oneDNN (PyTorch's CPU convolution) implements Winograd only for AVX-512
machines; on AVX2 CPUs every 3x3 convolution is computed directly. F(2x2, 3x3) is the
variant with small constants (0, +-1, +-1/2), so its rounding error is that of a direct
convolution or smaller: the kernels are transformed in float64 and the data transforms are
additions only. F(4x4, 3x3) would save more arithmetic but loses about a digit.

A 2x2 output block is exactly a 2x2 max-pool window, so with ``pool=True`` the pool reads
the four outputs of each block straight from the output transform's [4, tiles, K] product:
the interleaved full-size output is never written.
"""

from __future__ import annotations

import functools

import torch

_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))
_A_T = ((1.0, 1.0, 1.0, 0.0), (0.0, 1.0, -1.0, -1.0))


def transform_kernel(weight: torch.Tensor) -> torch.Tensor:
    """Conv weights [C_out, C_in, 3, 3] -> transformed kernels ``G g G^T`` as [16, C_in, C_out].

    Computed in float64 and rounded once; index ``4 * i + j`` is tile position (i, j).
    """
    if weight.ndim != 4 or tuple(weight.shape[2:]) != (3, 3):
        raise ValueError(f"expected 3x3 convolution weights [C_out, C_in, 3, 3], got {tuple(weight.shape)}")
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ai,kcij,bj->abck", g, weight.double(), g)  # [4, 4, C_in, C_out]
    return u.reshape(16, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def conv3x3_relu(x: torch.Tensor, kernels: torch.Tensor, bias: torch.Tensor, *,
                 pool: bool = False) -> torch.Tensor:
    """``relu(conv3x3(x) + bias)``, then a 2x2 stride-2 max-pool when ``pool``.

    ``x`` is [N, C_in, H, W] with H and W even (any memory format; channels-last avoids a
    copy), ``kernels`` comes from :func:`transform_kernel`. The result is [N, C_out, H, W]
    (or [N, C_out, H/2, W/2] pooled) in channels-last memory, equal to the direct
    convolution up to float32 rounding.
    """
    n, c, h, w = x.shape
    k = kernels.shape[2]
    if h % 2 or w % 2:
        raise ValueError(f"Winograd F(2x2, 3x3) needs an even height and width, got {h}x{w}")
    if kernels.shape != (16, c, k) or bias.shape != (k,):
        raise ValueError(f"kernels {tuple(kernels.shape)} and bias {tuple(bias.shape)} do not fit {c} input "
                         "channels")
    th, tw = h // 2, w // 2
    tiles = n * th * tw
    padded = torch.nn.functional.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1))  # [N, H+2, W+2, C]

    # Input transform B^T d B: rows first (4 tensors), then columns straight into V.
    rows = [padded[:, i:i + 2 * th:2] for i in range(4)]  # row i of every tile: [N, th, W+2, C]
    row_t = (rows[0] - rows[2], rows[1] + rows[2], rows[2] - rows[1], rows[1] - rows[3])
    v = torch.empty(16, n, th, tw, c, dtype=x.dtype, device=x.device)
    for i, t in enumerate(row_t):
        cols = [t[:, :, j:j + 2 * tw:2] for j in range(4)]
        torch.sub(cols[0], cols[2], out=v[4 * i])
        torch.add(cols[1], cols[2], out=v[4 * i + 1])
        torch.sub(cols[2], cols[1], out=v[4 * i + 2])
        torch.sub(cols[1], cols[3], out=v[4 * i + 3])

    m = torch.bmm(v.view(16, tiles, c), kernels)  # [16, tiles, K]

    # Output transform A^T M A as one [4, 16] @ [16, tiles * K] product: a single pass over M
    # (about 2.5x faster than the same sums as separate additions); its coefficients are 0
    # and +-1, so every product is exact. Row 2a + b is output (2i + a, 2j + b) of each block.
    y = torch.mm(_output_transform(m.dtype, m.device), m.view(16, tiles * k)).view(4, tiles, k)
    if pool:
        return y.amax(0).add_(bias).relu_().view(n, th, tw, k).permute(0, 3, 1, 2)
    out = torch.empty(n, h, w, k, dtype=x.dtype, device=x.device)
    out.view(n, th, 2, tw, 2, k).copy_(
        y.add_(bias).relu_().view(2, 2, n, th, tw, k).permute(2, 3, 0, 4, 1, 5))
    return out.permute(0, 3, 1, 2)


@functools.cache
def _output_transform(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``A^T (x) A^T`` as [4, 16], built once per dtype and device: entry (2a + b, 4i + j)
    is ``A^T[a, i] * A^T[b, j]``."""
    a_t = torch.tensor(_A_T, dtype=torch.float64)
    return torch.einsum("ai,bj->abij", a_t, a_t).reshape(4, 16).to(dtype=dtype, device=device)
