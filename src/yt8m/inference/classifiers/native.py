"""The YouTube-8M starter code's model families, in PyTorch, for inference.

Definitions follow the starter code (github.com/google/youtube-8m): ``train.py`` feeds
every model ``tf.nn.l2_normalize(model_input_raw, last axis)``, i.e. each frame (or the
video-level mean vector) scaled to unit L2 norm, ``x * rsqrt(max(sum(x^2), 1e-12))``.
Then, from ``video_level_models.py`` and ``frame_level_models.py``:

* ``logistic`` (``LogisticModel``, video level): ``sigmoid(x W + b)``.
* ``moe`` (``MoeModel``, video level): per class, a softmax over ``num_mixtures + 1``
  gate logits (``gates``, no bias) whose last entry is a dummy expert that always says
  0; ``p = sum_m softmax(g)_m * sigmoid(e_m)`` over the first ``num_mixtures`` experts
  (``experts``, with bias). Gate and expert columns are grouped by class
  (``reshape([-1, num_mixtures + 1])`` of a [batch, classes * (m + 1)] matrix).
* ``frame_logistic`` (``FrameLevelLogisticModel``): the normalised frames summed and
  divided by ``num_frames``, then ``sigmoid(x W + b)``.
* ``dbof`` (``DbofModel``): normalised frames -> ``input_bn`` -> ``cluster_weights``
  -> ``cluster_bn`` (or ``+ cluster_biases``) -> relu6 -> max (or average) pooling
  over frames -> ``hidden1_weights`` -> ``hidden1_bn`` (or ``+ hidden1_biases``) ->
  relu6 -> a video-level classifier (MoE by default). Batch norm is slim's inference
  form, ``x * inv + (beta - moving_mean * inv)`` with ``inv = gamma *
  rsqrt(moving_variance + 0.001)``.
* ``lstm`` (``LstmModel``): normalised frames through ``lstm_layers`` stacked
  ``BasicLSTMCell`` s (forget bias 1.0, gates ``i, j, f, o`` from one kernel over
  ``[input, h]``), run to each video's ``num_frames``; the last layer's final ``h``
  goes to a video-level classifier.

Video-level families applied to frames first average the valid rows (as the dataset's
``mean_rgb``/``mean_audio`` are averages of the frame features), then normalise.

Where the starter code is random at inference, these models are deterministic: DBoF
samples ``iterations`` random frames even when evaluating; here it pools over every
valid frame. Padding rows (at or beyond ``num_frames``) never count.

Tensor names are the starter code's scopes with ``/`` written as ``.``
(``tower/input_bn/moving_mean`` is ``input_bn.moving_mean``; a DBoF or LSTM head's
``tower/gates/weights`` is ``classifier.gates.weights``; LSTM layer k's
``tower/rnn/multi_rnn_cell/cell_k/basic_lstm_cell/kernel`` is ``cells.k.kernel``).
Dense weights are stored [in, out] as in TensorFlow.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from yt8m.errors import InputError
from yt8m.inference.classifiers.base import FEATURE_SIZE, Classifier, InputLevel, check_batch, check_spans

Family = Literal["logistic", "moe", "frame_logistic", "dbof", "lstm"]
VideoClassifier = Literal["moe", "logistic"]
Pooling = Literal["max", "average"]

L2_EPSILON = 1e-12
BATCH_NORM_EPSILON = 1e-3
LSTM_FORGET_BIAS = 1.0


def l2_normalize(x: Tensor) -> Tensor:
    """``tf.nn.l2_normalize`` over the last axis."""
    return x * torch.rsqrt(torch.clamp((x * x).sum(-1, keepdim=True), min=L2_EPSILON))


def valid_mask(num_frames: Tensor, frames: int) -> Tensor:
    """[batch, frames] booleans: True for rows below each ``num_frames``."""
    return torch.arange(frames, device=num_frames.device)[None, :] < num_frames[:, None]


def _normal(shape: tuple[int, ...], std: float, generator: torch.Generator) -> nn.Parameter:
    return nn.Parameter(torch.randn(shape, generator=generator) * std, requires_grad=False)


def _zeros(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.zeros(shape), requires_grad=False)


class Dense(nn.Module):
    """``slim.fully_connected`` without activation: ``x @ weights (+ biases)``."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool, generator: torch.Generator) -> None:
        super().__init__()
        self.weights = _normal((in_features, out_features), 1 / math.sqrt(in_features), generator)
        self.biases = _zeros(out_features) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = x @ self.weights
        return y + self.biases if self.biases is not None else y


class BatchNorm(nn.Module):
    """``slim.batch_norm(center=True, scale=True)`` at inference (moving statistics)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.beta = _zeros(size)
        self.gamma = nn.Parameter(torch.ones(size), requires_grad=False)
        self.moving_mean = _zeros(size)
        self.moving_variance = nn.Parameter(torch.ones(size), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        inv = torch.rsqrt(self.moving_variance + BATCH_NORM_EPSILON) * self.gamma
        return x * inv + (self.beta - self.moving_mean * inv)


class LogisticHead(nn.Module):
    """``LogisticModel``: ``sigmoid(x W + b)`` (scope ``fully_connected``)."""

    def __init__(self, in_features: int, num_classes: int, *, generator: torch.Generator) -> None:
        super().__init__()
        self.fully_connected = Dense(in_features, num_classes, bias=True, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.fully_connected(x))


class MoeHead(nn.Module):
    """``MoeModel``: a per-class softmax gate over logistic experts plus a dummy 0 expert."""

    def __init__(self, in_features: int, num_classes: int, *, num_mixtures: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        if num_mixtures < 1:
            raise ValueError(f"num_mixtures ({num_mixtures}) must be >= 1")
        self.num_classes = num_classes
        self.num_mixtures = num_mixtures
        self.gates = Dense(in_features, num_classes * (num_mixtures + 1), bias=False, generator=generator)
        self.experts = Dense(in_features, num_classes * num_mixtures, bias=True, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        m = self.num_mixtures
        gating = torch.softmax(self.gates(x).reshape(-1, m + 1), dim=1)  # (batch * classes) x (m + 1)
        experts = torch.sigmoid(self.experts(x).reshape(-1, m))  # (batch * classes) x m
        return (gating[:, :m] * experts).sum(1).reshape(-1, self.num_classes)


def video_classifier(kind: VideoClassifier, in_features: int, num_classes: int, *, num_mixtures: int,
                     generator: torch.Generator) -> nn.Module:
    """The video-level classifier a frame-level family ends with."""
    if kind == "moe":
        return MoeHead(in_features, num_classes, num_mixtures=num_mixtures, generator=generator)
    if kind == "logistic":
        return LogisticHead(in_features, num_classes, generator=generator)
    raise ValueError(f"Invalid classifier ({kind!r}). Supported values are 'moe', 'logistic'.")


class NativeModel(nn.Module):
    """A starter-code family split into a per-frame encoder and a per-video head.

    ``forward(features, num_frames) == head(encode_frames(features), num_frames)``;
    :meth:`encode_frames` treats every row on its own, so overlapping windows can share it.
    """

    family: ClassVar[Family]
    input_level: ClassVar[InputLevel]

    def __init__(self, *, num_classes: int, feature_size: int, options: dict[str, Any]) -> None:
        super().__init__()
        if num_classes < 1 or feature_size < 1:
            raise ValueError(f"num_classes ({num_classes}) and feature_size ({feature_size}) must be >= 1")
        self.num_classes = num_classes
        self.feature_size = feature_size
        self.options = options

    def config(self) -> dict[str, Any]:
        """The JSON config that rebuilds this model (see :func:`build_model`)."""
        return {"family": self.family, "num_classes": self.num_classes, "feature_size": self.feature_size,
                **self.options}

    def encode_frames(self, x: Tensor) -> Tensor:
        """Per-row encoding [..., feature_size] -> [..., hidden]."""
        return l2_normalize(x)

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Scores [batch, classes] from encoded rows [batch, frames, hidden]; padding ignored."""
        raise NotImplementedError

    def forward(self, features: Tensor, num_frames: Tensor) -> Tensor:
        return self.head(self.encode_frames(features), num_frames)


def _masked_mean(x: Tensor, num_frames: Tensor) -> Tensor:
    mask = valid_mask(num_frames, x.shape[1]).to(x.dtype)
    return (x * mask[..., None]).sum(1) / num_frames.to(x.dtype)[:, None]


class VideoLevelModel(NativeModel):
    """``LogisticModel`` or ``MoeModel`` over the mean of the valid rows, L2-normalised."""

    input_level = "video"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, num_mixtures: int | None,
                 seed: int = 0) -> None:
        options = {} if num_mixtures is None else {"num_mixtures": num_mixtures}
        super().__init__(num_classes=num_classes, feature_size=feature_size, options=options)
        g = torch.Generator().manual_seed(seed)
        self.classifier = (LogisticHead(feature_size, num_classes, generator=g) if num_mixtures is None
                           else MoeHead(feature_size, num_classes, num_mixtures=num_mixtures, generator=g))

    def encode_frames(self, x: Tensor) -> Tensor:
        return x  # the mean is taken over raw rows, as the dataset's mean_rgb and mean_audio are

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        return self.classifier(l2_normalize(_masked_mean(encoded, num_frames)))


class LogisticModel(VideoLevelModel):
    family = "logistic"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, seed: int = 0) -> None:
        super().__init__(num_classes=num_classes, feature_size=feature_size, num_mixtures=None, seed=seed)


class MoeModel(VideoLevelModel):
    family = "moe"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, num_mixtures: int = 2,
                 seed: int = 0) -> None:
        super().__init__(num_classes=num_classes, feature_size=feature_size, num_mixtures=num_mixtures, seed=seed)


class FrameLevelLogisticModel(NativeModel):
    """``FrameLevelLogisticModel``: mean of the normalised frames, then logistic."""

    family = "frame_logistic"
    input_level = "frame"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, seed: int = 0) -> None:
        super().__init__(num_classes=num_classes, feature_size=feature_size, options={})
        self.classifier = LogisticHead(feature_size, num_classes, generator=torch.Generator().manual_seed(seed))

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        return self.classifier(_masked_mean(encoded, num_frames))


class DbofModel(NativeModel):
    """``DbofModel``: a per-frame cluster layer, pooled over frames, a hidden layer, a classifier."""

    family = "dbof"
    input_level = "frame"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, cluster_size: int = 8192,
                 hidden_size: int = 1024, add_batch_norm: bool = True, pooling: Pooling = "max",
                 classifier: VideoClassifier = "moe", num_mixtures: int = 2, seed: int = 0) -> None:
        if pooling not in ("max", "average"):
            raise ValueError(f"Invalid pooling ({pooling!r}). Supported values are 'max', 'average'.")
        super().__init__(num_classes=num_classes, feature_size=feature_size, options={
            "cluster_size": cluster_size, "hidden_size": hidden_size, "add_batch_norm": add_batch_norm,
            "pooling": pooling, "classifier": classifier, "num_mixtures": num_mixtures})
        g = torch.Generator().manual_seed(seed)
        self.add_batch_norm = add_batch_norm
        self.pooling = pooling
        self.cluster_weights = _normal((feature_size, cluster_size), 1 / math.sqrt(feature_size), g)
        self.hidden1_weights = _normal((cluster_size, hidden_size), 1 / math.sqrt(cluster_size), g)
        if add_batch_norm:
            self.input_bn = BatchNorm(feature_size)
            self.cluster_bn = BatchNorm(cluster_size)
            self.hidden1_bn = BatchNorm(hidden_size)
        else:
            self.cluster_biases = _normal((cluster_size,), 1 / math.sqrt(feature_size), g)
            self.hidden1_biases = _normal((hidden_size,), 0.01, g)
        self.classifier = video_classifier(classifier, hidden_size, num_classes, num_mixtures=num_mixtures,
                                           generator=g)

    def encode_frames(self, x: Tensor) -> Tensor:
        x = l2_normalize(x)
        if self.add_batch_norm:
            x = self.input_bn(x)
        activation = x @ self.cluster_weights
        activation = self.cluster_bn(activation) if self.add_batch_norm else activation + self.cluster_biases
        return torch.clamp(activation, 0.0, 6.0)  # relu6

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        if self.pooling == "max":
            if bool((num_frames == encoded.shape[1]).all()):  # no padding (every window of a dataset run)
                pooled = encoded.amax(1)
            else:
                mask = valid_mask(num_frames, encoded.shape[1])
                pooled = encoded.masked_fill(~mask[..., None], -math.inf).amax(1)
        else:
            pooled = _masked_mean(encoded, num_frames)
        activation = pooled @ self.hidden1_weights
        activation = self.hidden1_bn(activation) if self.add_batch_norm else activation + self.hidden1_biases
        return self.classifier(torch.clamp(activation, 0.0, 6.0))


class BasicLstmCell(nn.Module):
    """``tf.contrib.rnn.BasicLSTMCell``: ``kernel`` [in + h, 4h] and ``bias`` [4h], gates i, j, f, o."""

    def __init__(self, in_features: int, units: int, *, generator: torch.Generator) -> None:
        super().__init__()
        bound = 1 / math.sqrt(units)
        self.units = units
        self.kernel = nn.Parameter((torch.rand((in_features + units, 4 * units), generator=generator) * 2 - 1)
                                   * bound, requires_grad=False)
        self.bias = _zeros(4 * units)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        i, j, f, o = (torch.cat([x, h], 1) @ self.kernel + self.bias).chunk(4, dim=1)
        new_c = c * torch.sigmoid(f + LSTM_FORGET_BIAS) + torch.sigmoid(i) * torch.tanh(j)
        return torch.tanh(new_c) * torch.sigmoid(o), new_c


class LstmModel(NativeModel):
    """``LstmModel``: stacked LSTMs run to ``num_frames``; the last layer's final h is classified."""

    family = "lstm"
    input_level = "frame"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, lstm_cells: int = 1024,
                 lstm_layers: int = 2, classifier: VideoClassifier = "moe", num_mixtures: int = 2,
                 seed: int = 0) -> None:
        if lstm_layers < 1:
            raise ValueError(f"lstm_layers ({lstm_layers}) must be >= 1")
        super().__init__(num_classes=num_classes, feature_size=feature_size, options={
            "lstm_cells": lstm_cells, "lstm_layers": lstm_layers, "classifier": classifier,
            "num_mixtures": num_mixtures})
        g = torch.Generator().manual_seed(seed)
        self.cells = nn.ModuleList(BasicLstmCell(feature_size if k == 0 else lstm_cells, lstm_cells, generator=g)
                                   for k in range(lstm_layers))
        self.classifier = video_classifier(classifier, lstm_cells, num_classes, num_mixtures=num_mixtures,
                                           generator=g)

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        batch, frames = encoded.shape[:2]
        states = [(encoded.new_zeros(batch, cell.units), encoded.new_zeros(batch, cell.units))
                  for cell in self.cells]
        steps = int(num_frames.max()) if batch else 0
        for t in range(min(frames, steps)):
            alive = (t < num_frames)[:, None]  # dynamic_rnn copies the state through past the end
            x = encoded[:, t]
            for k, cell in enumerate(self.cells):
                h, c = states[k]
                new_h, new_c = cell(x, h, c)
                states[k] = (torch.where(alive, new_h, h), torch.where(alive, new_c, c))
                x = new_h
        return self.classifier(states[-1][0])


FAMILIES: dict[str, type[NativeModel]] = {
    cls.family: cls for cls in (LogisticModel, MoeModel, FrameLevelLogisticModel, DbofModel, LstmModel)}


def build_model(family: str, *, num_classes: int, feature_size: int = FEATURE_SIZE, seed: int = 0,
                **options: Any) -> NativeModel:
    """Return a randomly initialised model of ``family`` (see the module docstring).

    ``options`` are the family's hyper-parameters (e.g. ``cluster_size`` for ``dbof``);
    an unknown family or option raises ``ValueError`` naming the allowed ones.
    """
    if family not in FAMILIES:
        raise ValueError(f"Invalid model family ({family!r}). Supported values are {', '.join(FAMILIES)}.")
    cls = FAMILIES[family]
    try:
        return cls(num_classes=num_classes, feature_size=feature_size, seed=seed, **options)
    except TypeError as exc:
        raise ValueError(f"bad options for model family {family!r}: {exc}") from None


class NativeClassifier(Classifier):
    """A :class:`NativeModel` on a device, behind the :class:`Classifier` interface."""

    def __init__(self, model: NativeModel, *, device: str | torch.device = "cpu", path: str | None = None,
                 chunk_elements: int = 1 << 25) -> None:
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise InputError(f"Invalid device ({device!r}). Supported values are cpu, cuda, cuda:N, mps.") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"device {device!r} was asked for, but PyTorch sees no CUDA device here")
        self.model = model.eval().to(self.device)
        self.num_classes = model.num_classes
        self.input_level = model.input_level
        self.path = path
        self.chunk_elements = chunk_elements  #: bound on encoded values gathered at once

    def describe(self) -> dict[str, Any]:
        return {"kind": "native", "path": self.path, "num_classes": self.num_classes, **self.model.config()}

    def _tensor(self, array: npt.NDArray[Any]) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    @torch.inference_mode()
    def predict(self, features: npt.ArrayLike, num_frames: npt.ArrayLike) -> npt.NDArray[np.float32]:
        x, n = check_batch(features, num_frames, feature_size=self.model.feature_size)
        if x.shape[0] == 0:
            return np.zeros((0, self.num_classes), np.float32)
        return self.model(self._tensor(x), self._tensor(n)).float().cpu().numpy()

    @torch.inference_mode()
    def predict_spans(self, frames: npt.ArrayLike, starts: npt.ArrayLike, lengths: npt.ArrayLike, *,
                      width: int | None = None, batch_frames: int = 16384) -> npt.NDArray[np.float32]:
        """As :meth:`Classifier.predict_spans`, encoding every row once for all spans."""
        rows = np.asarray(frames, dtype=np.float32)
        s = np.asarray(starts, dtype=np.int64).reshape(-1)
        n = np.asarray(lengths, dtype=np.int64).reshape(-1)
        check_spans(rows, s, n)
        if rows.shape[1] != self.model.feature_size:
            raise ValueError(f"frames must have {self.model.feature_size} features, got {rows.shape[1]}")
        if s.size == 0:
            return np.zeros((0, self.num_classes), np.float32)
        width = int(n.max()) if width is None else width
        used = np.zeros(rows.shape[0], bool)
        for start, length in zip(s.tolist(), n.tolist()):
            used[start:start + length] = True
        # Encode only the rows some span uses; ``position`` maps a row to its encoded index.
        wanted = np.flatnonzero(used)
        position = np.cumsum(used) - 1
        encoded = torch.cat([self.model.encode_frames(self._tensor(rows[wanted[i:i + batch_frames]]))
                             for i in range(0, wanted.size, batch_frames)])
        hidden = encoded.shape[1]
        step = max(1, self.chunk_elements // (width * hidden))
        offsets = np.arange(width, dtype=np.int64)
        out = []
        for i in range(0, s.size, step):
            rows_index = np.minimum(s[i:i + step, None] + offsets[None, :], rows.shape[0] - 1)
            index = self._tensor(position[rows_index].reshape(-1))
            gathered = encoded.index_select(0, index).reshape(-1, width, hidden)
            out.append(self.model.head(gathered, self._tensor(n[i:i + step])).float().cpu().numpy())
        return np.concatenate(out, axis=0)
