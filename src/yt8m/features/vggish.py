"""VGGish (AudioSet) in PyTorch, as the TensorFlow ``vggish_slim`` graph defines it.

Input: log-mel examples [N, 96, 64] (time x mel). Layers (see docs/audio.md, 'VGGish'): conv3x3 64, pool;
conv 128, pool; conv 256, conv 256, pool; conv 512, conv 512, pool (3x3 stride 1 SAME
convolutions with ReLU, 2x2 stride 2 pools); flatten 6x4x512 in NHWC order (h, w, c);
fc 4096 ReLU, fc 4096 ReLU, fc 128 with NO activation: the output is
``vggish/fc2/BiasAdd``, the embedding the YouTube-8M audio features were made from.

Module names follow the checkpoint's scopes (``conv3.conv3_1`` is ``vggish/conv3/conv3_1``).

How it runs fast on CPU (each step measured with ``benchmarks/features_speed.py``):

* Convolutions run channels-last (NHWC in memory, as TensorFlow lays them out), oneDNN's
  fastest layout: about 1.2x over NCHW.
* On CPU the convolution stack runs over ``CONV_CHUNK`` examples at a time, and ``conv1``
  (one input channel, so bound by memory, not arithmetic) over ``CONV1_CHUNK``. A batch of
  128 at once makes ``conv1`` write 200 MB that neither fits the cache nor can be reused;
  in chunks each layer's input and output stay in cache and the allocator reuses the same
  blocks. The fully connected layers run over the whole batch, where a large batch
  amortizes reading their weights.
* Where a max-pool follows, the ReLU runs after the pool, in place, on a quarter of the
  values: ``max`` and ``relu`` commute, so the result is the same bit for bit.
* On CPU in float32, the convolutions with at least ``WINOGRAD_MIN_CHANNELS`` input
  channels (conv3_1 to conv4_2: 85% of the convolutions' arithmetic) use Winograd
  F(2x2, 3x3) (:mod:`yt8m.features.winograd`), 2.25x fewer multiplications; conv2, with 64
  input channels, is faster direct. Its rounding error against a float64 reference is no
  larger than the direct convolution's.
* ``CONV_CHUNK`` and ``WINOGRAD_MIN_CHANNELS`` are tuned with ``benchmarks/vggish_tuning.py``:
  on a 2-core AVX-512 machine at batch 128, chunks of 8 with Winograd from 128 channels run
  at 1.21x TensorFlow, chunks of 16 at 1.13x, chunks of 32 at 0.89-0.96x, no Winograd at
  0.91-0.95x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from yt8m.features import winograd
from yt8m.features.cuda_float32 import ieee_float32

NUM_FRAMES = 96
NUM_BANDS = 64
EMBEDDING_SIZE = 128
CONV_CHUNK = 8
CONV1_CHUNK = 4
WINOGRAD_MIN_CHANNELS = 128


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1)


class _Pair(nn.Module):
    """A scope holding two layers, e.g. ``conv3/conv3_1`` and ``conv3/conv3_2`` (names only)."""

    def __init__(self, scope: str, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.add_module(f"{scope}_1", first)
        self.add_module(f"{scope}_2", second)

    @property
    def first(self) -> nn.Module:
        return next(iter(self.children()))

    @property
    def second(self) -> nn.Module:
        return list(self.children())[1]


class VGGish(nn.Module):
    """[N, 96, 64] log-mel examples -> [N, 128] embeddings (before any activation)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = _conv(1, 64)
        self.conv2 = _conv(64, 128)
        self.conv3 = _Pair("conv3", _conv(128, 256), _conv(256, 256))
        self.conv4 = _Pair("conv4", _conv(256, 512), _conv(512, 512))
        self.fc1 = _Pair("fc1", nn.Linear(6 * 4 * 512, 4096), nn.Linear(4096, 4096))
        self.fc2 = nn.Linear(4096, EMBEDDING_SIZE)
        self._kernels: dict[int, tuple[tuple[object, ...], torch.Tensor]] = {}
        self.register_load_state_dict_post_hook(lambda module, _keys: module.clear_kernel_cache())

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        if examples.ndim != 3 or tuple(examples.shape[1:]) != (NUM_FRAMES, NUM_BANDS):
            raise ValueError(f"expected log-mel examples [N, {NUM_FRAMES}, {NUM_BANDS}], got "
                             f"{tuple(examples.shape)}")
        chunk = CONV_CHUNK if examples.device.type == "cpu" else max(len(examples), 1)
        with ieee_float32(examples):
            if len(examples) <= chunk:
                x = self._convolutions(examples)
            else:
                x = torch.cat([self._convolutions(examples[i:i + chunk])
                               for i in range(0, len(examples), chunk)])
            x = self.fc1.first(x).relu_()                        # N x 4096
            x = self.fc1.second(x).relu_()                       # N x 4096
            return self.fc2(x)                                   # N x 128, no activation

    def _conv1(self, examples: torch.Tensor) -> torch.Tensor:
        x = examples[:, None].contiguous(memory_format=torch.channels_last)  # N x 1 x 96 x 64
        return F.max_pool2d(self.conv1(x), 2).relu_()             # N x 64 x 48 x 32

    def _convolutions(self, examples: torch.Tensor) -> torch.Tensor:
        """Log-mel examples [n, 96, 64] -> flattened ``pool4`` [n, 12288] in (h, w, c) order."""
        if examples.device.type == "cpu" and len(examples) > CONV1_CHUNK:
            x = torch.cat([self._conv1(examples[i:i + CONV1_CHUNK])
                           for i in range(0, len(examples), CONV1_CHUNK)])
        else:
            x = self._conv1(examples)
        x = self._conv_relu(self.conv2, x, pool=True)            # N x 128 x 24 x 16
        x = self._conv_relu(self.conv3.first, x)                 # N x 256 x 24 x 16
        x = self._conv_relu(self.conv3.second, x, pool=True)     # N x 256 x 12 x 8
        x = self._conv_relu(self.conv4.first, x)                 # N x 512 x 12 x 8
        x = self._conv_relu(self.conv4.second, x, pool=True)     # N x 512 x 6 x 4
        return x.permute(0, 2, 3, 1).flatten(1)                  # N x 12288, (h, w, c) as in TF

    def _conv_relu(self, conv: nn.Conv2d, x: torch.Tensor, *, pool: bool = False) -> torch.Tensor:
        """``relu(conv(x))``, 2x2 max-pooled when ``pool``: Winograd where it is faster."""
        if (x.device.type == "cpu" and x.dtype == torch.float32
                and conv.in_channels >= WINOGRAD_MIN_CHANNELS):
            return winograd.conv3x3_relu(x, self._winograd_kernels(conv), conv.bias, pool=pool)
        x = conv(x)
        return (F.max_pool2d(x, 2) if pool else x).relu_()

    def _winograd_kernels(self, conv: nn.Conv2d) -> torch.Tensor:
        """The layer's transformed kernels, recomputed whenever its weight changes.

        A change is seen through the weight's storage and version counter, and
        ``load_state_dict`` clears the cache. Weights created under ``torch.inference_mode``
        have no version counter: changing those in place by hand (not through
        ``load_state_dict``) needs :meth:`clear_kernel_cache`.
        """
        weight = conv.weight
        version = None if weight.is_inference() else weight._version
        key = (weight.data_ptr(), version, weight.dtype, weight.device)
        cached = self._kernels.get(id(conv))
        if cached is None or cached[0] != key:
            with torch.no_grad():
                cached = (key, winograd.transform_kernel(weight.detach()))
            self._kernels[id(conv)] = cached
        return cached[1]

    def clear_kernel_cache(self) -> None:
        """Forget the transformed Winograd kernels (they are rebuilt on the next call)."""
        self._kernels.clear()


def vggish(*, weights: object | None = None, device: torch.device | str = "cpu", fetch: bool = True,
           mirror: str | None = None) -> VGGish:
    """Build VGGish with the official weights (default ``load("vggish")``, fetched from
    ``mirror`` when given), in eval mode."""
    from yt8m.weights.store import Weights, load

    w = load("vggish", fetch=fetch, mirror=mirror) if weights is None else weights
    assert isinstance(w, Weights)
    model = VGGish()
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in w.tensors.items()}, strict=True)
    # Channels-last convolutions are about 1.2x faster on CPU (oneDNN's native layout).
    return model.eval().to(device, memory_format=torch.channels_last)
