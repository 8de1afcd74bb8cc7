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
from yt8m.inference.classifiers.training_ops import matmul, moe_mixture

Family = Literal["logistic", "moe", "frame_logistic", "dbof", "lstm", "gated_netvlad", "nextvlad"]
InputFeatures = Literal["rgb", "audio", "rgb,audio"]
VideoClassifier = Literal["moe", "logistic", "gated_moe"]
Pooling = Literal["max", "average"]

L2_EPSILON = 1e-12
BATCH_NORM_EPSILON = 1e-3
LSTM_FORGET_BIAS = 1.0
#: ``slim.batch_norm``'s default moving-average decay (training only).
BATCH_NORM_DECAY = 0.999
RGB_SIZE = 1024
#: Column ranges of the features a model may be trained on, in the 1152 rgb+audio layout.
INPUT_COLUMNS = {"rgb": (0, RGB_SIZE), "audio": (RGB_SIZE, FEATURE_SIZE)}


def l2_normalize(x: Tensor) -> Tensor:
    """``tf.nn.l2_normalize`` over the last axis.

    While training, rows that need no gradient (the input frames) take their sum of squares
    as the square of ``vector_norm`` (one pass over them, no [..., D] temporary; equal to
    the sum of squares within float32 rounding).
    """
    if torch.is_grad_enabled() and not x.requires_grad and x.device.type == "cpu" and x.numel():
        squares = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_()
    else:
        squares = (x * x).sum(-1, keepdim=True)
    return x * torch.rsqrt(torch.clamp(squares, min=L2_EPSILON))


def valid_mask(num_frames: Tensor, frames: int) -> Tensor:
    """[batch, frames] booleans: True for rows below each ``num_frames``."""
    return torch.arange(frames, device=num_frames.device)[None, :] < num_frames[:, None]


def _normal(shape: tuple[int, ...], std: float, generator: torch.Generator) -> nn.Parameter:
    return nn.Parameter(torch.randn(shape, generator=generator) * std, requires_grad=False)


def _zeros(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.zeros(shape), requires_grad=False)


class Dense(nn.Module):
    """``slim.fully_connected`` without activation: ``x @ weights (+ biases)``."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.weights = _normal((in_features, out_features), 1 / math.sqrt(in_features), generator)
        self.biases = _zeros(out_features) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        y = matmul(x, self.weights)
        return y + self.biases if self.biases is not None else y


class BatchNorm(nn.Module):
    """``slim.batch_norm(center=True, scale=True)``.

    At inference (``eval()``) it uses the moving statistics. In training mode it
    normalises with the batch's mean and (biased) variance over every axis but the last,
    as ``tf.nn.moments`` does, and moves ``moving_mean``/``moving_variance`` towards them
    by ``1 - decay`` (slim's ``assign_moving_average`` without debiasing).
    """

    decay: float = BATCH_NORM_DECAY

    def __init__(self, size: int) -> None:
        super().__init__()
        self.beta = _zeros(size)
        self.gamma = nn.Parameter(torch.ones(size), requires_grad=False)
        self.moving_mean = _zeros(size)
        self.moving_variance = nn.Parameter(torch.ones(size), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            flat = x.reshape(-1, x.shape[-1]).float()
            mean = flat.mean(0)
            variance = (flat - mean).square().mean(0)
            with torch.no_grad():
                self.moving_mean.sub_((self.moving_mean - mean) * (1 - self.decay))
                self.moving_variance.sub_((self.moving_variance - variance) * (1 - self.decay))
            inv = torch.rsqrt(variance + BATCH_NORM_EPSILON) * self.gamma
            return (x * inv + (self.beta - mean * inv)).to(x.dtype)
        inv = torch.rsqrt(self.moving_variance + BATCH_NORM_EPSILON) * self.gamma
        return x * inv + (self.beta - self.moving_mean * inv)


class LogisticHead(nn.Module):
    """``LogisticModel``: ``sigmoid(x W + b)`` (scope ``fully_connected``)."""

    def __init__(self, in_features: int, num_classes: int, *, generator: torch.Generator) -> None:
        super().__init__()
        self.fully_connected = Dense(in_features, num_classes, bias=True, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.fully_connected(x))

    def regularized_weights(self) -> list[Tensor]:
        """The tensors the starter code gives ``slim.l2_regularizer(l2_penalty)``."""
        return [self.fully_connected.weights]


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
        return moe_mixture(self.gates(x), self.experts(x), self.num_mixtures).reshape(-1, self.num_classes)

    def regularized_weights(self) -> list[Tensor]:
        """The tensors the starter code gives ``slim.l2_regularizer(l2_penalty)`` (weights, not biases)."""
        return [self.gates.weights, self.experts.weights]


class GatedMoeHead(MoeHead):
    """WILLOW's ``MoeModel`` with ``--moe_prob_gating`` (input ``prob``): context gating of the scores.

    ``p * sigmoid(gating_prob_bn(p @ gating_prob_weights))`` where ``p`` is the MoE's output
    and ``gating_prob_weights`` is [classes, classes].
    """

    def __init__(self, in_features: int, num_classes: int, *, num_mixtures: int,
                 generator: torch.Generator) -> None:
        super().__init__(in_features, num_classes, num_mixtures=num_mixtures, generator=generator)
        self.gating_prob_weights = _normal((num_classes, num_classes), 1 / math.sqrt(num_classes), generator)
        self.gating_prob_bn = BatchNorm(num_classes)

    def forward(self, x: Tensor) -> Tensor:
        p = super().forward(x)
        return p * torch.sigmoid(self.gating_prob_bn(matmul(p, self.gating_prob_weights)))


def video_classifier(kind: VideoClassifier, in_features: int, num_classes: int, *, num_mixtures: int,
                     generator: torch.Generator) -> nn.Module:
    """The video-level classifier a frame-level family ends with."""
    if kind == "gated_moe":
        return GatedMoeHead(in_features, num_classes, num_mixtures=num_mixtures, generator=generator)
    if kind == "moe":
        return MoeHead(in_features, num_classes, num_mixtures=num_mixtures, generator=generator)
    if kind == "logistic":
        return LogisticHead(in_features, num_classes, generator=generator)
    raise ValueError(f"Invalid classifier ({kind!r}). Supported values are 'moe', 'logistic', 'gated_moe'.")


class NativeModel(nn.Module):
    """A starter-code family split into a per-frame encoder and a per-video head.

    ``forward(features, num_frames) == head(encode_frames(select(features)), num_frames)``;
    :meth:`encode_frames` treats every row on its own, so overlapping windows can share it.

    ``input_features`` ("rgb" or "audio"; default: every column) is the part of the
    1152-wide rgb+audio rows the model was trained on; :meth:`select` cuts it out, so
    such a model still takes the full rows that ``predict`` and ``eval`` feed it.
    In training mode (``train()``), families that sample frames (DBoF, NetVLAD) do so in
    :meth:`forward_selected`, with the global torch RNG.
    """

    family: ClassVar[Family]
    input_level: ClassVar[InputLevel]

    def __init__(self, *, num_classes: int, feature_size: int, options: dict[str, Any],
                 input_features: InputFeatures | None = None) -> None:
        super().__init__()
        if num_classes < 1 or feature_size < 1:
            raise ValueError(f"num_classes ({num_classes}) and feature_size ({feature_size}) must be >= 1")
        if input_features == "rgb,audio":
            input_features = None
        if input_features is not None:
            if input_features not in INPUT_COLUMNS:
                raise ValueError(f"Invalid input_features ({input_features!r}). Supported values are "
                                 f"'rgb', 'audio', 'rgb,audio'.")
            start, stop = INPUT_COLUMNS[input_features]
            if feature_size != stop - start:
                raise ValueError(f"input_features {input_features!r} needs feature_size {stop - start}, "
                                 f"got {feature_size}")
            options = {**options, "input_features": input_features}
        self.num_classes = num_classes
        self.feature_size = feature_size
        self.input_features = input_features
        self.input_size = feature_size if input_features is None else FEATURE_SIZE
        self.options = options

    def config(self) -> dict[str, Any]:
        """The JSON config that rebuilds this model (see :func:`build_model`)."""
        return {"family": self.family, "num_classes": self.num_classes, "feature_size": self.feature_size,
                **self.options}

    def select(self, x: Tensor) -> Tensor:
        """The model's columns of full rows [..., input_size] -> [..., feature_size]."""
        if self.input_features is None:
            return x
        start, stop = INPUT_COLUMNS[self.input_features]
        return x[..., start:stop]

    def encode_frames(self, x: Tensor) -> Tensor:
        """Per-row encoding [..., feature_size] -> [..., hidden]."""
        return l2_normalize(x)

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Scores [batch, classes] from encoded rows [batch, frames, hidden]; padding ignored."""
        raise NotImplementedError

    def sample_frames(self, x: Tensor, num_frames: Tensor) -> tuple[Tensor, Tensor]:
        """Frames the family trains on (default: all of them)."""
        return x, num_frames

    def forward_selected(self, x: Tensor, num_frames: Tensor) -> Tensor:
        """Scores of rows already cut to the model's ``feature_size`` columns."""
        if self.training:
            x, num_frames = self.sample_frames(x, num_frames)
        return self.head(self.encode_frames(x), num_frames)

    def forward(self, features: Tensor, num_frames: Tensor) -> Tensor:
        return self.forward_selected(self.select(features), num_frames)

    def regularized_weights(self) -> list[Tensor]:
        """Tensors under the starter code's ``slim.l2_regularizer`` (those of the video-level classifier)."""
        classifier = getattr(self, "classifier", None)
        return classifier.regularized_weights() if classifier is not None else []

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Every tensor the optimiser updates: all but batch norm's moving statistics."""
        return [(k, p) for k, p in self.named_parameters()
                if not k.endswith(("moving_mean", "moving_variance"))]


def sample_random_frames(x: Tensor, num_frames: Tensor, samples: int) -> tuple[Tensor, Tensor]:
    """``SampleRandomFrames``: ``samples`` frames per video drawn uniformly (with replacement)."""
    index = (torch.rand(x.shape[0], samples, device=x.device) * num_frames[:, None].to(torch.float32)).long()
    index = torch.minimum(index, (num_frames[:, None] - 1).long())
    picked = torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[2]))
    return picked, torch.full_like(num_frames, samples)


def sample_random_sequence(x: Tensor, num_frames: Tensor, samples: int) -> tuple[Tensor, Tensor]:
    """``SampleRandomSequence``: ``samples`` consecutive frames from a random start (the last repeats)."""
    n = num_frames[:, None].long()
    start = (torch.rand(x.shape[0], 1, device=x.device) * (torch.clamp(n - samples, min=0) + 1)).long()
    index = torch.minimum(start + torch.arange(samples, device=x.device)[None, :], n - 1)
    picked = torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[2]))
    return picked, torch.full_like(num_frames, samples)


def _masked_mean(x: Tensor, num_frames: Tensor) -> Tensor:
    """The mean of each video's valid rows [batch, frames, D] -> [batch, D].

    While training (autograd on, CPU, no autocast) the masked sum is one batched product
    ``mask @ x``, which reads the rows once instead of writing a masked copy and summing it.
    """
    mask = valid_mask(num_frames, x.shape[1]).to(x.dtype)
    if (torch.is_grad_enabled() and x.device.type == "cpu" and x.numel()
            and not torch.is_autocast_enabled("cpu")):
        total = torch.bmm(mask[:, None, :], x)[:, 0]
    else:
        total = (x * mask[..., None]).sum(1)
    return total / num_frames.to(x.dtype)[:, None]


class VideoLevelModel(NativeModel):
    """``LogisticModel`` or ``MoeModel`` over the mean of the valid rows, L2-normalised."""

    input_level = "video"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, num_mixtures: int | None,
                 seed: int = 0, input_features: InputFeatures | None = None) -> None:
        options = {} if num_mixtures is None else {"num_mixtures": num_mixtures}
        super().__init__(num_classes=num_classes, feature_size=feature_size, options=options,
                         input_features=input_features)
        g = torch.Generator().manual_seed(seed)
        self.classifier = (LogisticHead(feature_size, num_classes, generator=g) if num_mixtures is None
                           else MoeHead(feature_size, num_classes, num_mixtures=num_mixtures, generator=g))

    def encode_frames(self, x: Tensor) -> Tensor:
        return x  # the mean is taken over raw rows, as the dataset's mean_rgb and mean_audio are

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        return self.classifier(l2_normalize(_masked_mean(encoded, num_frames)))


class LogisticModel(VideoLevelModel):
    family = "logistic"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, seed: int = 0,
                 input_features: InputFeatures | None = None) -> None:
        super().__init__(num_classes=num_classes, feature_size=feature_size, num_mixtures=None, seed=seed,
                         input_features=input_features)


class MoeModel(VideoLevelModel):
    family = "moe"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, num_mixtures: int = 2,
                 seed: int = 0, input_features: InputFeatures | None = None) -> None:
        super().__init__(num_classes=num_classes, feature_size=feature_size, num_mixtures=num_mixtures,
                         seed=seed,
                         input_features=input_features)


class FrameLevelLogisticModel(NativeModel):
    """``FrameLevelLogisticModel``: mean of the normalised frames, then logistic."""

    family = "frame_logistic"
    input_level = "frame"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, seed: int = 0,
                 input_features: InputFeatures | None = None) -> None:
        super().__init__(num_classes=num_classes, feature_size=feature_size, options={},
                         input_features=input_features)
        self.classifier = LogisticHead(feature_size, num_classes,
                                       generator=torch.Generator().manual_seed(seed))

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        return self.classifier(_masked_mean(encoded, num_frames))


class DbofModel(NativeModel):
    """``DbofModel``: a per-frame cluster layer, pooled over frames, a hidden layer, a classifier."""

    family = "dbof"
    input_level = "frame"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, cluster_size: int = 8192,
                 hidden_size: int = 1024, add_batch_norm: bool = True, pooling: Pooling = "max",
                 classifier: VideoClassifier = "moe", num_mixtures: int = 2, iterations: int = 30,
                 sample_random_frames: bool = True, seed: int = 0,
                 input_features: InputFeatures | None = None) -> None:
        if pooling not in ("max", "average"):
            raise ValueError(f"Invalid pooling ({pooling!r}). Supported values are 'max', 'average'.")
        if iterations < 1:
            raise ValueError(f"iterations ({iterations}) must be >= 1")
        super().__init__(num_classes=num_classes, feature_size=feature_size, options={
            "cluster_size": cluster_size, "hidden_size": hidden_size, "add_batch_norm": add_batch_norm,
            "pooling": pooling, "classifier": classifier, "num_mixtures": num_mixtures,
            "iterations": iterations,
            "sample_random_frames": sample_random_frames}, input_features=input_features)
        g = torch.Generator().manual_seed(seed)
        self.add_batch_norm = add_batch_norm
        self.pooling = pooling
        self.iterations = iterations
        self.random_frames = sample_random_frames
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

    def sample_frames(self, x: Tensor, num_frames: Tensor) -> tuple[Tensor, Tensor]:
        """DBoF trains on ``iterations`` random frames (or one random sequence) per video."""
        sample = sample_random_frames if self.random_frames else sample_random_sequence
        return sample(x, num_frames, self.iterations)

    def encode_frames(self, x: Tensor) -> Tensor:
        x = l2_normalize(x)
        if self.add_batch_norm:
            x = self.input_bn(x)
        activation = matmul(x, self.cluster_weights)
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
        activation = matmul(pooled, self.hidden1_weights)
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
        """One step: ``[x, h] @ kernel + bias`` split into gates i, j, f, o; the new h and c."""
        return self.step(self.project(x), h, c)

    def project(self, x: Tensor) -> Tensor:
        """The inputs' part of the gates, ``x @ kernel[:in] + bias``, for any number of steps at once."""
        return matmul(x, self.kernel[:-self.units]) + self.bias

    def step(self, projected: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """One step from the projected input (:meth:`project`): the new h and c."""
        i, j, f, o = (projected + matmul(h, self.kernel[-self.units:])).chunk(4, dim=1)
        new_c = c * torch.sigmoid(f + LSTM_FORGET_BIAS) + torch.sigmoid(i) * torch.tanh(j)
        return torch.tanh(new_c) * torch.sigmoid(o), new_c


class LstmModel(NativeModel):
    """``LstmModel``: stacked LSTMs run to ``num_frames``; the last layer's final h is classified."""

    family = "lstm"
    input_level = "frame"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, lstm_cells: int = 1024,
                 lstm_layers: int = 2, classifier: VideoClassifier = "moe", num_mixtures: int = 2,
                 seed: int = 0, input_features: InputFeatures | None = None) -> None:
        if lstm_layers < 1:
            raise ValueError(f"lstm_layers ({lstm_layers}) must be >= 1")
        super().__init__(num_classes=num_classes, feature_size=feature_size, options={
            "lstm_cells": lstm_cells, "lstm_layers": lstm_layers, "classifier": classifier,
            "num_mixtures": num_mixtures}, input_features=input_features)
        g = torch.Generator().manual_seed(seed)
        self.cells = nn.ModuleList(BasicLstmCell(feature_size if k == 0 else lstm_cells,
                                                 lstm_cells, generator=g)
                                   for k in range(lstm_layers))
        self.classifier = video_classifier(classifier, lstm_cells, num_classes, num_mixtures=num_mixtures,
                                           generator=g)

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        """``dynamic_rnn`` of the stacked cells, layer by layer, each layer's input projection of every
        step in one product; a video's state is copied through once its frames end."""
        batch, frames = encoded.shape[:2]
        steps = min(frames, int(num_frames.max())) if batch else 0
        running = min(steps, int(num_frames.min())) if batch else 0  # steps where no video has ended
        inputs = encoded[:, :steps]
        if steps == 0:  # no frames: every state stays zero
            return self.classifier(encoded.new_zeros(batch, self.cells[-1].units))
        for cell in self.cells:
            projected = cell.project(inputs)
            h = c = encoded.new_zeros(batch, cell.units)
            outputs = []
            for t in range(steps):
                new_h, new_c = cell.step(projected[:, t], h, c)
                outputs.append(new_h)  # the next layer takes new_h, as MultiRNNCell passes it up
                if t < running:
                    h, c = new_h, new_c
                else:
                    alive = (t < num_frames)[:, None]
                    h, c = torch.where(alive, new_h, h), torch.where(alive, new_c, c)
            inputs = torch.stack(outputs, 1)
        return self.classifier(h)


def _masked_assignments(assignments: Tensor, num_frames: Tensor) -> Tensor:
    """Zero the soft assignments [batch, frames, ...] of padding rows."""
    mask = valid_mask(num_frames, assignments.shape[1]).to(assignments.dtype)
    return assignments * mask.reshape(*mask.shape, *([1] * (assignments.dim() - 2)))


def _check_split(feature_size: int, rgb_size: int) -> None:
    if not 0 < rgb_size < feature_size:
        raise ValueError(f"rgb_size ({rgb_size}) must split feature_size ({feature_size}) into rgb and "
                         f"audio; this family needs both")


class NetVlad(nn.Module):
    """WILLOW's ``NetVLAD`` of one modality (scope ``video_VLAD`` or ``audio_VLAD``).

    Per frame: ``a = softmax(cluster_bn(x @ cluster_weights))`` [clusters]; per video:
    ``v[f, k] = sum_t a[t, k] x[t, f] - cluster_weights2[f, k] * sum_t a[t, k]``, each
    cluster's column L2-normalised, flattened feature-major to [features * clusters], and
    L2-normalised again.
    """

    def __init__(self, feature_size: int, cluster_size: int, *, generator: torch.Generator) -> None:
        super().__init__()
        self.feature_size = feature_size
        self.cluster_size = cluster_size
        self.cluster_weights = _normal((feature_size, cluster_size), 1 / math.sqrt(feature_size), generator)
        self.cluster_bn = BatchNorm(cluster_size)
        self.cluster_weights2 = _normal((1, feature_size, cluster_size),
                                        1 / math.sqrt(feature_size), generator)

    def assign(self, x: Tensor) -> Tensor:
        """Soft assignments [..., clusters] of frames [..., features]."""
        return torch.softmax(self.cluster_bn(matmul(x, self.cluster_weights)), dim=-1)

    def pool(self, x: Tensor, assignments: Tensor) -> Tensor:
        """VLAD [batch, features * clusters] of frames [batch, T, F] and (masked) assignments
        [batch, T, K]."""
        a = assignments.sum(1, keepdim=True) * self.cluster_weights2  # [B, F, K]
        vlad = x.transpose(1, 2) @ assignments - a
        vlad = vlad * torch.rsqrt(torch.clamp(vlad.square().sum(1, keepdim=True), min=L2_EPSILON))
        return l2_normalize(vlad.reshape(x.shape[0], -1))


class GatedNetVladModel(NativeModel):
    """WILLOW's ``NetVLADModelLF`` with ``--gating`` (Miech et al. 2017, the 2017 challenge winner).

    Frames (L2-normalised) -> ``input_bn`` -> a NetVLAD of the rgb columns (``cluster_size``
    clusters, scope ``video_VLAD``) and one of the audio columns (``cluster_size // 2``,
    ``audio_VLAD``), concatenated -> ``hidden1_weights`` + ``hidden1_biases`` (or
    ``hidden1_bn`` and relu6 with ``relu``) -> context gating ``h * sigmoid(gating_bn(h @
    gating_weights_2))`` -> a MoE whose scores are context-gated again (``gating_prob_weights``,
    ``gating_prob_bn``; WILLOW's ``--moe_prob_gating``), or a plain MoE/logistic head.
    Defaults are the published single best model (gatednetvladLF-256k-1024-80-0002-300iter-
    norelu-basic-gatedmoe): 256 clusters, hidden 1024, no relu, 2 mixtures, 300 random frames
    per video in training. At inference every valid frame counts (WILLOW samples 300).
    """

    family = "gated_netvlad"
    input_level = "frame"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, cluster_size: int = 256,
                 hidden_size: int = 1024, relu: bool = False, classifier: VideoClassifier = "gated_moe",
                 num_mixtures: int = 2, iterations: int = 300, sample_random_frames: bool = True,
                 rgb_size: int = RGB_SIZE, seed: int = 0,
                 input_features: InputFeatures | None = None) -> None:
        _check_split(feature_size, rgb_size)
        if cluster_size < 2 or hidden_size < 1 or iterations < 1:
            raise ValueError("cluster_size must be >= 2, hidden_size and iterations >= 1")
        super().__init__(num_classes=num_classes, feature_size=feature_size, options={
            "cluster_size": cluster_size, "hidden_size": hidden_size, "relu": relu, "classifier": classifier,
            "num_mixtures": num_mixtures, "iterations": iterations,
            "sample_random_frames": sample_random_frames,
            "rgb_size": rgb_size}, input_features=input_features)
        g = torch.Generator().manual_seed(seed)
        self.rgb_size = rgb_size
        self.relu = relu
        self.iterations = iterations
        self.random_frames = sample_random_frames
        self.input_bn = BatchNorm(feature_size)
        self.video_VLAD = NetVlad(rgb_size, cluster_size, generator=g)
        self.audio_VLAD = NetVlad(feature_size - rgb_size, cluster_size // 2, generator=g)
        vlad_size = rgb_size * cluster_size + (feature_size - rgb_size) * (cluster_size // 2)
        self.hidden1_weights = _normal((vlad_size, hidden_size), 1 / math.sqrt(cluster_size), g)
        if relu:
            self.hidden1_bn = BatchNorm(hidden_size)
        else:
            self.hidden1_biases = _normal((hidden_size,), 0.01, g)
        self.gating_weights_2 = _normal((hidden_size, hidden_size), 1 / math.sqrt(hidden_size), g)
        self.gating_bn = BatchNorm(hidden_size)
        self.classifier = video_classifier(classifier, hidden_size, num_classes, num_mixtures=num_mixtures,
                                           generator=g)

    def sample_frames(self, x: Tensor, num_frames: Tensor) -> tuple[Tensor, Tensor]:
        sample = sample_random_frames if self.random_frames else sample_random_sequence
        return sample(x, num_frames, self.iterations)

    def encode_frames(self, x: Tensor) -> Tensor:
        x = self.input_bn(l2_normalize(x))
        video, audio = x[..., :self.rgb_size], x[..., self.rgb_size:]
        return torch.cat([x, self.video_VLAD.assign(video), self.audio_VLAD.assign(audio)], -1)

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        f, k = self.feature_size, self.video_VLAD.cluster_size
        assignments = _masked_assignments(encoded[..., f:], num_frames)
        vlad = torch.cat([self.video_VLAD.pool(encoded[..., :self.rgb_size], assignments[..., :k]),
                          self.audio_VLAD.pool(encoded[..., self.rgb_size:f], assignments[..., k:])], -1)
        activation = matmul(vlad, self.hidden1_weights)
        if self.relu:
            activation = torch.clamp(self.hidden1_bn(activation), 0.0, 6.0)
        else:
            activation = activation + self.hidden1_biases
        gates = torch.sigmoid(self.gating_bn(matmul(activation, self.gating_weights_2)))
        return self.classifier(activation * gates)


class NeXtVlad(nn.Module):
    """``NeXtVLAD`` of one modality (Lin et al. 2018; scope ``video_VLAD`` or ``audio_VLAD``).

    Per frame: ``x~ = x W_e + b_e`` (``fully_connected``, width ``expansion * F``), group
    attention ``sigmoid(x~ W_g + b_g)`` (``fully_connected_1``, ``groups``), and per group
    soft assignments ``softmax(cluster_bn(x~ @ cluster_weights))`` over ``clusters``, times
    the attention. Per video: the VLAD of the ``expansion * F / groups``-wide group slices
    over all frames and groups, each cluster's column L2-normalised, flattened, then ``vlad_bn``.
    """

    def __init__(self, feature_size: int, cluster_size: int, *, expansion: int, groups: int,
                 generator: torch.Generator) -> None:
        super().__init__()
        wide = expansion * feature_size
        if groups < 1 or wide % groups:
            raise ValueError(f"groups ({groups}) must divide expansion * features ({wide})")
        self.cluster_size = cluster_size
        self.groups = groups
        self.wide = wide
        self.fully_connected = Dense(feature_size, wide, bias=True, generator=generator)
        self.fully_connected_1 = Dense(wide, groups, bias=True, generator=generator)
        self.cluster_weights = _normal((wide, groups * cluster_size), math.sqrt(2 / wide), generator)
        self.cluster_bn = BatchNorm(groups * cluster_size)
        self.cluster_weights2 = _normal((1, wide // groups, cluster_size), math.sqrt(2 / wide), generator)
        self.vlad_bn = BatchNorm(wide // groups * cluster_size)
        for dense in (self.fully_connected, self.fully_connected_1):  # variance_scaling_initializer (He)
            dense.weights.data.mul_(math.sqrt(2.0))

    @property
    def encoded_size(self) -> int:
        return self.wide + self.groups * self.cluster_size

    def encode(self, x: Tensor) -> Tensor:
        """Per frame: the expanded features and the attention-weighted assignments of each group."""
        wide = self.fully_connected(x)
        attention = torch.sigmoid(self.fully_connected_1(wide))  # [..., groups]
        logits = self.cluster_bn(matmul(wide, self.cluster_weights))
        assignments = torch.softmax(logits.reshape(*x.shape[:-1], self.groups, self.cluster_size), dim=-1)
        weighted = assignments * attention[..., None]
        return torch.cat([wide, weighted.reshape(*x.shape[:-1], -1)], -1)

    def pool(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        batch, frames = encoded.shape[:2]
        wide, weighted = encoded[..., :self.wide], encoded[..., self.wide:]
        weighted = _masked_assignments(weighted, num_frames).reshape(batch, frames * self.groups,
                                                                     self.cluster_size)
        slices = wide.reshape(batch, frames * self.groups, self.wide // self.groups)
        a = weighted.sum(1, keepdim=True) * self.cluster_weights2  # [B, F/g*e, K]
        vlad = slices.transpose(1, 2) @ weighted - a
        vlad = vlad * torch.rsqrt(torch.clamp(vlad.square().sum(1, keepdim=True), min=L2_EPSILON))
        return self.vlad_bn(vlad.reshape(batch, -1))


class NeXtVladModel(NativeModel):
    """``NeXtVLADModel`` (Lin et al. 2018, github.com/linrongc/youtube-8m, the 2018 challenge's best
    single model).

    A NeXtVLAD of the rgb columns (``cluster_size`` clusters, ``groups`` groups) and one of
    the audio columns (``cluster_size // 2``, ``groups // 2``), concatenated -> dropout
    (``drop_rate``, training only) -> ``hidden1_weights`` -> ``hidden1_bn`` -> SE context
    gating ``h * sigmoid(relu(gating_bn(h @ gating_weights_1)) @ gating_weights_2)`` -> a
    video-level classifier (logistic, as published). Defaults are the published model
    (nextvlad_8g_5l2_5drop_128k_2048_2x80_logistic): 128 clusters, 8 groups, expansion 2,
    hidden 2048, gating reduction 8, dropout 0.5. Every valid frame counts (padding masked).
    """

    family = "nextvlad"
    input_level = "frame"

    def __init__(self, *, num_classes: int, feature_size: int = FEATURE_SIZE, cluster_size: int = 128,
                 hidden_size: int = 2048, groups: int = 8, expansion: int = 2, gating_reduction: int = 8,
                 drop_rate: float = 0.5, classifier: VideoClassifier = "logistic", num_mixtures: int = 2,
                 rgb_size: int = RGB_SIZE, seed: int = 0,
                 input_features: InputFeatures | None = None) -> None:
        _check_split(feature_size, rgb_size)
        if (cluster_size < 2 or groups < 2 or expansion < 1 or gating_reduction < 1
                or hidden_size < gating_reduction):
            raise ValueError("cluster_size and groups must be >= 2, expansion and gating_reduction >= 1, "
                             "hidden_size >= gating_reduction")
        if not 0 <= drop_rate < 1:
            raise ValueError(f"drop_rate ({drop_rate}) must be in [0, 1)")
        super().__init__(num_classes=num_classes, feature_size=feature_size, options={
            "cluster_size": cluster_size, "hidden_size": hidden_size, "groups": groups,
            "expansion": expansion,
            "gating_reduction": gating_reduction, "drop_rate": drop_rate, "classifier": classifier,
            "num_mixtures": num_mixtures, "rgb_size": rgb_size}, input_features=input_features)
        g = torch.Generator().manual_seed(seed)
        self.rgb_size = rgb_size
        self.video_VLAD = NeXtVlad(rgb_size, cluster_size, expansion=expansion, groups=groups, generator=g)
        self.audio_VLAD = NeXtVlad(feature_size - rgb_size, cluster_size // 2, expansion=expansion,
                                   groups=groups // 2, generator=g)
        vlad_size = self.video_VLAD.vlad_bn.beta.shape[0] + self.audio_VLAD.vlad_bn.beta.shape[0]
        self.dropout = nn.Dropout(drop_rate)
        self.hidden1_weights = _normal((vlad_size, hidden_size), math.sqrt(2 / vlad_size), g)
        self.hidden1_bn = BatchNorm(hidden_size)
        reduced = hidden_size // gating_reduction
        self.gating_weights_1 = _normal((hidden_size, reduced), math.sqrt(2 / hidden_size), g)
        self.gating_bn = BatchNorm(reduced)
        self.gating_weights_2 = _normal((reduced, hidden_size), math.sqrt(2 / reduced), g)
        self.classifier = video_classifier(classifier, hidden_size, num_classes, num_mixtures=num_mixtures,
                                           generator=g)

    def encode_frames(self, x: Tensor) -> Tensor:
        x = l2_normalize(x)
        return torch.cat([self.video_VLAD.encode(x[..., :self.rgb_size]),
                          self.audio_VLAD.encode(x[..., self.rgb_size:])], -1)

    def head(self, encoded: Tensor, num_frames: Tensor) -> Tensor:
        split = self.video_VLAD.encoded_size
        vlad = torch.cat([self.video_VLAD.pool(encoded[..., :split], num_frames),
                          self.audio_VLAD.pool(encoded[..., split:], num_frames)], -1)
        activation = self.hidden1_bn(matmul(self.dropout(vlad), self.hidden1_weights))
        gates = torch.relu(self.gating_bn(matmul(activation, self.gating_weights_1)))
        return self.classifier(activation * torch.sigmoid(matmul(gates, self.gating_weights_2)))


FAMILIES: dict[str, type[NativeModel]] = {
    cls.family: cls for cls in (LogisticModel, MoeModel, FrameLevelLogisticModel, DbofModel, LstmModel,
                                GatedNetVladModel, NeXtVladModel)}



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
            raise InputError(f"Invalid device ({device!r}). "
                             "Supported values are cpu, cuda, cuda:N, mps.") from None
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
        x, n = check_batch(features, num_frames, feature_size=self.model.input_size)
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
        if rows.shape[1] != self.model.input_size:
            raise ValueError(f"frames must have {self.model.input_size} features, got {rows.shape[1]}")
        if s.size == 0:
            return np.zeros((0, self.num_classes), np.float32)
        width = int(n.max()) if width is None else width
        used = np.zeros(rows.shape[0], bool)
        for start, length in zip(s.tolist(), n.tolist(), strict=True):
            used[start:start + length] = True
        # Encode only the rows some span uses; ``position`` maps a row to its encoded index.
        wanted = np.flatnonzero(used)
        position = np.cumsum(used) - 1
        encoded = torch.cat([self.model.encode_frames(
                                 self.model.select(self._tensor(rows[wanted[i:i + batch_frames]])))
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
