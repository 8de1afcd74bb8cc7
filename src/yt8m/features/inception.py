"""Inception v3 exactly as in the 2015-12-05 TensorFlow graph (``classify_image_graph_def.pb``).

Differences from torchvision's ``Inception3`` (see docs/visual.md, 'Inception v3 network'):
the pool branches of the 35x35 blocks (``mixed`` .. ``mixed_2``), the 17x17 blocks
(``mixed_4`` .. ``mixed_7``) and the first 8x8 block (``mixed_9``) average 3x3/1/1
without counting the padding; the pool branch of the last block (``mixed_10``) is a MAX
pool; batch norm is ``BatchNormWithGlobalNormalization`` with the epsilon (and the
``scale_after_normalization`` flag) read from the graph; convolutions have no bias; no aux
head; 1008 classes.

Module attribute names are the graph's scope names (``mixed_9.tower_1.mixed.conv_1`` is
``mixed_9/tower_1/mixed/conv_1``), so the weight conversion reads one-to-one.

Preprocessing is part of the model, as in the graph: the uint8 RGB frame is resized to
299x299 with TF1's legacy ``ResizeBilinear`` (align_corners=False without the half-pixel
offset: ``src = dst * in / out``; PyTorch's ``interpolate`` does not match it), then
mapped by ``(x - 128) * 0.0078125``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from yt8m.features.cuda_float32 import ieee_float32

INPUT_SIZE = 299
POOL3_DIM = 2048
NUM_CLASSES = 1008
DEFAULT_EPSILON = 0.001


class ConvBN(nn.Module):
    """Conv2D (no bias) + BatchNormWithGlobalNormalization + ReLU: one ``<scope>`` of the graph."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int] | int,
                 stride: int = 1, padding: str = "SAME") -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if padding == "SAME" and stride != 1:
            raise ValueError("SAME padding is only used with stride 1 in this network")
        self.stride = stride
        self.padding_mode = padding
        self.padding = (kh // 2, kw // 2) if padding == "SAME" else (0, 0)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kh, kw))  # OIHW
        self.register_buffer("beta", torch.zeros(out_channels))
        self.register_buffer("gamma", torch.ones(out_channels))
        self.register_buffer("moving_mean", torch.zeros(out_channels))
        self.register_buffer("moving_variance", torch.ones(out_channels))
        self.epsilon = DEFAULT_EPSILON
        self.scale_after_normalization = False
        # Set by fold_batchnorm(); a buffer so that .to(device, dtype) moves it, not saved.
        self.register_buffer("bias", None, persistent=False)

    def fold_batchnorm(self) -> None:
        """Fold the batch norm into the convolution's weight and a bias (for inference).

        ``y = (conv(x) - mean) / sqrt(var + eps) * gamma + beta`` becomes
        ``conv'(x) + b`` with ``w' = w * s``, ``b = beta - mean * s``, ``s = gamma / sqrt(var + eps)``
        (gamma taken as 1 unless the graph scales after normalization).
        """
        if self.bias is not None:
            return
        with torch.no_grad():
            w = self.weight.double()
            scale = torch.rsqrt(self.moving_variance.double() + self.epsilon)
            if self.scale_after_normalization:
                scale = scale * self.gamma.double()
            self.weight.copy_((w * scale[:, None, None, None]).to(self.weight.dtype))
            self.bias = (self.beta.double() - self.moving_mean.double() * scale).to(self.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bias is not None:
            return F.relu(F.conv2d(x, self.weight, self.bias, self.stride, self.padding))
        y = F.conv2d(x, self.weight, None, self.stride, self.padding)
        scale = torch.rsqrt(self.moving_variance + self.epsilon)
        if self.scale_after_normalization:
            scale = scale * self.gamma
        y = (y - self.moving_mean[:, None, None]) * scale[:, None, None] + self.beta[:, None, None]
        return F.relu(y)


class _Tower(nn.Module):
    """A chain of ConvBN named ``conv``, ``conv_1``, ... (a ``tower`` scope of the graph)."""

    def __init__(self, layers: Sequence[tuple[int, int, tuple[int, int] | int, int, str]]) -> None:
        super().__init__()
        self.names = []
        for i, (cin, cout, k, s, pad) in enumerate(layers):
            name = "conv" if i == 0 else f"conv_{i}"
            self.add_module(name, ConvBN(cin, cout, k, s, pad))
            self.names.append(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.names:
            x = getattr(self, name)(x)
        return x


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    # TF AvgPool 3x3/1 SAME divides by the number of real (unpadded) inputs.
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class Mixed35(nn.Module):
    """``mixed``, ``mixed_1``, ``mixed_2`` (35x35): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.conv = ConvBN(in_channels, 64, 1)
        self.tower = _Tower([(in_channels, 48, 1, 1, "SAME"), (48, 64, 5, 1, "SAME")])
        self.tower_1 = _Tower([(in_channels, 64, 1, 1, "SAME"), (64, 96, 3, 1, "SAME"),
                               (96, 96, 3, 1, "SAME")])
        self.tower_2 = _Tower([(in_channels, pool_features, 1, 1, "SAME")])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(_avg_pool_same(x))], 1)


class Reduce35to17(nn.Module):
    """``mixed_3``: 3x3/2 | 1x1-3x3-3x3/2 | maxpool 3x3/2 (35x35 -> 17x17, 768 channels)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = ConvBN(in_channels, 384, 3, 2, "VALID")
        self.tower = _Tower([(in_channels, 64, 1, 1, "SAME"), (64, 96, 3, 1, "SAME"),
                             (96, 96, 3, 2, "VALID")])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), F.max_pool2d(x, 3, 2)], 1)


class Mixed17(nn.Module):
    """``mixed_4`` .. ``mixed_7`` (17x17): factorised 7x7 towers and an avgpool branch."""

    def __init__(self, in_channels: int, c7: int) -> None:
        super().__init__()
        self.conv = ConvBN(in_channels, 192, 1)
        self.tower = _Tower([(in_channels, c7, 1, 1, "SAME"), (c7, c7, (1, 7), 1, "SAME"),
                             (c7, 192, (7, 1), 1, "SAME")])
        self.tower_1 = _Tower([(in_channels, c7, 1, 1, "SAME"), (c7, c7, (7, 1), 1, "SAME"),
                               (c7, c7, (1, 7), 1, "SAME"), (c7, c7, (7, 1), 1, "SAME"),
                               (c7, 192, (1, 7), 1, "SAME")])
        self.tower_2 = _Tower([(in_channels, 192, 1, 1, "SAME")])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(_avg_pool_same(x))], 1)


class Reduce17to8(nn.Module):
    """``mixed_8``: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool 3x3/2 (17x17 -> 8x8, 1280 channels)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.tower = _Tower([(in_channels, 192, 1, 1, "SAME"), (192, 320, 3, 2, "VALID")])
        self.tower_1 = _Tower([(in_channels, 192, 1, 1, "SAME"), (192, 192, (1, 7), 1, "SAME"),
                               (192, 192, (7, 1), 1, "SAME"), (192, 192, 3, 2, "VALID")])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.tower(x), self.tower_1(x), F.max_pool2d(x, 3, 2)], 1)


class _Split(nn.Module):
    """A ``mixed`` scope inside a tower: 1x3 and 3x1 side by side, concatenated."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = ConvBN(channels, 384, (1, 3))
        self.conv_1 = ConvBN(channels, 384, (3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.conv_1(x)], 1)


class Mixed8(nn.Module):
    """``mixed_9`` and ``mixed_10`` (8x8, 2048 channels); ``max_pool`` for ``mixed_10``."""

    def __init__(self, in_channels: int, *, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.conv = ConvBN(in_channels, 320, 1)
        self.tower = _Tower([(in_channels, 384, 1, 1, "SAME")])
        self.tower.mixed = _Split(384)
        self.tower_1 = _Tower([(in_channels, 448, 1, 1, "SAME"), (448, 384, 3, 1, "SAME")])
        self.tower_1.mixed = _Split(384)
        self.tower_2 = _Tower([(in_channels, 192, 1, 1, "SAME")])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.max_pool2d(x, 3, 1, 1) if self.max_pool else _avg_pool_same(x)
        return torch.cat([
            self.conv(x),
            self.tower.mixed(self.tower(x)),
            self.tower_1.mixed(self.tower_1(x)),
            self.tower_2(pooled),
        ], 1)


class InceptionV3(nn.Module):
    """The 2015 graph from the resized, normalised image to ``pool_3`` (and ``softmax`` logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = ConvBN(3, 32, 3, 2, "VALID")        # N x 32 x 149 x 149
        self.conv_1 = ConvBN(32, 32, 3, 1, "VALID")     # N x 32 x 147 x 147
        self.conv_2 = ConvBN(32, 64, 3, 1, "SAME")      # N x 64 x 147 x 147
        # pool: max 3x3/2                               # N x 64 x 73 x 73
        self.conv_3 = ConvBN(64, 80, 1, 1, "VALID")     # N x 80 x 73 x 73
        self.conv_4 = ConvBN(80, 192, 3, 1, "VALID")    # N x 192 x 71 x 71
        # pool_1: max 3x3/2                             # N x 192 x 35 x 35
        self.mixed = Mixed35(192, 32)                   # N x 256 x 35 x 35
        self.mixed_1 = Mixed35(256, 64)                 # N x 288 x 35 x 35
        self.mixed_2 = Mixed35(288, 64)                 # N x 288 x 35 x 35
        self.mixed_3 = Reduce35to17(288)                # N x 768 x 17 x 17
        self.mixed_4 = Mixed17(768, 128)
        self.mixed_5 = Mixed17(768, 160)
        self.mixed_6 = Mixed17(768, 160)
        self.mixed_7 = Mixed17(768, 192)                # N x 768 x 17 x 17
        self.mixed_8 = Reduce17to8(768)                 # N x 1280 x 8 x 8
        self.mixed_9 = Mixed8(1280, max_pool=False)     # N x 2048 x 8 x 8
        self.mixed_10 = Mixed8(2048, max_pool=True)     # N x 2048 x 8 x 8
        self.softmax = nn.Linear(POOL3_DIM, NUM_CLASSES)

    def conv_layers(self) -> list[ConvBN]:
        return [m for m in self.modules() if isinstance(m, ConvBN)]

    def set_batchnorm(self, *, epsilon: float, scale_after_normalization: bool) -> None:
        for layer in self.conv_layers():
            layer.epsilon = epsilon
            layer.scale_after_normalization = scale_after_normalization

    def fold_batchnorm(self) -> InceptionV3:
        for layer in self.conv_layers():
            layer.fold_batchnorm()
        return self

    def blocks(self) -> list[nn.Module]:
        """The eleven mixed blocks, ``mixed`` .. ``mixed_10``, in order."""
        return [self.mixed, self.mixed_1, self.mixed_2, self.mixed_3, self.mixed_4, self.mixed_5,
                self.mixed_6, self.mixed_7, self.mixed_8, self.mixed_9, self.mixed_10]

    def set_precision(self, dtype: torch.dtype) -> InceptionV3:
        """Run the mixed blocks in ``dtype`` and keep the stem in float32 (see docs/visual.md,
        'Reduced precision'); the input stays float32 and ``pool_3`` comes out float32.

        The stem (the five convolutions before ``mixed``) holds a quarter of the network's
        multiply-adds, but rounding its input and activations to 16 bits moved the PCA
        features most: with the stem in float16 the quantized bytes were 96% unchanged or
        off by one, with the stem in float32 and everything after it in float16, 100%.
        """
        for block in self.blocks():
            block.to(dtype)
        return self

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """``pool_3`` [N, 2048] (float32) from normalised [N, 3, 299, 299] images."""
        x = x.to(self.conv.weight.dtype)
        with ieee_float32(x):
            return self._pool3(x)

    def _pool3(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_2(self.conv_1(self.conv(x)))
        x = F.max_pool2d(x, 3, 2)
        x = self.conv_4(self.conv_3(x))
        x = F.max_pool2d(x, 3, 2)
        x = x.to(self.mixed.conv.weight.dtype)
        for block in self.blocks():
            x = block(x)
        return x.float().mean(dim=(2, 3))  # pool_3: 8x8 average, VALID, in float32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool3(x)

    def logits(self, pool3: torch.Tensor) -> torch.Tensor:
        """The 1008 logits (``softmax/logits``) from ``pool_3``; softmax of them is ``softmax:0``."""
        return self.softmax(pool3)


def _legacy_resize_indices(size_in: int, size_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TF1 legacy bilinear taps: src = dst * in / out; lo = floor(src); hi = min(lo + 1, in - 1)."""
    scale = np.float32(size_in) / np.float32(size_out)
    src = np.arange(size_out, dtype=np.float32) * scale
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, size_in - 1)
    frac = (src - lo).astype(np.float32)
    return torch.from_numpy(lo), torch.from_numpy(hi), torch.from_numpy(frac)


def legacy_resize_bilinear(image: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """Resize a float [H, W, C] image to [size, size, C] as TF1's ``ResizeBilinear`` does.

    Interpolates ``top + (bottom - top) * y_frac`` of ``left + (right - left) * x_frac``,
    the arithmetic order of TensorFlow's kernel, with no antialiasing.
    """
    h, w = image.shape[0], image.shape[1]
    y_lo, y_hi, y_frac = (t.to(image.device) for t in _legacy_resize_indices(h, size))
    x_lo, x_hi, x_frac = (t.to(image.device) for t in _legacy_resize_indices(w, size))
    top_rows = image.index_select(0, y_lo)
    bottom_rows = image.index_select(0, y_hi)
    x_frac = x_frac.to(image.dtype)[None, :, None]
    top = top_rows.index_select(1, x_lo)
    top = top + (top_rows.index_select(1, x_hi) - top) * x_frac
    bottom = bottom_rows.index_select(1, x_lo)
    bottom = bottom + (bottom_rows.index_select(1, x_hi) - bottom) * x_frac
    return top + (bottom - top) * y_frac.to(image.dtype)[:, None, None]


def preprocess(frames: Sequence[np.ndarray | torch.Tensor], device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 RGB frames [H, W, 3] (any sizes) to the network input [N, 3, 299, 299].

    Each frame is cast to float32, resized (TF1 legacy bilinear) and mapped by
    ``(x - 128) * 0.0078125``, as the 2015 graph does after ``DecodeJpeg``.
    """
    batch = []
    for frame in frames:
        t = torch.as_tensor(frame, device=device)
        if t.ndim != 3 or t.shape[2] != 3 or t.dtype != torch.uint8:
            raise ValueError(f"expected a uint8 RGB frame [H, W, 3], got {t.dtype} {tuple(t.shape)}")
        resized = legacy_resize_bilinear(t.to(torch.float32))
        batch.append((resized - 128.0) * 0.0078125)
    x = torch.stack(batch).permute(0, 3, 1, 2)
    return x.to(dtype).contiguous(memory_format=torch.channels_last)


def inception_v3(*, weights: object | None = None, device: torch.device | str = "cpu",
                 fold_batchnorm: bool = True, fetch: bool = True, mirror: str | None = None) -> InceptionV3:
    """Build the 2015 Inception v3 with the official weights, ready for inference.

    ``weights`` is a :class:`yt8m.weights.store.Weights` (default: ``load("inception")``,
    fetched, from ``mirror`` when given, and converted on first use unless
    ``fetch=False``). The graph's batch-norm
    epsilon and mode are applied, each convolution's stride and padding are checked
    against the graph, and batch norm is folded into the convolutions unless
    ``fold_batchnorm=False``. The model is in eval mode, channels-last, on ``device``.
    """
    from yt8m.errors import WeightsError
    from yt8m.weights.store import Weights, load

    w = load("inception", fetch=fetch, mirror=mirror) if weights is None else weights
    assert isinstance(w, Weights)
    model = InceptionV3()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in w.tensors.items()}, strict=True)
    model.set_batchnorm(epsilon=float(w.meta.get("epsilon", DEFAULT_EPSILON)),
                        scale_after_normalization=bool(w.meta.get("scale_after_normalization", False)))
    for name, (stride, padding) in w.meta.get("geometry", {}).items():
        layer = model.get_submodule(name)
        one_by_one = tuple(layer.weight.shape[-2:]) == (1, 1)  # padding is irrelevant for 1x1
        if layer.stride != stride or (padding != layer.padding_mode and not one_by_one):
            raise WeightsError(f"inception weights: layer {name} has stride {stride} and {padding} padding "
                               f"in the graph, but the 2015 network has stride {layer.stride} and "
                               f"{layer.padding_mode} padding")
    model.eval()
    if fold_batchnorm:
        model.fold_batchnorm()
    return model.to(device=device, memory_format=torch.channels_last)
