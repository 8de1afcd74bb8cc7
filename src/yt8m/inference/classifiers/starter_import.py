"""A model trained by the YouTube-8M starter code (a TensorFlow checkpoint) as a native yt8m model.

Pure functions from ``{TensorFlow variable name: array}`` (what
:func:`yt8m.weights.checkpoint.read_checkpoint` returns, V1 or V2) to a native model's
state dict, as timm's ``checkpoint_filter_fn`` does; :func:`import_starter_checkpoint`
reads the file, builds the :class:`~yt8m.inference.classifiers.native.NativeModel` and
loads it. No TensorFlow is needed.

What is read (after the starter's ``tower/`` scope, which ``train.py``/``eval.py`` put
every variable under, is taken off; older checkpoints lack it):

* ``fully_connected/weights`` [F, C], ``fully_connected/biases`` [C]: ``LogisticModel``
  (``logistic``, ``frame_logistic``, or the head of ``dbof``/``lstm`` with
  ``--video_level_classifier_model=LogisticModel``) -> ``classifier.fully_connected.*``.
* ``gates/weights`` [F, C (m + 1)], ``experts/weights`` [F, C m], ``experts/biases``:
  ``MoeModel`` -> ``classifier.gates.weights``, ``classifier.experts.*``; C and m follow
  from the two widths.
* ``input_bn``, ``cluster_bn``, ``hidden1_bn`` (``beta``, ``gamma``, ``moving_mean``,
  ``moving_variance``), ``cluster_weights`` [F, K], ``hidden1_weights`` [K, H], or with
  ``--nodbof_add_batch_norm`` ``cluster_biases``/``hidden1_biases``: ``DbofModel``, the
  same names with ``/`` as ``.``.
* ``rnn/multi_rnn_cell/cell_k/basic_lstm_cell/kernel`` [in + U, 4U] and ``bias``
  (``weights``/``biases`` in TensorFlow 1.1-1.2, ``RNN/MultiRNNCell/Cellk/BasicLSTMCell/
  Linear/Matrix``/``Bias`` in 1.0): ``LstmModel`` -> ``cells.k.kernel``/``cells.k.bias``.

Optimiser slots and moving averages (a variable under another variable's name, e.g.
``tower/gates/weights/Adam``), ``global_step`` and ``beta1_power``/``beta2_power`` are
left out. Anything else that the family does not have, or anything it needs that is
absent, is an error naming the checkpoint and those variables.

What a checkpoint cannot say: DBoF's pooling (``--dbof_pooling_method``, default
``max``), its training-time ``iterations`` and ``sample_random_frames``, and which
feature columns a model of another width than 1152 was trained on (1024 wide is taken
as ``rgb``, 128 as ``audio``); ``options`` set those.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from yt8m.errors import WeightsError
from yt8m.inference.classifiers.native import INPUT_COLUMNS, NativeModel, build_model

STARTER_FAMILIES = ("logistic", "moe", "frame_logistic", "dbof", "lstm")
TOWER = "tower/"
#: Training bookkeeping that is no part of the model.
_BOOKKEEPING = re.compile(r"^(global_step|beta[12]_power(_\d+)?|.*/(Adam|Adam_1|Momentum|RMSProp|RMSProp_1|"
                          r"Adagrad|Ftrl|Ftrl_1|ExponentialMovingAverage))$")
_LSTM_NAMES = [
    re.compile(r"^rnn/multi_rnn_cell/cell_(\d+)/basic_lstm_cell/(kernel|bias)$"),
    re.compile(r"^rnn/multi_rnn_cell/cell_(\d+)/basic_lstm_cell/(weights|biases)$"),
    re.compile(r"^RNN/MultiRNNCell/Cell(\d+)/BasicLSTMCell/Linear/(Matrix|Bias)$"),
]
_LSTM_PARAM = {"kernel": "kernel", "weights": "kernel", "Matrix": "kernel",
               "bias": "bias", "biases": "bias", "Bias": "bias"}
_CLASSIFIER_SCOPES = ("fully_connected/", "gates/", "experts/")
_LSTM_NATIVE = re.compile(r"^cells\.(\d+)\.(kernel|bias)$")


def model_variables(tensors: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Drop training bookkeeping and the ``tower/`` scope; return (variables, the prefix taken off)."""
    names = set(tensors)
    kept = {k: v for k, v in tensors.items()
            if not _BOOKKEEPING.match(k) and k.rsplit("/", 1)[0] not in names}
    prefix = TOWER if kept and all(k.startswith(TOWER) for k in kept) else ""
    return {k[len(prefix):]: v for k, v in kept.items()}, prefix


def native_name(name: str) -> str:
    """The native parameter name of a starter-code variable name (``tower/`` already off)."""
    for pattern in _LSTM_NAMES:
        if m := pattern.match(name):
            return f"cells.{m[1]}.{_LSTM_PARAM[m[2]]}"
    if name.startswith(_CLASSIFIER_SCOPES):
        return "classifier." + name.replace("/", ".")
    return name.replace("/", ".")


def starter_name(native: str) -> str:
    """The starter code's (current TensorFlow) variable name of a native parameter name."""
    if m := _LSTM_NATIVE.match(native):
        return f"rnn/multi_rnn_cell/cell_{m[1]}/basic_lstm_cell/{m[2]}"
    native = native.removeprefix("classifier.")
    return native.replace(".", "/")


def _classifier_options(shapes: Mapping[str, tuple[int, ...]]) -> tuple[dict[str, Any], int | None]:
    """(``classifier``/``num_mixtures`` options, num_classes) of a DBoF/LSTM head, from its shapes."""
    if "classifier.gates.weights" in shapes and "classifier.experts.weights" in shapes:
        gates, experts = shapes["classifier.gates.weights"][-1], shapes["classifier.experts.weights"][-1]
        classes = gates - experts
        if classes < 1 or experts % classes:
            return {"classifier": "moe"}, None
        return {"classifier": "moe", "num_mixtures": experts // classes}, classes
    if "classifier.fully_connected.weights" in shapes:
        return {"classifier": "logistic"}, shapes["classifier.fully_connected.weights"][-1]
    return {}, None


def infer_config(family: str, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    """The ``build_model`` keyword arguments a family's native tensor shapes imply (what can be told)."""
    config: dict[str, Any] = {}
    if family in ("logistic", "frame_logistic", "moe"):
        head, classes = _classifier_options(shapes)
        if family == "moe" and "num_mixtures" in head:
            config["num_mixtures"] = head["num_mixtures"]
        head = "classifier.gates.weights" if family == "moe" else "classifier.fully_connected.weights"
        weights = shapes.get(head)
        if weights is not None and len(weights) == 2:
            config["feature_size"] = weights[0]
        if classes is not None:
            config["num_classes"] = classes
        return config
    if family == "dbof":
        head, classes = _classifier_options(shapes)
        config.update(head)
        if (w := shapes.get("cluster_weights")) is not None and len(w) == 2:
            config["feature_size"], config["cluster_size"] = w
        if (w := shapes.get("hidden1_weights")) is not None and len(w) == 2:
            config["hidden_size"] = w[1]
        config["add_batch_norm"] = "cluster_biases" not in shapes
    elif family == "lstm":
        head, classes = _classifier_options(shapes)
        config.update(head)
        layers = sorted({int(m[1]) for k in shapes if (m := _LSTM_NATIVE.match(k))})
        if layers:
            config["lstm_layers"] = layers[-1] + 1
        if (k := shapes.get("cells.0.kernel")) is not None and len(k) == 2 and k[1] % 4 == 0:
            units = k[1] // 4
            config["lstm_cells"], config["feature_size"] = units, k[0] - units
    else:
        raise WeightsError(f"Invalid starter-code family ({family!r}). Supported values are "
                           f"{', '.join(STARTER_FAMILIES)}.")
    if classes is not None:
        config["num_classes"] = classes
    return config


def _mismatch(where: str, family: str, missing: list[str], unexpected: list[str],
              prefix: str) -> WeightsError:
    def show(names: list[str]) -> str:
        return "[" + ", ".join(prefix + n for n in names[:6]) + (", ..." if len(names) > 6 else "") + "]"

    parts = (([f"missing {show(missing)}"] if missing else [])
             + ([f"unexpected {show(unexpected)}"] if unexpected else []))
    return WeightsError(f"{where}: not a starter-code {family!r} model: " + "; ".join(parts))


def convert_starter_state_dict(
    tensors: Mapping[str, npt.ArrayLike], family: str, *, options: Mapping[str, Any] | None = None,
    where: str = "checkpoint",
) -> tuple[dict[str, Any], dict[str, npt.NDArray[np.float32]]]:
    """Map a starter-code checkpoint's ``{name: array}`` to ``(build_model kwargs, native state dict)``.

    Sizes come from the shapes; ``options`` adds what they cannot tell (e.g. ``pooling``)
    and may restate what they do (a different value is an error). Raises
    :class:`~yt8m.errors.WeightsError` naming ``where`` and the missing or unexpected
    variables when the checkpoint is not a model of ``family``.
    """
    if family not in STARTER_FAMILIES:
        raise WeightsError(f"Invalid starter-code family ({family!r}). Supported values are "
                           f"{', '.join(STARTER_FAMILIES)}.")
    variables, prefix = model_variables(tensors)
    state = {native_name(k): np.asarray(v) for k, v in variables.items()}
    tf_names = {native_name(k): k for k in variables}
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    config = infer_config(family, shapes)
    for key, value in (options or {}).items():
        if key in config and config[key] != value:
            raise WeightsError(f"{where}: option {key}={value!r} contradicts the checkpoint, whose shapes "
                               f"say {key}={config[key]!r}")
        config[key] = value
    if "input_features" not in config and config.get("feature_size") in (1024, 128):
        config["input_features"] = next(k for k, (a, b) in INPUT_COLUMNS.items()
                                        if b - a == config["feature_size"])
    problem = None
    try:
        model = build_model(family, **{"num_classes": 1, **config})
    except ValueError as exc:
        model, problem = None, exc
    if problem is not None and not set(_KEY_TENSORS[family]) - set(variables):
        raise WeightsError(f"{where}: {problem}")
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()} if model is not None else {}
    missing = sorted(starter_name(k) for k in set(expected) - set(state))
    unexpected = sorted(tf_names[k] for k in set(state) - set(expected))
    if model is None or "num_classes" not in config or missing or unexpected:
        if not missing and not unexpected:  # the family's key tensors are there but unusable
            missing = sorted(set(_KEY_TENSORS[family]) - set(variables)) or list(_KEY_TENSORS[family])
        raise _mismatch(where, family, missing, unexpected, prefix)
    for k, shape in expected.items():
        if shapes[k] != shape:
            raise WeightsError(f"{where}: variable {prefix}{tf_names[k]} has shape {list(shapes[k])}, a "
                               f"{family} model of these sizes needs {list(shape)}")
    return config, {k: np.ascontiguousarray(v, np.float32) for k, v in state.items()}


#: The variables that identify a family (named in errors when sizes cannot be told).
_KEY_TENSORS = {
    "logistic": ["fully_connected/weights", "fully_connected/biases"],
    "frame_logistic": ["fully_connected/weights", "fully_connected/biases"],
    "moe": ["gates/weights", "experts/weights", "experts/biases"],
    "dbof": ["cluster_weights", "hidden1_weights"],
    "lstm": ["rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel",
             "rnn/multi_rnn_cell/cell_0/basic_lstm_cell/bias"],
}


def import_starter_checkpoint(
    checkpoint: str | os.PathLike[str], family: str, *, num_classes: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> NativeModel:
    """Read a starter-code checkpoint (V1 file, V2 prefix or ``.index``) as a native model of ``family``."""
    import torch

    from yt8m.weights.checkpoint import read_checkpoint

    where = str(checkpoint)
    config, state = convert_starter_state_dict(read_checkpoint(checkpoint), family, options=options,
                                               where=where)
    if num_classes is not None and config["num_classes"] != num_classes:
        raise WeightsError(f"{where}: --num-classes {num_classes} but the checkpoint's {family} model has "
                           f"{config['num_classes']} classes")
    try:
        model = build_model(family, **config)
    except ValueError as exc:
        raise WeightsError(f"{where}: {exc}") from None
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return model.eval()
