"""Native PyTorch classifiers: the starter code's formulas (re-implemented here in numpy), save/load,
errors."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import torch

from yt8m.errors import InputError, WeightsError, Yt8mError
from yt8m.inference.classifiers import build_model, load_classifier, save_native
from yt8m.inference.classifiers.base import span_batch
from yt8m.inference.classifiers.loader import CONFIG_FILE, resolve_model

C = 11  # classes


# --- the starter code's formulas, in float64 numpy ---------------------------------------------------


def _l2(x):  # train.py: tf.nn.l2_normalize(model_input_raw, feature_dim)
    return x / np.sqrt(np.maximum((x * x).sum(-1, keepdims=True), 1e-12))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _logistic(x, t, prefix):  # LogisticModel / FrameLevelLogisticModel's fully_connected
    return _sigmoid(x @ t[f"{prefix}fully_connected.weights"] + t[f"{prefix}fully_connected.biases"])


def _moe(x, t, prefix, m):  # MoeModel
    gates = (x @ t[f"{prefix}gates.weights"]).reshape(-1, m + 1)
    gates = np.exp(gates - gates.max(1, keepdims=True))
    gates /= gates.sum(1, keepdims=True)
    experts = _sigmoid((x @ t[f"{prefix}experts.weights"] + t[f"{prefix}experts.biases"]).reshape(-1, m))
    return (gates[:, :m] * experts).sum(1).reshape(x.shape[0], -1)


def _bn(x, t, name):  # slim.batch_norm at inference, epsilon 0.001
    return ((x - t[f"{name}.moving_mean"]) / np.sqrt(t[f"{name}.moving_variance"] + 1e-3) * t[f"{name}.gamma"]
            + t[f"{name}.beta"])


def _head(x, t, config):
    if config.get("classifier", "moe") == "moe":
        return _moe(x, t, "classifier.", config["num_mixtures"])
    return _logistic(x, t, "classifier.")


def reference(config: dict, t: dict, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Scores of the starter-code family ``config["family"]`` for padded ``x`` [B, T, D] and ``n`` [B]."""
    family, out = config["family"], []
    for video, count in zip(x.astype(np.float64), n, strict=True):
        rows = video[:count]
        if family in ("logistic", "moe"):
            v = _l2(rows.mean(0))[None]
            out.append(_logistic(v, t, "classifier.") if family == "logistic" else
                       _moe(v, t, "classifier.", config["num_mixtures"]))
        elif family == "frame_logistic":
            out.append(_logistic(_l2(video).sum(0)[None] / count, t, "classifier."))  # padding rows are 0
        elif family == "dbof":
            h = _l2(rows)
            if config["add_batch_norm"]:
                h = _bn(h, t, "input_bn")
            h = h @ t["cluster_weights"]
            h = _bn(h, t, "cluster_bn") if config["add_batch_norm"] else h + t["cluster_biases"]
            h = np.clip(h, 0, 6)
            h = h.max(0) if config["pooling"] == "max" else h.mean(0)
            h = h @ t["hidden1_weights"]
            h = _bn(h, t, "hidden1_bn") if config["add_batch_norm"] else h + t["hidden1_biases"]
            out.append(_head(np.clip(h, 0, 6)[None], t, config))
        elif family == "lstm":  # BasicLSTMCell: [i, j, f, o] = [x, h] @ kernel + bias; forget bias 1.0
            units = config["lstm_cells"]
            state = [(np.zeros(units), np.zeros(units)) for _ in range(config["lstm_layers"])]
            for frame in _l2(rows):
                inp = frame
                for k, (h, c) in enumerate(state):
                    z = np.concatenate([inp, h]) @ t[f"cells.{k}.kernel"] + t[f"cells.{k}.bias"]
                    i, j, f, o = np.split(z, 4)
                    c = c * _sigmoid(f + 1.0) + _sigmoid(i) * np.tanh(j)
                    h = np.tanh(c) * _sigmoid(o)
                    state[k] = (h, c)
                    inp = h
            out.append(_head(state[-1][0][None], t, config))
    return np.concatenate(out)


FAMILIES = [
    ("logistic", {}),
    ("moe", {"num_mixtures": 3}),
    ("frame_logistic", {}),
    ("dbof", {"cluster_size": 40, "hidden_size": 24, "num_mixtures": 2}),
    ("dbof", {"cluster_size": 40, "hidden_size": 24, "add_batch_norm": False, "pooling": "average",
              "classifier": "logistic"}),
    ("lstm", {"lstm_cells": 16, "lstm_layers": 2, "num_mixtures": 2}),
]


def randomised(family: str, options: dict, seed: int = 0):
    """A model of ``family`` whose every tensor (batch-norm statistics included) is random."""
    model = build_model(family, num_classes=C, **options)
    rng = np.random.default_rng(seed)
    for name, tensor in model.state_dict().items():
        if name.endswith("moving_variance"):
            value = rng.uniform(0.5, 2.0, tensor.shape)
        elif name.endswith("gamma"):
            value = rng.normal(1.0, 0.3, tensor.shape)
        else:
            value = rng.normal(0.0, 2.0 / np.sqrt(max(tensor.shape[0], 1)), tensor.shape)
        tensor.copy_(torch.from_numpy(value.astype(np.float32)))
    return model


def _inputs(seed: int = 5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 6, 1152)).astype(np.float32)
    n = np.array([6, 2, 1, 4])
    for i, count in enumerate(n):
        x[i, count:] = 0.0
    return x, n


@pytest.mark.parametrize("family,options", FAMILIES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(FAMILIES)])
def test_native_family_matches_the_starter_code_formula_and_round_trips(family, options, tmp_path) -> None:
    model = randomised(family, options)
    x, n = _inputs()
    with load_classifier(save_native(model, tmp_path / "m")) as classifier:
        got = classifier.predict(x, n)
        config = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
        tensors = {k: v.double().numpy() for k, v in model.state_dict().items()}
        expected = reference(config, tensors, x, n)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-6)
        # Round trip: the loaded model is the saved one, bit for bit.
        with torch.inference_mode():
            direct = model.eval()(torch.from_numpy(x), torch.from_numpy(n)).numpy()
        np.testing.assert_array_equal(got, direct)
        # Padding rows never count, whatever they hold.
        noisy = x.copy()
        for i, count in enumerate(n):
            noisy[i, count:] = 7.0
        np.testing.assert_allclose(classifier.predict(noisy, n), got, rtol=0, atol=1e-6)
        # Spans of one long array share the per-frame work and give the same scores.
        frames = np.random.default_rng(9).normal(size=(13, 1152)).astype(np.float32)
        starts, lengths = np.array([0, 2, 8, 12, 5]), np.array([5, 5, 5, 1, 3])
        np.testing.assert_allclose(classifier.predict_spans(frames, starts, lengths, width=5),
                                   classifier.predict(span_batch(frames, starts, lengths, 5), lengths),
                                   rtol=0, atol=1e-6)
    assert config["format"] == "yt8m-classifier" and config["num_classes"] == C
    assert classifier.describe()["family"] == family


def test_model_dir_of_the_wrong_kind_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(InputError, match="no such model"):
        load_classifier(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError,
                       match=r"not a classifier.*classifier.json.*saved_model.pb.*It holds: nothing"):
        load_classifier(empty)
    train_dir = tmp_path / "train_dir"
    train_dir.mkdir()
    for name in ("checkpoint", "model.ckpt-100.meta", "model.ckpt-100.index"):
        (train_dir / name).write_text("x")
    with pytest.raises(InputError, match="TensorFlow checkpoint.*export it as a SavedModel"):
        load_classifier(train_dir)
    stray = tmp_path / "model.safetensors"
    stray.write_bytes(b"\0" * 16)
    with pytest.raises(InputError, match="takes a directory"):
        load_classifier(stray)
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tar at all")
    with pytest.raises(InputError, match="not a readable model archive"):
        load_classifier(broken)


def test_several_models_in_one_folder_must_be_chosen(tmp_path) -> None:
    save_native(build_model("logistic", num_classes=C), tmp_path / "a")
    save_native(build_model("moe", num_classes=C), tmp_path / "b")
    with pytest.raises(InputError, match="holds several models"):
        load_classifier(tmp_path)
    (tmp_path / "b" / CONFIG_FILE).unlink()
    (tmp_path / "b" / "model.safetensors").unlink()
    assert resolve_model(tmp_path) == ("native", tmp_path / "a")


def test_native_model_from_a_tar_gz(tmp_path) -> None:
    model = randomised("moe", {"num_mixtures": 2})
    save_native(model, tmp_path / "moe")
    archive = tmp_path / "moe.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "moe", arcname="export/moe")
    x, n = _inputs()
    with load_classifier(archive) as a, load_classifier(tmp_path / "moe") as b:
        np.testing.assert_array_equal(a.predict(x, n), b.predict(x, n))


def test_broken_native_models_name_what_is_wrong(tmp_path) -> None:
    d = save_native(build_model("dbof", num_classes=C, cluster_size=8, hidden_size=4), tmp_path / "dbof")
    config = json.loads((d / CONFIG_FILE).read_text())
    (d / CONFIG_FILE).write_text(json.dumps({**config, "cluster_size": 9}))
    mismatch = r"do not match the dbof config.*cluster_bn.beta has shape \(8,\), expected \(9,\)"
    with pytest.raises(WeightsError, match=mismatch):
        load_classifier(d)
    (d / CONFIG_FILE).write_text(json.dumps({**config, "family": "netvlad"}))
    with pytest.raises(WeightsError, match="Invalid model family .'netvlad'.. Supported values are logistic"):
        load_classifier(d)
    (d / CONFIG_FILE).write_text(json.dumps({**config, "pooling": "median"}))
    with pytest.raises(WeightsError, match="Invalid pooling"):
        load_classifier(d)
    (d / CONFIG_FILE).write_text(json.dumps(config))
    (d / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="model.safetensors: unreadable"):
        load_classifier(d)


def test_native_batches_are_checked() -> None:
    from yt8m.inference.classifiers import NativeClassifier

    classifier = NativeClassifier(build_model("logistic", num_classes=C))
    with pytest.raises(ValueError, match=r"must be \[batch, frames, 1152\]"):
        classifier.predict(np.zeros((2, 3, 1024), np.float32), [3, 3])
    with pytest.raises(ValueError, match=r"num_frames must be in \[1, 3\]"):
        classifier.predict(np.zeros((2, 3, 1152), np.float32), [3, 0])
    assert classifier.predict(np.zeros((0, 3, 1152), np.float32), []).shape == (0, C)


def test_savedmodel_without_tensorflow_says_how_to_get_it(tmp_path, monkeypatch) -> None:
    saved = tmp_path / "saved_model"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    fake = tmp_path / "site" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ModuleNotFoundError("No module named ' + "'tensorflow'" + '")\n')
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "site"))
    with pytest.raises(Yt8mError,
                       match="is a TensorFlow SavedModel, and .* has no TensorFlow.*YT8M_TF_PYTHON"):
        load_classifier(saved)
