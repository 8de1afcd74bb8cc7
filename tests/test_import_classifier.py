"""`yt8m models import-classifier`: starter-code TensorFlow checkpoints as native models.

The TensorFlow side (one subprocess, see tf_oracle.py) builds each family's graph as the
starter code (github.com/google/youtube-8m) does: ``eval.py``'s ``tower`` variable scope
and ``tf.nn.l2_normalize`` of the input, ``video_level_models.py`` (``LogisticModel``,
``MoeModel``), ``frame_level_models.py`` (``FrameLevelLogisticModel``, ``DbofModel``,
``LstmModel``) and ``model_utils.py`` (``SampleRandomSequence``, ``FramePooling``).
TensorFlow 2 has neither ``tf.contrib.slim`` nor (with Keras 3) ``BasicLSTMCell``, so
``slim.fully_connected``, ``slim.batch_norm`` (``is_training=False``) and
``BasicLSTMCell``/``MultiRNNCell`` are written out from their TensorFlow 1 sources with
the same variable names; the cells run under the real ``tf.compat.v1.nn.dynamic_rnn``.
Every variable is then set to random values (moving statistics too), the graph is saved
with ``tf.compat.v1.train.Saver`` and scored on fixed inputs. yt8m imports the
checkpoints without TensorFlow and must give the same scores within 1e-5.

DBoF samples frames even at inference in the starter code; the oracle runs it with
``--nosample_random_frames`` and ``iterations`` equal to the padded length, where
``SampleRandomSequence`` starts at frame 0 and repeats each video's last frame, which
max pooling does not see (average pooling is tested on unpadded videos).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tf_oracle import run_tf
from yt8m.cli import main
from yt8m.errors import WeightsError
from yt8m.inference.classifiers import load_classifier
from yt8m.inference.classifiers.starter_import import (
    convert_starter_state_dict,
    import_starter_checkpoint,
    model_variables,
    native_name,
    starter_name,
)

F, C, T = 12, 5, 7  # features, classes, padded frames
NUM_FRAMES = [7, 3, 5]

_ORACLE = r"""
import collections
import math
v1 = tf.compat.v1
v1.disable_eager_execution()


def fully_connected(x, n, activation_fn=None, biases=True, scope="fully_connected"):
    # slim.fully_connected on a 2-D input: <scope>/weights [in, n], <scope>/biases [n]
    with v1.variable_scope(scope):
        w = v1.get_variable("weights", [int(x.shape[-1]), n], initializer=v1.glorot_uniform_initializer())
        y = tf.matmul(x, w)
        if biases:
            y = tf.nn.bias_add(y, v1.get_variable("biases", [n], initializer=v1.zeros_initializer()))
    return activation_fn(y) if activation_fn is not None else y


def batch_norm(x, scope):
    # slim.batch_norm(center=True, scale=True, is_training=False): moving statistics, epsilon 0.001
    n = int(x.shape[-1])
    with v1.variable_scope(scope):
        beta = v1.get_variable("beta", [n], initializer=v1.zeros_initializer())
        gamma = v1.get_variable("gamma", [n], initializer=v1.ones_initializer())
        mean = v1.get_variable("moving_mean", [n], initializer=v1.zeros_initializer(), trainable=False)
        var = v1.get_variable("moving_variance", [n], initializer=v1.ones_initializer(), trainable=False)
    return tf.nn.batch_normalization(x, mean, var, beta, gamma, 0.001)


def LogisticModel(model_input, vocab_size, **unused):
    return fully_connected(model_input, vocab_size, activation_fn=tf.nn.sigmoid)


def MoeModel(model_input, vocab_size, num_mixtures, **unused):
    gate_activations = fully_connected(model_input, vocab_size * (num_mixtures + 1), biases=False,
                                       scope="gates")
    expert_activations = fully_connected(model_input, vocab_size * num_mixtures, scope="experts")
    gating_distribution = tf.nn.softmax(tf.reshape(gate_activations, [-1, num_mixtures + 1]))
    expert_distribution = tf.nn.sigmoid(tf.reshape(expert_activations, [-1, num_mixtures]))
    final_probabilities_by_class_and_batch = tf.reduce_sum(
        gating_distribution[:, :num_mixtures] * expert_distribution, 1)
    return tf.reshape(final_probabilities_by_class_and_batch, [-1, vocab_size])


def FrameLevelLogisticModel(model_input, vocab_size, num_frames, **unused):
    num_frames = tf.cast(tf.expand_dims(num_frames, 1), tf.float32)
    feature_size = model_input.get_shape().as_list()[2]
    denominators = tf.reshape(tf.tile(num_frames, [1, feature_size]), [-1, feature_size])
    avg_pooled = tf.reduce_sum(model_input, axis=[1]) / denominators
    return fully_connected(avg_pooled, vocab_size, activation_fn=tf.nn.sigmoid)


def normal(fan_in):  # the starter's initializer of DBoF's matrices
    return v1.random_normal_initializer(stddev=1 / math.sqrt(fan_in))


def SampleRandomSequence(model_input, num_frames, num_samples):
    batch_size = tf.shape(model_input)[0]
    frame_index_offset = tf.tile(tf.expand_dims(tf.range(num_samples), 0), [batch_size, 1])
    max_start_frame_index = tf.maximum(num_frames - num_samples, 0)
    start_frame_index = tf.cast(tf.multiply(v1.random_uniform([batch_size, 1]),
                                            tf.cast(max_start_frame_index + 1, tf.float32)), tf.int32)
    frame_index = tf.minimum(start_frame_index + frame_index_offset, tf.cast(num_frames - 1, tf.int32))
    batch_index = tf.tile(tf.expand_dims(tf.range(batch_size), 1), [1, num_samples])
    index = tf.stack([batch_index, frame_index], 2)
    return tf.gather_nd(model_input, index)


def DbofModel(model_input, vocab_size, num_frames, iterations, add_batch_norm, cluster_size, hidden1_size,
              pooling, classifier, **params):
    num_frames = tf.cast(tf.expand_dims(num_frames, 1), tf.float32)
    model_input = SampleRandomSequence(model_input, tf.cast(num_frames, tf.int32), iterations)
    max_frames = model_input.get_shape().as_list()[1]
    feature_size = model_input.get_shape().as_list()[2]
    reshaped_input = tf.reshape(model_input, [-1, feature_size])
    if add_batch_norm:
        reshaped_input = batch_norm(reshaped_input, "input_bn")
    cluster_weights = v1.get_variable("cluster_weights", [feature_size, cluster_size],
                                      initializer=normal(feature_size))
    activation = tf.matmul(reshaped_input, cluster_weights)
    if add_batch_norm:
        activation = batch_norm(activation, "cluster_bn")
    else:
        cluster_biases = v1.get_variable("cluster_biases", [cluster_size],
                                         initializer=normal(feature_size))
        activation += cluster_biases
    activation = tf.nn.relu6(activation)
    activation = tf.reshape(activation, [-1, max_frames, cluster_size])
    # FramePooling
    activation = tf.reduce_max(activation, 1) if pooling == "max" else tf.reduce_mean(activation, 1)
    hidden1_weights = v1.get_variable("hidden1_weights", [cluster_size, hidden1_size],
                                      initializer=normal(cluster_size))
    activation = tf.matmul(activation, hidden1_weights)
    if add_batch_norm:
        activation = batch_norm(activation, "hidden1_bn")
    else:
        hidden1_biases = v1.get_variable("hidden1_biases", [hidden1_size],
                                         initializer=v1.random_normal_initializer(stddev=0.01))
        activation += hidden1_biases
    activation = tf.nn.relu6(activation)
    return MODELS[classifier](model_input=activation, vocab_size=vocab_size, **params)


LSTMStateTuple = collections.namedtuple("LSTMStateTuple", ("c", "h"))


class BasicLSTMCell:  # rnn_cell_impl.BasicLSTMCell (state_is_tuple=True, activation tanh)
    def __init__(self, num_units, forget_bias=1.0):
        self._num_units, self._forget_bias = num_units, forget_bias

    state_size = property(lambda self: LSTMStateTuple(self._num_units, self._num_units))
    output_size = property(lambda self: self._num_units)

    def zero_state(self, batch_size, dtype):
        return LSTMStateTuple(tf.zeros([batch_size, self._num_units], dtype),
                              tf.zeros([batch_size, self._num_units], dtype))

    def __call__(self, inputs, state, scope=None):
        with v1.variable_scope(scope or "basic_lstm_cell"):
            depth = int(inputs.shape[-1])
            kernel = v1.get_variable("kernel", [depth + self._num_units, 4 * self._num_units],
                                     initializer=v1.glorot_uniform_initializer())
            bias = v1.get_variable("bias", [4 * self._num_units], initializer=v1.zeros_initializer())
        c, h = state
        gate_inputs = tf.nn.bias_add(tf.matmul(tf.concat([inputs, h], 1), kernel), bias)
        i, j, f, o = tf.split(value=gate_inputs, num_or_size_splits=4, axis=1)
        new_c = c * tf.sigmoid(f + self._forget_bias) + tf.sigmoid(i) * tf.tanh(j)
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
        return new_h, LSTMStateTuple(new_c, new_h)


class MultiRNNCell:  # rnn_cell_impl.MultiRNNCell (state_is_tuple=True)
    def __init__(self, cells):
        self._cells = cells

    state_size = property(lambda self: tuple(cell.state_size for cell in self._cells))
    output_size = property(lambda self: self._cells[-1].output_size)

    def zero_state(self, batch_size, dtype):
        return tuple(cell.zero_state(batch_size, dtype) for cell in self._cells)

    def __call__(self, inputs, state, scope=None):
        cur_inp, new_states = inputs, []
        with v1.variable_scope(scope or "multi_rnn_cell"):
            for i, cell in enumerate(self._cells):
                with v1.variable_scope("cell_%d" % i):
                    cur_inp, new_state = cell(cur_inp, state[i])
                    new_states.append(new_state)
        return cur_inp, tuple(new_states)


def LstmModel(model_input, vocab_size, num_frames, lstm_cells, lstm_layers, classifier, **params):
    stacked_lstm = MultiRNNCell([BasicLSTMCell(lstm_cells, forget_bias=1.0) for _ in range(lstm_layers)])
    outputs, state = v1.nn.dynamic_rnn(stacked_lstm, model_input, sequence_length=num_frames,
                                       dtype=tf.float32)
    return MODELS[classifier](model_input=state[-1].h, vocab_size=vocab_size, **params)


MODELS = {"LogisticModel": LogisticModel, "MoeModel": MoeModel,
          "FrameLevelLogisticModel": FrameLevelLogisticModel,
          "DbofModel": DbofModel, "LstmModel": LstmModel}

result = {}
for case in args["cases"]:
    graph = tf.Graph()
    with graph.as_default():
        rng = np.random.default_rng(case["seed"])
        model_input_raw = tf.constant(np.array(case["x"], np.float32))
        num_frames = tf.constant(np.array(case["num_frames"], np.int32))
        model_input = tf.nn.l2_normalize(model_input_raw, len(model_input_raw.get_shape()) - 1)  # eval.py
        with v1.variable_scope("tower"):
            predictions = MODELS[case["model"]](model_input, vocab_size=case["vocab"], num_frames=num_frames,
                                                **case["params"])
        model_vars = v1.global_variables()
        if case.get("adam"):  # a training checkpoint: Adam slots, beta powers, global_step
            global_step = v1.train.get_or_create_global_step()
            v1.train.AdamOptimizer(0.01).minimize(tf.reduce_sum(predictions), global_step=global_step)
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            for v in model_vars:
                shape = v.shape.as_list()
                name = v.op.name
                if name.endswith("moving_variance"):
                    value = rng.uniform(0.5, 1.5, shape)
                elif name.endswith("gamma"):
                    value = 1 + 0.2 * rng.standard_normal(shape)
                else:
                    value = rng.standard_normal(shape) * (1 / math.sqrt(shape[0]) if len(shape) == 2 else 0.3)
                v.load(value.astype(np.float32), sess)
            version = v1.train.SaverDef.V1 if case["format"] == "v1" else v1.train.SaverDef.V2
            path = v1.train.Saver(write_version=version).save(sess, case["path"], write_meta_graph=False)
            result[case["name"]] = {"path": path, "scores": sess.run(predictions).tolist(),
                                    "variables": sorted(v.op.name for v in v1.global_variables())}
"""


def _frames(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(NUM_FRAMES), T, F)).astype(np.float32)
    for b, n in enumerate(NUM_FRAMES):
        x[b, n:] = 0  # the starter's readers pad with zeros
    return x


def _cases(tmp_path) -> list[dict]:
    video = np.random.default_rng(1).standard_normal((4, F)).astype(np.float32)
    frames = _frames(2)
    full = np.random.default_rng(3).standard_normal((2, T, F)).astype(np.float32)
    moe = {"classifier": "MoeModel", "num_mixtures": 3}
    cases = [
        ("logistic", "LogisticModel", video, [1] * 4, {}, "v2", False, {}),
        ("moe", "MoeModel", video, [1] * 4, {"num_mixtures": 3}, "v1", False, {}),
        ("frame_logistic", "FrameLevelLogisticModel", frames, NUM_FRAMES, {}, "v2", False, {}),
        ("dbof", "DbofModel", frames, NUM_FRAMES,
         {"iterations": T, "add_batch_norm": True, "cluster_size": 16, "hidden1_size": 8,
          "pooling": "max", **moe},
         "v2", True, {}),
        ("dbof_nobn_avg", "DbofModel", full, [T, T],
         {"iterations": T, "add_batch_norm": False, "cluster_size": 10, "hidden1_size": 6,
          "pooling": "average",
          "classifier": "LogisticModel"}, "v1", False, {"pooling": "average"}),
        ("lstm", "LstmModel", frames, NUM_FRAMES, {"lstm_cells": 6, "lstm_layers": 2, **moe}, "v2", True, {}),
        ("lstm_logistic", "LstmModel", frames, NUM_FRAMES,
         {"lstm_cells": 4, "lstm_layers": 1, "classifier": "LogisticModel"}, "v2", False, {}),
    ]
    return [{"name": name, "model": model, "x": x.tolist(), "num_frames": n, "params": params, "format": fmt,
             "adam": adam, "options": options, "vocab": C, "seed": 10 + i,
             "path": str(tmp_path / name / "model.ckpt")}
            for i, (name, model, x, n, params, fmt, adam, options) in enumerate(cases)]


FAMILY = {"LogisticModel": "logistic", "MoeModel": "moe", "FrameLevelLogisticModel": "frame_logistic",
          "DbofModel": "dbof", "LstmModel": "lstm"}


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("starter")
    cases = _cases(tmp_path)
    for case in cases:
        (tmp_path / case["name"]).mkdir()
    out = run_tf(_ORACLE, tmp_path, cases=cases)
    return {case["name"]: {**case, **out[case["name"]]} for case in cases}


def _native_scores(model, case) -> np.ndarray:
    x = np.asarray(case["x"], np.float32)
    if x.ndim == 2:  # video level: one "frame" per video
        x = x[:, None, :]
    with torch.inference_mode():
        return model(torch.from_numpy(x), torch.tensor(case["num_frames"])).numpy()


pytestmark = pytest.mark.oracle
NAMES = ["logistic", "moe", "frame_logistic", "dbof", "dbof_nobn_avg", "lstm", "lstm_logistic"]


@pytest.mark.parametrize("name", NAMES)
def test_imported_scores_match_tensorflow(oracle, name):
    case = oracle[name]
    family = FAMILY[case["model"]]
    model = import_starter_checkpoint(case["path"], family, options=case["options"])
    assert model.num_classes == C and model.feature_size == F
    tf_scores = np.asarray(case["scores"], np.float32)
    assert tf_scores.shape == (len(case["num_frames"]), C)
    np.testing.assert_allclose(_native_scores(model, case), tf_scores, atol=1e-5, rtol=0)


def test_sizes_come_from_the_checkpoint(oracle):
    assert import_starter_checkpoint(oracle["moe"]["path"], "moe").config()["num_mixtures"] == 3
    dbof = import_starter_checkpoint(oracle["dbof"]["path"], "dbof").config()
    assert (dbof["cluster_size"], dbof["hidden_size"], dbof["add_batch_norm"], dbof["classifier"],
            dbof["num_mixtures"]) == (16, 8, True, "moe", 3)
    nobn = import_starter_checkpoint(oracle["dbof_nobn_avg"]["path"], "dbof",
                                     options={"pooling": "average"}).config()
    assert (nobn["cluster_size"], nobn["hidden_size"], nobn["add_batch_norm"], nobn["classifier"],
            nobn["pooling"]) == (10, 6, False, "logistic", "average")
    lstm = import_starter_checkpoint(oracle["lstm"]["path"], "lstm").config()
    assert (lstm["lstm_cells"], lstm["lstm_layers"], lstm["classifier"]) == (6, 2, "moe")
    # The training checkpoint holds Adam slots, beta powers and global_step; none is imported.
    variables = oracle["dbof"]["variables"]
    assert any(v.endswith("/Adam") for v in variables) and "global_step" in variables


def test_cli_writes_a_model_that_predict_loads(oracle, tmp_path, capsys):
    case = oracle["dbof"]
    out = tmp_path / "imported"
    code = main(["models", "import-classifier", case["path"] + ".index", "--family", "dbof", "-o", str(out),
                 "--num-classes", str(C), "--model-option", "iterations=30"])
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith(f"wrote {out}: dbof, {C} classes")
    config = json.loads((out / "classifier.json").read_text())
    assert config["family"] == "dbof" and config["iterations"] == 30 and config["cluster_size"] == 16
    classifier = load_classifier(out)
    x = np.asarray(case["x"], np.float32)
    scores = classifier.predict(x, np.asarray(case["num_frames"]))
    np.testing.assert_allclose(scores, np.asarray(case["scores"], np.float32), atol=1e-5, rtol=0)


@pytest.mark.parametrize(("name", "family", "missing", "unexpected"), [
    ("logistic", "moe", "tower/gates/weights", "tower/fully_connected/weights"),
    ("moe", "dbof", "tower/cluster_weights", None),
    ("dbof", "lstm", "tower/rnn/multi_rnn_cell/cell_0/basic_lstm_cell/kernel", "tower/cluster_weights"),
    ("lstm", "frame_logistic", "tower/fully_connected/weights",
     "tower/rnn/multi_rnn_cell/cell_0/basic_lstm_cell"),
    ("dbof_nobn_avg", "logistic", None, "tower/hidden1_biases"),
])
def test_wrong_family_is_refused_naming_the_variables(oracle, name, family, missing, unexpected):
    path = oracle[name]["path"]
    with pytest.raises(WeightsError) as info:
        import_starter_checkpoint(path, family)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: not a starter-code {family!r} model")
    if missing:
        assert "missing [" in message and missing in message.split("missing [", 1)[1].split("]")[0]
    if unexpected:
        assert "unexpected [" in message and unexpected in message.split("unexpected [", 1)[1].split("]")[0]


def test_cli_wrong_family_is_one_line(oracle, tmp_path, capsys):
    path = oracle["lstm"]["path"]
    code = main(["models", "import-classifier", path, "--family", "moe", "-o", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == WeightsError.exit_code
    assert err.count("\n") == 1, err
    assert f"{path}: not a starter-code 'moe' model: unexpected [tower/rnn/" in err, err
    assert not (tmp_path / "m").exists()


# --- pure mapping, no TensorFlow -----------------------------------------------------------------------

def test_names_map_both_ways():
    assert native_name("gates/weights") == "classifier.gates.weights"
    assert native_name("input_bn/moving_mean") == "input_bn.moving_mean"
    assert native_name("rnn/multi_rnn_cell/cell_1/basic_lstm_cell/kernel") == "cells.1.kernel"
    assert native_name("rnn/multi_rnn_cell/cell_0/basic_lstm_cell/biases") == "cells.0.bias"  # TF 1.1-1.2
    assert native_name("RNN/MultiRNNCell/Cell0/BasicLSTMCell/Linear/Matrix") == "cells.0.kernel"  # TF 1.0
    for name in ["gates/weights", "experts/biases", "fully_connected/weights", "cluster_bn/gamma",
                 "hidden1_weights", "rnn/multi_rnn_cell/cell_3/basic_lstm_cell/bias"]:
        assert starter_name(native_name(name)) == name
    variables, prefix = model_variables({"tower/gates/weights": 1, "tower/gates/weights/Adam": 2,
                                         "tower/gates/weights/Adam_1": 3, "global_step": 4, "beta1_power": 5})
    assert (variables, prefix) == ({"gates/weights": 1}, "tower/")


def test_options_contradicting_the_shapes_are_refused():
    rng = np.random.default_rng(0)
    tensors = {"gates/weights": rng.standard_normal((F, C * 3)),
               "experts/weights": rng.standard_normal((F, C * 2)),
               "experts/biases": rng.standard_normal(C * 2)}
    config, state = convert_starter_state_dict(tensors, "moe")
    assert config == {"num_classes": C, "num_mixtures": 2, "feature_size": F}
    assert set(state) == {"classifier.gates.weights", "classifier.experts.weights",
                          "classifier.experts.biases"}
    with pytest.raises(WeightsError, match="num_mixtures=4 contradicts"):
        convert_starter_state_dict(tensors, "moe", options={"num_mixtures": 4})
    tensors["experts/biases"] = rng.standard_normal(C)
    with pytest.raises(WeightsError, match=r"experts/biases has shape \[5\]"):
        convert_starter_state_dict(tensors, "moe")
